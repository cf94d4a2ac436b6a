"""The course's top floor: ``generate``, ``train`` and ``evaluate`` in one call each — Chapter 6.

    from dalle_edu import generate
    images = generate(["a big red circle at the top left", "a blue circle"], seed=0)
    images.shape, images.dtype            # (2, 32, 32, 3) uint8

``generate`` uses the model shipped inside the package (trained by
``dalle-edu train --preset cpu``), so it needs no training and no network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "t2i_cpu"
DEFAULT_PROBE = WEIGHTS_DIR / "probe32.weights.h5"

_models: dict = {}


def load_model(weights=None):
    """The trained ``t2i.TextToImage`` in folder ``weights`` (default: the shipped one), cached."""
    from dalle_edu import t2i

    path = Path(weights) if weights is not None else DEFAULT_MODEL
    key = str(path.resolve())
    if key not in _models:
        _models[key] = t2i.TextToImage.load(path)
    return _models[key]


def generate(prompts, seed: int = 0, n_per_prompt: int = 1, weights=None) -> np.ndarray:
    """Free-text prompts -> uint8 images (N, S, S, 3). Same prompts and seed -> same images.

    Bad prompts raise ``ValueError`` saying what is wrong (an unknown word with the
    closest known ones, an empty or contradictory prompt); a missing, corrupt or
    mismatched weights folder raises ``dalle_edu.t2i.WeightsError`` (a ``ValueError``).
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if n_per_prompt < 1:
        raise ValueError(f"n_per_prompt must be >= 1, got {n_per_prompt}")
    return load_model(weights).generate(list(prompts), seed=seed, n_per_prompt=n_per_prompt)


def train(preset: str = "cpu", out_dir="runs/t2i", resume: bool = False, verbose: int = 1,
          **overrides):
    """Train the text-to-image GAN for a preset; the model is saved in ``out_dir``."""
    from dalle_edu import t2i

    config = t2i.T2IConfig.for_preset(preset, **overrides)
    model, _ = t2i.train(config, out_dir, resume=resume, verbose=verbose)
    return model


def load_probe(image_size: int = 32):
    """The attribute probe: the shipped one for 32x32, else trained now (about 30 s on a CPU)."""
    from dalle_edu import evaluation

    if image_size == 32 and DEFAULT_PROBE.is_file():
        model = evaluation.build_probe(32)
        model.load_weights(DEFAULT_PROBE)
        return evaluation.Probe(model)
    return evaluation.train_probe(size=image_size)


def evaluate(weights=None, n: int = 1_000, seed: int = 0) -> dict:
    """Caption fidelity (test and compositional), coverage, diversity and purity of a model."""
    from dalle_edu import t2i

    model = load_model(weights)
    return t2i.evaluate(model, load_probe(model.image_size), n=n, seed=seed)
