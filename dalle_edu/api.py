"""The course's top floor: ``generate``, ``train`` and ``evaluate`` in one call each — Chapter 6.

    from dalle_edu import generate, MODELS
    images = generate(["a big red circle at the top left", "a blue circle"], seed=0)
    images.shape, images.dtype            # (2, 32, 32, 3) uint8
    MODELS                                # name -> what it is; generate(..., model=name)

The models are shipped inside the package (trained by ``dalle-edu train --preset cpu``),
so ``generate`` needs no training and no network. Every model answers the same
interface: ``generate(prompts, seed=0, n_per_prompt=1) -> uint8 (N, S, S, 3)``,
``save(folder)`` and ``load(folder)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_PROBE = WEIGHTS_DIR / "probe32.weights.h5"

# name -> (one-line description, model class path, shipped weights folder)
_SHIPPED = {
    "gan-labels": ("text-to-image GAN (Chapter 6) conditioned on attributes read by a "
                   "label-trained text encoder", "dalle_edu.t2i:TextToImage", WEIGHTS_DIR / "t2i_cpu"),
}
MODELS = {name: desc for name, (desc, _, _) in _SHIPPED.items()}
DEFAULT_MODEL = "gan-labels"

_models: dict = {}


def _model_class(name):
    from importlib import import_module

    module, cls = _SHIPPED[name][1].split(":")
    return getattr(import_module(module), cls)


def check_model_name(name: str) -> str:
    """A shipped model's name; anything else is a ``ValueError`` listing ``MODELS``."""
    if name not in _SHIPPED:
        listing = "; ".join(f"{k!r}: {v}" for k, v in MODELS.items())
        raise ValueError(f"unknown model {name!r}; the shipped models are {listing}")
    return name


def load_model(model: str = DEFAULT_MODEL, weights=None):
    """The trained model ``model`` (a name from ``MODELS``), from ``weights`` or the shipped folder; cached."""
    name = check_model_name(model)
    path = Path(weights) if weights is not None else _SHIPPED[name][2]
    key = (name, str(path.resolve()))
    if key not in _models:
        _models[key] = _model_class(name).load(path)
    return _models[key]


def generate(prompts, seed: int = 0, n_per_prompt: int = 1, model: str = DEFAULT_MODEL,
             weights=None) -> np.ndarray:
    """Free-text prompts -> uint8 images (N * n_per_prompt, S, S, 3). Same prompts and seed -> same images.

    ``model`` names one of ``MODELS``; ``weights`` loads that kind of model from your own
    folder (``dalle-edu train --out``). Bad prompts raise ``ValueError`` saying what is
    wrong (an unknown word with the closest known ones, an empty or contradictory
    prompt); a missing, corrupt or mismatched weights folder raises
    ``dalle_edu.t2i.WeightsError`` (a ``ValueError``).
    """
    from dalle_edu import text

    parsed = text.prompts(prompts)  # checks the prompts before any model is loaded
    return load_model(model, weights).generate(parsed, seed=seed, n_per_prompt=n_per_prompt)


def train(preset: str | None = None, out_dir="runs/t2i", resume: bool = False, verbose: int = 1,
          **overrides):
    """Train the text-to-image GAN for a preset (default: the detected one); saved in ``out_dir``."""
    from dalle_edu import t2i

    config = t2i.T2IConfig.for_preset(preset, **overrides)
    return t2i.train(config, out_dir, resume=resume, verbose=verbose)


def load_probe(image_size: int = 32):
    """The attribute probe: the shipped one for 32x32, else trained now (about 30 s on a CPU)."""
    from dalle_edu import evaluation

    if image_size == 32 and DEFAULT_PROBE.is_file():
        model = evaluation.build_probe(32)
        model.load_weights(DEFAULT_PROBE)
        return evaluation.Probe(model)
    return evaluation.train_probe(size=image_size)


def evaluate(model: str = DEFAULT_MODEL, weights=None, n: int = 1_000, seed: int = 0) -> dict:
    """Caption fidelity (test and compositional), coverage, diversity and purity of a model."""
    from dalle_edu import evaluation

    m = load_model(model, weights)
    return evaluation.evaluate_model(m, load_probe(m.image_size), n=n, seed=seed)
