"""The course's top floor: ``generate``, ``train`` and ``evaluate`` in one call each — Chapter 7.

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
DEFAULT_CLIP = WEIGHTS_DIR / "clip"

# name -> (one-line description, model class path, shipped weights folder)
_SHIPPED = {
    "gan": ("text-to-image GAN (Chapter 7) conditioned on the mini-CLIP's text embedding, "
            "trained on images and captions only, no labels", "dalle_edu.t2i:TextToImage",
            WEIGHTS_DIR / "gan_cpu"),
    "gan-labels": ("text-to-image GAN (Chapters 7 and 8) conditioned on attributes read by a "
                   "label-trained text encoder", "dalle_edu.t2i:TextToImage", WEIGHTS_DIR / "t2i_cpu"),
    "dalle": ("the real DALL·E, small (Chapters 11-12): a VQ-VAE image tokenizer and a causal "
              "transformer that writes its codes after the caption; no GAN, no labels",
              "dalle_edu.t2i:Dalle", WEIGHTS_DIR / "dalle_cpu"),
    "diffusion": ("diffusion, today's recipe small (Chapter 13): a U-Net denoising the image "
                  "tokenizer's latents, guided by the mini-CLIP's text tower; no GAN, no labels",
                  "dalle_edu.t2i:Diffusion", WEIGHTS_DIR / "diffusion_cpu"),
}
MODELS = {name: desc for name, (desc, _, _) in _SHIPPED.items()}
# The best label-free model by the pixel measures of Chapter 13's table of every family
# (book/benchmarks.md): "diffusion" reads test prompts and held-out colour-shape pairs
# right most often and is as varied as the renders in what a prompt leaves free.
DEFAULT_MODEL = "diffusion"

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


def training_minutes(model: str) -> float | None:
    """Minutes the shipped ``model`` trained, end to end, if its run recorded them (``training.json``)."""
    import json

    record = _SHIPPED[check_model_name(model)][2] / "training.json"
    if not record.is_file():
        return None
    d = json.loads(record.read_text())
    return (d["prepare_seconds"] + d["unet_seconds"]) / 60


def shipped_record(model: str, name: str) -> dict:
    """A measurement shipped with ``model`` ("clip" or a name from ``MODELS``), as a dict.

    Records are package data beside the weights, so a chapter reads them on Colab too:
    ``shipped_record("gan", "trajectory")`` is the shipped GAN's geometry check every 500
    training steps; ``shipped_record("clip", "text_encoders")`` compares its text towers.
    """
    import json

    folder = DEFAULT_CLIP if model == "clip" else _SHIPPED[check_model_name(model)][2]
    path = folder / f"{name}.json"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.json") if not p.stem.endswith("config"))
        raise ValueError(f"no record {name!r} ships with {model!r}; it has: {', '.join(have)}")
    return json.loads(path.read_text())


def load_model(model: str = DEFAULT_MODEL, weights=None):
    """The trained model ``model`` (a name from ``MODELS``), from ``weights`` or the shipped folder; cached."""
    name = check_model_name(model)
    path = Path(weights) if weights is not None else _SHIPPED[name][2]
    key = (name, str(path.resolve()))
    if key not in _models:
        _models[key] = _model_class(name).load(path)
    return _models[key]


def generate(prompts, seed: int = 0, n_per_prompt: int = 1, model: str = DEFAULT_MODEL,
             weights=None, rerank: int = 1, **sampling) -> np.ndarray:
    """Free-text prompts -> uint8 images (N * n_per_prompt, S, S, 3). Same prompts and seed -> same images.

    ``model`` names one of ``MODELS``; ``weights`` loads that kind of model from your own
    folder (``dalle-edu train --out``). Bad prompts raise ``ValueError`` saying what is
    wrong (an unknown word with the closest known ones, an empty or contradictory
    prompt); a missing, corrupt or mismatched weights folder raises
    ``dalle_edu.t2i.WeightsError`` (a ``ValueError``).

    ``rerank=K`` (DALL·E's last stage, Chapter 10): draw K candidates for each image and
    keep the one the shipped mini-CLIP scores highest; K times the drawing time.

    ``sampling``: the model's own sampling options, e.g. ``steps=10, guidance=3.0`` for
    ``"diffusion"``, ``temperature=0.8, top_k=4`` for ``"dalle"``.
    """
    from dalle_edu import text

    parsed = text.prompts(prompts)  # checks the prompts before any model is loaded
    check_model_name(model)
    allowed = _SAMPLING.get(model, ())
    unknown = sorted(set(sampling) - set(allowed))
    if unknown:
        raise ValueError(f"model {model!r} takes no sampling option {', '.join(unknown)}"
                         + (f"; its options: {', '.join(allowed)}" if allowed else ""))
    m = load_model(model, weights)
    if sampling:
        m = _Sampling(m, sampling)
    if rerank == 1 and not isinstance(rerank, bool):
        return m.generate(parsed, seed=seed, n_per_prompt=n_per_prompt)
    from dalle_edu import measures
    from dalle_edu.t2i.model import check_count, check_seed

    check_seed(seed)
    repeated = [p for p in parsed for _ in range(check_count(n_per_prompt, "n_per_prompt"))]
    return measures.rerank(m, load_clip(), repeated, rerank, seed=seed)


_SAMPLING = {"diffusion": ("steps", "guidance", "eta"), "dalle": ("temperature", "top_k")}


class _Sampling:
    """A model whose ``generate`` always passes the given sampling options (for ``rerank``)."""

    def __init__(self, model, options):
        self.model, self.options = model, options

    def generate(self, prompts, seed=0, n_per_prompt=1):
        return self.model.generate(prompts, seed=seed, n_per_prompt=n_per_prompt, **self.options)


def load_clip(weights=None):
    """The mini-CLIP (Chapter 9): the shipped one, or yours from ``weights``; cached."""
    from dalle_edu.clip import MiniCLIP

    path = Path(weights) if weights is not None else DEFAULT_CLIP
    key = ("clip", str(path.resolve()))
    if key not in _models:
        _models[key] = MiniCLIP.load(path)
    return _models[key]


def clip_score(images, prompts) -> np.ndarray:
    """CLIP score of each image against its prompt, read by the shipped mini-CLIP: (N,) float.

    ``100 * max(cos(image, prompt), 0)`` (Hessel et al. 2021). Renders of the prompt
    score about 90, an image of the wrong colour or shape about 55. Images uint8 or in
    [-1, 1], of the mini-CLIP's size (32); one prompt per image.
    """
    from dalle_edu import text

    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts: one prompt per image")
    parsed = text.prompts(prompts)
    return load_clip().score(np.asarray(images), parsed)


TRAINABLE = ("gan-labels", "gan", "dalle", "diffusion", "clip")


def train(preset: str | None = None, out_dir="runs/t2i", resume: bool = False, verbose: int = 1,
          model: str = "gan-labels", **overrides):
    """Train ``model`` (one of ``TRAINABLE``) for a preset (default: the detected one) into ``out_dir``.

    ``"gan"`` uses the shipped mini-CLIP's text tower at 32x32 (else it trains a
    mini-CLIP first); ``"dalle"`` trains an image tokenizer, then a token transformer;
    ``"diffusion"`` reads the shipped mini-CLIP's text tower and, at 32x32, the token
    model's shipped image tokenizer (at other sizes it trains one first); ``"clip"`` trains a mini-CLIP alone.
    """
    from dalle_edu import presets, t2i

    if model not in TRAINABLE:
        raise ValueError(f"cannot train {model!r}; trainable: {', '.join(TRAINABLE)}")
    if model == "clip":
        from dalle_edu import clip

        if resume:
            raise ValueError("a mini-CLIP trains in about a minute: run it again instead of --resume")
        config = clip.ClipConfig.for_preset(preset, **overrides)
        return clip.train_clip(config, out_dir, verbose=verbose)
    if model == "dalle":
        config = t2i.DalleConfig.for_preset(preset, **overrides)
        return t2i.train_dalle(config, out_dir, resume=resume, verbose=verbose)
    if model == "diffusion":  # the shipped mini-CLIP's text tower; the shipped tokenizer at 32x32
        config = t2i.DiffusionConfig.for_preset(preset, **overrides)
        shipped = _SHIPPED["dalle"][2] / "tokenizer"  # the token model's VQ-VAE
        tokenizer = shipped if config.space == "latent" and config.image_size == 32 and \
            not config.tokenizer and config.tokens_per_side == 8 and shipped.is_dir() else None
        return t2i.train_diffusion(config, out_dir, resume=resume, verbose=verbose,
                                   clip=DEFAULT_CLIP, tokenizer=tokenizer)
    config = t2i.T2IConfig.for_preset(preset, model=model, **overrides)
    shipped_clip = None
    if model == "gan" and config.image_size == 32 and \
            (presets.get(preset) if preset else presets.current()).name != "smoke":
        shipped_clip = DEFAULT_CLIP
    return t2i.train(config, out_dir, resume=resume, verbose=verbose, clip=shipped_clip)


def load_probe(image_size: int = 32):
    """The attribute probe: the shipped one for 32x32, else trained now (about 30 s on a CPU)."""
    from dalle_edu import probe

    if image_size == 32 and DEFAULT_PROBE.is_file():
        model = probe.build_probe(32)
        model.load_weights(DEFAULT_PROBE)
        return probe.Probe(model)
    return probe.train_probe(size=image_size)


def evaluate(model: str = DEFAULT_MODEL, weights=None, n: int = 1_000, seed: int = 0) -> dict:
    """Chapter 10's measures of a model, with the real-data floor: ``{"model": {...}, "real": {...}}``.

    Geometry check and probe fidelity (test prompts and held-out pairs), R-precision,
    CLIP score, FID and KID in the mini-CLIP's image space and in the probe's (``fid_probe``,
    ``kid_probe_x1000``), precision/recall, off-palette pixels, shape fit and within-prompt
    diversity (``dalle_edu.measures.measure``), for the model and for real renders of the
    same prompts. Chapter 8's probe table (partial captions, positions covered) is
    ``measures.evaluate_model(load_model(model, weights), load_probe())``.
    """
    from dalle_edu import measures

    m = load_model(model, weights)
    if m.image_size != 32:
        raise ValueError(f"the shipped mini-CLIP and probe read 32x32 images; this model draws "
                         f"{m.image_size}x{m.image_size}")
    clip, probe = load_clip(), load_probe(32)
    ref = measures.reference_features(clip, n, seed, probe=probe)
    return {"model": measures.measure(measures.from_model(m), clip, probe, n, seed, reference=ref),
            "real": measures.measure(measures.real(), clip, probe, n, seed, reference=ref)}
