"""``T2IConfig``: everything that defines a text-to-image GAN run — Chapter 6.

The defaults are the shipped ``cpu`` run; each preset's changes live in one place,
``dalle_edu.presets.PRESETS[name].models["gan-labels"]`` (nanoGPT's one config per model).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class T2IConfig:
    """One run of the text-to-image GAN; ``T2IConfig.for_preset(name)`` sizes it for a preset."""

    # data
    image_size: int = 32
    n_train: int = 40_000  # captioned images drawn once from the train split
    # architecture
    latent_dim: int = 64
    width: int = 32  # G's last / D's first conv width; the others are 2x and 4x
    embed_dim: int = 32  # word-vector width of the text encoder
    # optimisation
    batch_size: int = 64
    steps: int = 8_000
    lr: float = 2e-4
    loss: str = "hinge"
    n_critic: int = 1  # D updates per G update (5 is usual for "wgan-gp")
    matching_aware: bool = True
    aux_weight: float = 1.0  # 0 turns the auxiliary classifier off
    gan_int: bool = False
    # MSGAN diversity term (Mao et al. 2019) on captions that leave something free; 0 = off.
    # Measured at 1.0: partial prompts then cover 9 of 9 positions, but draw noisy blobs.
    mode_seeking: float = 0.0
    ema: float = 0.995
    encoder_steps: int = 1_500
    seed: int = 0
    # speed: off until measured on a GPU (book: "Several devices, precision and XLA")
    precision: str = "float32"  # or "mixed_bfloat16" / "mixed_float16" (presets.check_precision)
    jit_compile: bool = False  # XLA

    @classmethod
    def from_dict(cls, d: dict) -> "T2IConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        return cls(**d)

    @classmethod
    def for_preset(cls, name: str | None = None, **overrides) -> "T2IConfig":
        """The config of preset ``name`` (default: the detected one) with ``overrides`` on top."""
        from dalle_edu import presets

        preset = presets.get(name) if name is not None else presets.current()
        return cls.from_dict({**preset.models["gan-labels"], **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
