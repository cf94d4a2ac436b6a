"""dalle_edu — an open course from the GAN loss on paper to a text-to-image model.

Submodules are imported lazily, so ``import dalle_edu`` (and the numpy-only data
and text modules) stay fast and never pull in TensorFlow until a chapter needs it.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "presets": "dalle_edu.presets",
    "losses": "dalle_edu.losses",
    "exercises": "dalle_edu.exercises",
    "images": "dalle_edu.images",
    "text": "dalle_edu.text",
    "data": "dalle_edu.data",
    "metrics": "dalle_edu.metrics",
    "geometry": "dalle_edu.geometry",
    "probe": "dalle_edu.probe",
    "clip": "dalle_edu.clip",
    "measures": "dalle_edu.measures",
    "pipeline": "dalle_edu.pipeline",
    "viz": "dalle_edu.viz",
    "widgets": "dalle_edu.widgets",
    "models": "dalle_edu.models",
    "gan": "dalle_edu.gan",
    "checkpoint": "dalle_edu.checkpoint",
    "callbacks": "dalle_edu.callbacks",
    "GAN": "dalle_edu.gan",
    "t2i": "dalle_edu.t2i",
    "api": "dalle_edu.api",
    "generate": "dalle_edu.api",
    "MODELS": "dalle_edu.api",
    "clip_score": "dalle_edu.api",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'dalle_edu' has no attribute {name!r}")
    module = import_module(_LAZY[name])
    value = module if _LAZY[name].endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
