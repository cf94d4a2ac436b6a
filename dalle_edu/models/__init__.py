"""Generators, discriminators and conditioning blocks — Chapters 1-6.

* ``mlp``: tiny Dense G/D for toy densities;
* ``dcgan``: convolutional G/D for 32x32 and 64x64 images;
* ``conditioning``: concatenation, projection discriminator, FiLM / conditional BatchNorm.

Every builder returns a functional ``keras.Model`` called as ``G(z)`` / ``D(x)``, or
``G([z, y])`` / ``D([x, y])`` when conditional — the convention ``dalle_edu.GAN`` uses.
"""

from .conditioning import (
    ConditionalBatchNorm, FiLM, ProjectionHead, SpatialTile, condition_input, embed_condition,
    spectral,
)
from .dcgan import dcgan_discriminator, dcgan_generator
from .mlp import mlp_discriminator, mlp_generator

__all__ = [
    "mlp_generator", "mlp_discriminator", "dcgan_generator", "dcgan_discriminator",
    "ConditionalBatchNorm", "FiLM", "ProjectionHead", "SpatialTile", "condition_input",
    "embed_condition", "spectral",
]
