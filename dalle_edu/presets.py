"""Run sizes and recipes — the Setup and Hyperparameters cells of every notebook.

Three presets size every notebook and command:

* ``smoke`` — CI: tiny, seconds per notebook; checks that the code runs, not that it learns.
* ``cpu``   — a laptop with no GPU: minutes, real pictures.
* ``gpu``   — Colab or any CUDA GPU: full size (64x64 shapes, longer training).

The preset comes from the ``DALLE_EDU_PRESET`` environment variable, else from the
hardware (a visible GPU -> ``gpu``, otherwise ``cpu``). Every run size lives here, in
``CHAPTERS`` (each chapter's sizes) and ``MODELS`` (each model's config), and each
notebook's Hyperparameters cell reads its chapter's::

    P = presets.current()
    H = P.chapter("06")      # H.STEPS, H.EVAL_N, ... for this preset
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

ENV_VAR = "DALLE_EDU_PRESET"
NAMES = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Preset:
    """A named run size: shared sizes as fields, a chapter's from ``chapter``, a model's from ``models``."""

    name: str
    image_size: int  # side of the shapes-world canvas (book/shapes_world.md: 32, or 64 on gpu)
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

    def chapter(self, key: str) -> "Sizes":
        """This preset's sizes for a chapter (``"06"``): ``H = P.chapter("06"); H.STEPS``."""
        if key not in CHAPTERS:
            raise ValueError(f"no sizes for chapter {key!r}; chapters with sizes: {', '.join(CHAPTERS)}")
        return Sizes(key, {k: v[NAMES.index(self.name)] for k, v in CHAPTERS[key].items()})

    @property
    def models(self) -> dict:
        """Model name -> this preset's config overrides (read by e.g. ``T2IConfig.for_preset``)."""
        return {m: dict(per_preset[self.name]) for m, per_preset in MODELS.items()}


class Sizes:
    """A chapter's sizes for one preset; a misspelt name is an error that lists the real ones."""

    def __init__(self, chapter: str, values: dict):
        self._chapter, self._values = chapter, dict(values)

    def __getattr__(self, name):
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"chapter {self.__dict__.get('_chapter')} has no size {name!r}; "
                             f"its sizes are: {', '.join(values)}")

    def as_dict(self) -> dict:
        return dict(self._values)

    def __repr__(self):
        return f"Sizes(chapter={self._chapter!r}, " + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


