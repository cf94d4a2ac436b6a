"""Multi-layer-perceptron G and D for toy data (1-D and 2-D densities, tiny images) — Chapters 1-3.

The smallest GAN that still teaches everything: a few Dense layers, trained in
seconds on a 2-D mixture of Gaussians, where you can *see* mode collapse.

    G: z (B, latent) [+ e (B, E)] -> Dense(h) x n -> (B, *data_shape)
    D: x (B, *data_shape) -> flatten [+ e] -> Dense(h) x n -> (B, 1) logit

Call conventions as in ``dcgan.py``: ``G(z)`` / ``D(x)``, or ``G([z, y])`` /
``D([x, y])`` when ``num_classes`` or ``cond_dim`` is given (conditioning by concatenation).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from .conditioning import check_condition_args, condition_input, embed_condition

__all__ = ["mlp_generator", "mlp_discriminator"]


def _shape(data_shape):
    shape = (int(data_shape),) if isinstance(data_shape, int) else tuple(int(s) for s in data_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"data_shape must be a positive int or tuple of them, got {data_shape!r}")
    return shape


def mlp_generator(latent_dim=8, data_shape=2, hidden=(128, 128), num_classes=None, cond_dim=None,
                  embed_dim=16, output_activation=None, name="mlp_generator"):
    """Noise (and condition) -> samples of ``data_shape`` (an int for vectors, a tuple for images).

    ``output_activation=None`` suits toy densities (any real value); use ``"tanh"``
    for images in [-1, 1].
    """
    shape = _shape(data_shape)
    kind = check_condition_args(num_classes, cond_dim)
    z = keras.Input(shape=(latent_dim,), name="z")  # (B, latent)
    inputs, h = [z], z
    if kind:
        y = condition_input(num_classes, cond_dim)
        inputs.append(y)
        e = embed_condition(y, num_classes, cond_dim, embed_dim, name="g_cond_embed")  # (B, E)
        h = layers.Concatenate(name="z_and_cond")([z, e])  # (B, latent + E)
    for i, units in enumerate(hidden):
        h = layers.Dense(units, activation="relu", name=f"hidden_{i}")(h)  # (B, units)
    h = layers.Dense(math.prod(shape), activation=output_activation, name="out")(h)
    out = layers.Reshape(shape, name="to_data")(h) if len(shape) > 1 else h  # (B, *shape)
    return keras.Model(inputs if kind else z, out, name=name)


def mlp_discriminator(data_shape=2, hidden=(128, 128), num_classes=None, cond_dim=None,
                      embed_dim=16, name="mlp_discriminator"):
    """Samples (and condition) -> (B, 1) logit. LeakyReLU, no normalisation (safe for WGAN-GP)."""
    shape = _shape(data_shape)
    kind = check_condition_args(num_classes, cond_dim)
    x = keras.Input(shape=shape, name="x")  # (B, *shape)
    inputs = [x]
    h = layers.Flatten(name="flatten")(x) if len(shape) > 1 else x  # (B, prod(shape))
    if kind:
        y = condition_input(num_classes, cond_dim)
        inputs.append(y)
        e = embed_condition(y, num_classes, cond_dim, embed_dim, name="d_cond_embed")  # (B, E)
        h = layers.Concatenate(name="x_and_cond")([h, e])
    for i, units in enumerate(hidden):
        h = layers.Dense(units, name=f"hidden_{i}")(h)
        h = layers.LeakyReLU(0.2)(h)
    out = layers.Dense(1, name="logit")(h)  # (B, 1)
    return keras.Model(inputs if kind else x, out, name=name)
