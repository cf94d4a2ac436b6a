"""The benchmarks' own knobs: tried in the ablations, taught by no chapter, set by no preset.

``T2IConfig`` holds the package's recipes. ``ExperimentConfig`` adds the knobs the
benchmarks still try — spectral norm on D, TTUR (D's own rate), a step schedule and
XLA — and ``build_experimental_gan`` hands them to ``t2i.build_gan``::

    config = ExperimentConfig.for_preset("cpu", spectral_norm=True, d_lr=4e-4)
    gan = build_experimental_gan(config)
    model = t2i.TextToImage(plain_config(config), encoder, gan.ema_generator)  # a T2IConfig
"""

from __future__ import annotations

import dataclasses

import keras

from dalle_edu import t2i
from dalle_edu.configs import field


@dataclasses.dataclass
class ExperimentConfig(t2i.T2IConfig):
    """``T2IConfig`` plus the knobs the benchmarks try (book: benchmarks, "Sharper pictures")."""

    spectral_norm: bool = False  # D's weights divided by their largest singular value (SNGAN)
    d_lr: float | None = field(None, gt=0)  # TTUR (Heusel et al. 2017): D's rate; None = lr
    # step schedule: G's rate is lr until its update lr_drop_at (0 = never), then
    # lr * lr_drop; D's drops at the same point (its update lr_drop_at * n_critic). A step,
    # not a share of the steps: a run resumed for more steps continues exactly.
    lr_drop_at: int = field(0, ge=0)
    lr_drop: float = field(0.25, gt=0, le=1)
    jit_compile: bool = False  # XLA; honoured with op determinism off (device.set_seed)


def plain_config(config: ExperimentConfig) -> t2i.T2IConfig:
    """The plain ``T2IConfig`` inside ``config``: what a saved ``TextToImage`` keeps."""
    return t2i.T2IConfig(**{f.name: getattr(config, f.name)
                            for f in dataclasses.fields(t2i.T2IConfig)})


def build_experimental_gan(config: ExperimentConfig):
    """``t2i.build_gan`` with ``config``'s D (spectral norm or not), rates and XLA."""
    c = config

    def adam(lr, per_step):  # SNGAN's betas; an optimizer counts its own updates
        if c.lr_drop_at:  # Keras keeps the first value while update <= boundary
            lr = keras.optimizers.schedules.PiecewiseConstantDecay(
                [c.lr_drop_at * per_step - 1], [lr, lr * c.lr_drop])
        return keras.optimizers.Adam(lr, beta_1=0.0, beta_2=0.9)

    D = t2i.build_discriminator(c, spectral_norm=c.spectral_norm)
    return t2i.build_gan(c, D=D, g_optimizer=adam(c.lr, 1),
                         d_optimizer=adam(c.d_lr or c.lr, c.n_critic), jit_compile=c.jit_compile)