# --- the one home of run sizes ----------------------------------------------------------
# chapter -> size name -> (smoke, cpu, gpu). Comments say what a longer run buys.
# Each notebook's Hyperparameters cell reads its row: ``H = P.chapter("06"); H.STEPS``.
# Committed notebook outputs are cpu runs of these values: change a cpu value, re-run
# that notebook (``dalle-edu notebooks --preset cpu --only NN --inplace``).
CHAPTERS: dict[str, dict[str, tuple]] = {
    "01": {  # the GAN objective: only the trained discriminator of Results is sized
        "N_SAMPLES": (4_000, 100_000, 400_000),  # per distribution
        "HIDDEN": (16, 64, 64),  # width of the MLP discriminator's two hidden layers
        "D_STEPS": (150, 8_000, 20_000),  # use 20_000 for a near-exact match
        "BATCH_SIZE": (256, 1_024, 2_048),
    },
    "02": {  # a GAN on toy data: the training step and mode collapse
        "N_DATA": (4_096, 64_000, 256_000),  # training samples drawn once per density
        "N_EVAL": (500, 2_000, 5_000),  # generated samples per snapshot / metric
        "STEPS_1D": (60, 3_000, 10_000),  # use 10_000 for a closer fit
        "SNAP_EVERY_1D": (20, 50, 100),  # steps between snapshots
        "D_ONLY_STEPS": (20, 1_500, 5_000),  # then: G frozen, D trained alone
        "STEPS_2D": (40, 3_000, 10_000),
        "SNAP_EVERY_2D": (20, 250, 500),
        "SEEDS": ((0,), (0, 1, 2), (0, 1, 2, 3, 4)),  # collapse depends on the seed
        "HAND_STEPS": (10, 200, 500),  # hand-written train step vs GAN.fit
    },
    "03": {  # the Wasserstein view: W1, the critic, WGAN-GP on the ring
        "N_DATA": (4_096, 64_000, 256_000),  # ring samples drawn once per run
        "N_EVAL": (500, 2_000, 5_000),  # generated samples per snapshot / metric
        "CRITIC_STEPS": (20, 1_000, 2_000),  # 1-D gradient-penalty critic estimating W1
        "STEPS_2D": (40, 6_000, 20_000),  # G steps of each WGAN-GP run on the ring
        "SNAP_EVERY_2D": (20, 1_000, 2_000),
        "SEEDS": ((0,), (0, 1, 2), (0, 1, 2, 3, 4)),
        # the paper's own toy networks (3 x 512): about 0.15 s a G step on 2 cores; the
        # paper trains 100_000
        "PAPER_STEPS": (20, 2_000, 20_000),
        "PAPER_SEEDS": ((0,), (0,), (0, 1, 2)),
    },
    "04": {  # DCGAN on digits
        "SOURCE": ("offline", "offline", "mnist"),  # "mnist": 70k sharp 28x28 digits (needs a network)
        "BATCH_SIZE": (32, 64, 128),
        "WIDTH": (8, 32, 64),  # channels of D's first block (and of G's last); the paper used 128
        # cpu: 50 x 22 = 1,100 steps; 100+ epochs clean up strokes (the blur is the data's)
        "EPOCHS": (2, 50, 20),
        "STEPS_PER_EPOCH": (4, None, None),  # None: one pass over the training set
        "GRID_EVERY": (1, 5, 2),  # epochs between sample grids (the GIF's frames)
        "CKPT_EVERY": (4, 66, 1_000),  # training steps between checkpoints
    },
    "05": {  # a label-conditional GAN
        "SOURCE": ("offline", "offline", "mnist"),  # "mnist": 60k sharp 28x28 digits
        "BATCH_SIZE": (32, 64, 128),
        "WIDTH": (8, 32, 64),  # channels of D's first block (and G's last)
        "EPOCHS": (2, 25, 20),  # cpu: 25 x 22 = 550 steps; use 75 epochs for sharper digits
        "STEPS_PER_EPOCH": (4, None, None),  # None: one pass over the training set
        "CLASSIFIER_EPOCHS": (1, 10, 3),
        "N_EVAL": (200, 1_000, 10_000),  # generated samples per variant, equal per class
    },
    "06": {  # from words to vectors
        "N_TRAIN": (2_000, 20_000, 50_000),  # training captions (a quarter of them partial)
        "N_EVAL": (400, 2_000, 5_000),  # captions per evaluation split
        "STEPS": (60, 1_500, 4_000),  # per encoder on the attribute task
        "BIND_STEPS": (60, 1_500, 3_000),  # per encoder on the two-shape binding task
    },
    "07": {  # text to image, label-free; the model's own config is MODELS["gan"] below
        "STEPS": (30, 2_000, 20_000),  # your own run; 4_000 (the preset's) for cleaner edges
        # the geometry check every N x 500 steps while training (0: only at the end)
        "EVAL_EVERY": (1, 1, 4),
        "EVAL_N": (32, 1_000, 2_000),  # prompts per split for the geometry check and the probe
    },
    "08": {  # the shipped text-to-image model, used and judged (nothing is trained)
        "EVAL_N": (32, 1_000, 2_000),  # prompts per split for caption fidelity
        "N_FAIL": (32, 512, 1_024),  # samples for the failure hunt
    },
    "09": {  # text learned from pictures: the mini-CLIP (its config is MODELS["clip"])
        # renders per split for R-precision and zero-shot reading; R-precision draws 99
        # distractors of *another* meaning, so n must exceed 99 + the repeats of a meaning
        # (at 100 it always fails)
        "EVAL_N": (200, 1_000, 2_000),
    },
    "10": {  # measuring a text-to-image model (the shipped models; nothing is trained)
        # prompts per split for every measure (R-precision: more than 100, as in "09")
        "EVAL_N": (200, 1_000, 2_000),
        "BIAS_N": ((64, 256), (64, 256, 1_024, 4_096), (64, 256, 1_024, 4_096)),  # FID vs N
        "RERANK_N": (100, 500, 1_000),  # prompts for the reranking curve
        "RERANK_K": ((1, 2), (1, 4, 16), (1, 4, 16)),  # candidates per prompt
    },
    "11": {  # DALL·E's stage 1, the image tokenizer; its config is MODELS["dalle"] below
        "EVAL_N": (200, 1_000, 2_000),  # test renders through the tokenizer
    },
    "12": {  # DALL·E's stage 2 and 3: the transformer, sampling, reranking (MODELS["dalle"])
        # prompts per split for the held-out pairs and Results (Chapter 10's measures: >= 200)
        "EVAL_N": (200, 1_000, 2_000),
        # the geometry check while training: prompts per split, every N x 500 steps
        "LOG_N": (16, 200, 300),
        "LOG_EVERY": (1, 1, 2),
        "RERANK_N": (16, 200, 500),  # prompts per split for the reranking curve
        "RERANK_K": ((1, 2), (1, 4, 16), (1, 4, 16)),  # candidates per prompt
    },
    "13": {  # diffusion; the shipped model's own config is MODELS["diffusion"] below
        # the chapter's own latent run (steps); the pixel and cross-attention runs get its minutes
        "STEPS": (20, 1_500, 5_000),
        "LOG_N": (16, 200, 300),  # prompts per split, geometry check of each run
        "CURVE_N": (16, 300, 500),  # prompts per split, guidance and sampling-steps curves
        "GUIDANCE": ((1.0, 3.0), (0.0, 1.0, 2.0, 3.0, 5.0, 8.0), (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)),
        "SAMPLE_STEPS": ((2, 4), (2, 5, 10, 25, 50), (2, 5, 10, 25, 50)),
        "EVAL_N": (200, 1_000, 2_000),  # prompts per split, the table of every family
    },
}

