"""Run sizes, device detection and seeding — Chapter 0 (Setup) of every notebook.

Three presets size every notebook and command:

* ``smoke`` — CI: tiny, seconds per notebook; checks that the code runs, not that it learns.
* ``cpu``   — a laptop with no GPU: minutes, real pictures.
* ``gpu``   — Colab or any CUDA GPU: full size (64x64 shapes, longer training).

The preset comes from the ``DALLE_EDU_PRESET`` environment variable, else from the
hardware (a visible GPU -> ``gpu``, otherwise ``cpu``). Each notebook's
Hyperparameters cell reads its sizes from the preset in one place::

    P = presets.current()
    STEPS = P.pick(smoke=50, cpu=3_000, gpu=20_000)   # use 20_000 for sharp results
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

ENV_VAR = "DALLE_EDU_PRESET"
NAMES = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Preset:
    """A named run size. Shared sizes are fields; chapter-specific ones come from ``pick``."""

    name: str
    image_size: int  # side of the shapes-world canvas (SHAPES_WORLD.md: 32, or 64 on gpu)
    batch_size: int
    description: str = field(default="", compare=False)

    def pick(self, **choices):
        """Return the value for this preset: ``P.pick(smoke=2, cpu=20, gpu=100)``.

        Every preset must be given, so a notebook cannot silently miss one.
        """
        unknown = sorted(set(choices) - set(NAMES))
        missing = [n for n in NAMES if n not in choices]
        if unknown or missing:
            raise ValueError(
                f"pick() needs exactly the presets {', '.join(NAMES)}; "
                + (f"unknown: {', '.join(unknown)}; " if unknown else "")
                + (f"missing: {', '.join(missing)}" if missing else "")
            )
        return choices[self.name]

    @property
    def is_smoke(self) -> bool:
        return self.name == "smoke"


PRESETS = {
    "smoke": Preset("smoke", image_size=32, batch_size=32,
                    description="CI: tiny sizes, seconds per notebook; checks the code runs"),
    "cpu": Preset("cpu", image_size=32, batch_size=64,
                  description="a laptop without a GPU: minutes per notebook, real results"),
    "gpu": Preset("gpu", image_size=64, batch_size=128,
                  description="Colab or any CUDA GPU: full size"),
}


def get(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises ``ValueError`` listing the valid ones."""
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise ValueError(
            f"unknown preset {name!r}; valid presets are: {', '.join(NAMES)} "
            f"(set {ENV_VAR} to one of them, or leave it unset to detect the hardware)"
        )
    return PRESETS[key]


def gpu_available() -> bool:
    """True when TensorFlow sees a GPU. Imports TensorFlow, so it is only called when needed."""
    try:
        import tensorflow as tf
    except ImportError:  # the numpy-only parts of the course work without TF
        return False
    return bool(tf.config.list_physical_devices("GPU"))


def detect() -> str:
    """The preset name from ``DALLE_EDU_PRESET``, else ``gpu`` when a GPU is visible, else ``cpu``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return get(env).name  # validates the name
    return "gpu" if gpu_available() else "cpu"


def current() -> Preset:
    """The preset this run uses (see ``detect``)."""
    return get(detect())


def set_seed(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow/Keras, and (optionally) make TF ops deterministic.

    Op determinism makes a CPU run repeat bit for bit (the exact-resume test relies on
    it); on a GPU it can cost speed, so long GPU runs may pass ``deterministic=False``.
    """
    random.seed(seed)
    import numpy as np

    np.random.seed(seed)
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        return
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def describe(preset: Preset | None = None) -> str:
    """One line for a notebook's Setup cell: which preset runs and why."""
    p = preset or current()
    source = f"from ${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "detected"
    return f"preset: {p.name} ({source}) — {p.description}"