# model name -> preset -> config overrides on the model's defaults (its config class).
MODELS = {
    "gan-labels": {  # dalle_edu.t2i.T2IConfig with full-resolution layers at both ends, in
        # every preset so smoke runs the same network. cpu: the fastest measured way to the
        # targets on 2 cores (book: benchmarks, "The learning rate"): width 32, batch 32 at
        # 4x DCGAN's learning rate. The shipped weights are width 40, batch 64, lr 2e-4,
        # 16,000 steps (their config.json). gpu keeps lr 2e-4 at batch 128: not measured on a GPU
        "smoke": dict(n_train=1_024, steps=30, encoder_steps=100, width=16, batch_size=32,
                      final_conv=True, d_stem=True),
        "cpu": dict(final_conv=True, d_stem=True, width=32, batch_size=32, steps=5_000,
                    lr=8e-4),
        "gpu": dict(image_size=64, width=64, batch_size=128, steps=20_000, n_train=100_000,
                    ema=0.999, final_conv=True, d_stem=True),
    },
    "gan": {  # T2IConfig of the label-free GAN (Chapter 7): the mini-CLIP's text, no labels
        "smoke": dict(text_encoder="clip", aux_weight=0.0, contrastive_weight=1.0,
                      n_train=1_024, steps=30, width=16, batch_size=32,
                      clip=dict(n_train=512, steps=8, batch_size=64, width=8, word_dim=16)),
        # cpu: 4x DCGAN's learning rate, as "gan-labels" (book: benchmarks, "The learning
        # rate"). The shipped "gan" is lr 2e-4 for 8,000 steps: --set lr=2e-4 steps=8000
        "cpu": dict(text_encoder="clip", aux_weight=0.0, contrastive_weight=1.0, lr=8e-4,
                    steps=4_000),
        "gpu": dict(text_encoder="clip", aux_weight=0.0, contrastive_weight=1.0,
                    image_size=64, width=64, batch_size=128, steps=20_000, n_train=100_000,
                    ema=0.999),
    },
    "dalle": {  # dalle_edu.t2i.DalleConfig (Chapters 11-12); the defaults are the shipped cpu run
        "smoke": dict(n_train=512, steps=20, width=32, depth=1, heads=2, batch_size=16,
                      warmup=0, tokenizer=dict(n_train=512, steps=10, codebook_size=32, width=8)),
        "cpu": dict(),
        "gpu": dict(image_size=64, tokens_per_side=16, n_train=100_000, steps=10_000,
                    width=256, depth=6, heads=8, batch_size=64,
                    tokenizer=dict(steps=4_000, n_train=40_000, batch_size=64)),
    },
    "diffusion": {  # dalle_edu.t2i.DiffusionConfig (Chapter 13); the defaults are the shipped
        # cpu run: latent diffusion on the shipped tokenizer's 8x8x32 latents, 8,000 steps
        "smoke": dict(n_train=512, steps=20, width=16, batch_size=16, warmup=0, sample_steps=4),
        "cpu": dict(),
        "gpu": dict(image_size=64, tokens_per_side=16, n_train=100_000, steps=20_000, width=128,
                    batch_size=128, tokenizer=dict(steps=4_000, n_train=40_000, batch_size=64)),
    },
    "clip": {  # dalle_edu.clip.ClipConfig; the defaults are the shipped cpu run
        "smoke": dict(n_train=1_024, steps=16, batch_size=64, width=8, word_dim=16),
        "cpu": dict(),
        "gpu": dict(image_size=64, n_train=100_000, steps=4_000),
    },
}


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


def detect() -> str:
    """The preset name from ``DALLE_EDU_PRESET``, else ``gpu`` when a GPU is visible, else ``cpu``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return get(env).name  # validates the name
    from dalle_edu.device import gpu_available

    return "gpu" if gpu_available() else "cpu"


def current() -> Preset:
    """The preset this run uses (see ``detect``)."""
    return get(detect())


def describe(preset: Preset | None = None) -> str:
    """One line for a notebook's Setup cell: which preset runs and why."""
    p = preset or current()
    source = f"from ${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "detected"
    return f"preset: {p.name} ({source}) — {p.description}"
