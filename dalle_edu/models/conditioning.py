"""Conditioning blocks: how a label or a text vector steers G and D — Chapters 5 and 7.

Three ways to feed a condition ``y`` to the networks, each a few lines:

* **concatenation** (Mirza & Osindero 2014) — embed ``y`` to a vector ``e`` and
  concatenate it to the noise ``z`` in G, and to D's input as extra image channels
  (``e`` tiled over every pixel) or extra dense features.
* **projection discriminator** (Miyato & Koyama 2018) —
  ``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>``: the condition enters D only through
  an inner product with D's features, which matches the form of the optimal
  conditional discriminator (a log density ratio).
* **conditional normalisation** (FiLM, Perez et al. 2018; conditional BatchNorm,
  de Vries et al. 2017) — normalise features, then scale and shift them with
  ``gamma(e)``, ``beta(e)`` predicted from the condition.

A condition is either an integer label (``num_classes``) or a float vector such as a
sentence embedding (``cond_dim``). ``condition_input`` and ``embed_condition`` hide the
difference so the builders in ``mlp.py`` and ``dcgan.py`` treat both alike.
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = [
    "condition_input", "embed_condition", "check_condition_args", "SpatialTile",
    "FiLM", "ConditionalBatchNorm", "ProjectionHead",
]


def check_condition_args(num_classes, cond_dim) -> str | None:
    """``"label"``, ``"vector"`` or ``None``; giving both is an error."""
    if num_classes is not None and cond_dim is not None:
        raise ValueError(
            f"give either num_classes (integer labels) or cond_dim (a float condition "
            f"vector), not both; got num_classes={num_classes}, cond_dim={cond_dim}"
        )
    if num_classes is not None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        return "label"
    if cond_dim is not None:
        if int(cond_dim) < 1:
            raise ValueError(f"cond_dim must be >= 1, got {cond_dim}")
        return "vector"
    return None


def condition_input(num_classes=None, cond_dim=None, name="condition"):
    """A ``keras.Input`` for the condition: labels (B, 1) int32, or vectors (B, cond_dim).

    Label inputs also accept shape (B,): functional models add the missing axis.
    """
    kind = check_condition_args(num_classes, cond_dim)
    if kind == "label":
        return keras.Input(shape=(1,), dtype="int32", name=name)
    if kind == "vector":
        return keras.Input(shape=(int(cond_dim),), dtype="float32", name=name)
    raise ValueError("condition_input needs num_classes or cond_dim")


def embed_condition(cond, num_classes=None, cond_dim=None, embed_dim=32, name="cond_embed"):
    """Condition tensor -> (B, embed_dim) float vector.

    Labels go through a lookup table (``Embedding``); vectors through a ``Dense`` layer,
    so both become learned vectors of the same width.
    """
    kind = check_condition_args(num_classes, cond_dim)
    if kind == "label":
        e = layers.Embedding(int(num_classes), embed_dim, name=name)(cond)  # (B, 1, E)
        return layers.Flatten(name=name + "_flat")(e)  # (B, E)
    return layers.Dense(embed_dim, name=name)(cond)  # (B, E)


class SpatialTile(layers.Layer):
    """(B, E) -> (B, H, W, E): the same vector at every pixel, for channel concatenation."""

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)

    def call(self, e):
        e = ops.expand_dims(ops.expand_dims(e, 1), 1)  # (B, 1, 1, E)
        return ops.tile(e, [1, self.height, self.width, 1])  # (B, H, W, E)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


def _broadcast_to_features(v, rank):
    """(B, C) -> (B, 1, ..., 1, C) so it scales features of the given rank."""
    for _ in range(rank - 2):
        v = ops.expand_dims(v, 1)
    return v


class FiLM(layers.Layer):
    """Feature-wise linear modulation: ``x * (1 + gamma(e)) + beta(e)``.

    Called as ``FiLM()([x, e])`` with x (B, ..., C) and e (B, E). ``gamma`` starts at
    zero (zero-initialised Dense), so at initialisation FiLM is the identity and the
    condition's influence is learned rather than imposed.
    """

    def build(self, input_shape):
        x_shape, _ = input_shape
        channels = x_shape[-1]
        self.to_gamma = layers.Dense(channels, kernel_initializer="zeros", name="gamma")
        self.to_beta = layers.Dense(channels, kernel_initializer="zeros", name="beta")
        self.to_gamma.build(input_shape[1])
        self.to_beta.build(input_shape[1])

    def call(self, inputs):
        x, e = inputs
        rank = len(x.shape)
        gamma = _broadcast_to_features(self.to_gamma(e), rank)  # (B, 1, 1, C)
        beta = _broadcast_to_features(self.to_beta(e), rank)
        return x * (1.0 + gamma) + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]


class ConditionalBatchNorm(layers.Layer):
    """BatchNorm without its own affine part, followed by FiLM from the condition.

    ``ConditionalBatchNorm()([x, e], training=...)``: plain BatchNorm learns one gamma
    and beta per channel; here they are functions of the condition, so the same
    convolution weights can draw a different class or caption (Chapter 7).
    """

    def __init__(self, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        self.norm = layers.BatchNormalization(
            momentum=self.momentum, epsilon=self.epsilon, center=False, scale=False, name="bn"
        )
        self.norm.build(input_shape[0])
        self.film = FiLM(name="film")
        self.film.build(input_shape)

    def call(self, inputs, training=None):
        x, e = inputs
        return self.film([self.norm(x, training=training), e])

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


def spectral(layer, power_iterations: int = 1):
    """``layer`` with spectral normalisation (Miyato et al. 2018) — Chapter 3.

    Keras's ``SpectralNormalization`` divides the kernel by an estimate of its largest
    singular value, refined by ``power_iterations`` steps of power iteration per training
    call, so the layer's Lipschitz constant is about 1.
    """
    return layers.SpectralNormalization(layer, power_iterations=power_iterations,
                                        name=f"sn_{layer.name}")


class ProjectionHead(layers.Layer):
    """Projection discriminator output ``psi(phi) + <embed(y), phi>`` -> (B, 1) logits.

    Called as ``ProjectionHead(num_classes=10)([phi, y])`` with phi (B, F) D's
    features and y labels (B, 1) int, or ``ProjectionHead(cond_dim=64)`` with y (B, 64)
    vectors (then ``embed`` is a bias-free linear map).
    """

    def __init__(self, num_classes=None, cond_dim=None, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.kind = check_condition_args(num_classes, cond_dim)
        if self.kind is None:
            raise ValueError("ProjectionHead needs num_classes or cond_dim")
        self.num_classes, self.cond_dim = num_classes, cond_dim
        self.spectral_norm = bool(spectral_norm)

    def build(self, input_shape):
        features = input_shape[0][-1]
        sn = spectral if self.spectral_norm else (lambda layer: layer)
        self.psi = sn(layers.Dense(1, name="psi"))  # the unconditional "is it real" score
        self.psi.build(input_shape[0])
        if self.kind == "label":
            self.embed = sn(layers.Embedding(int(self.num_classes), features, name="embed"))
        else:
            self.embed = sn(layers.Dense(features, use_bias=False, name="embed"))
        self.embed.build(input_shape[1])

    def call(self, inputs, training=False):
        phi, y = inputs  # (B, F), (B, 1) or (B, cond_dim)
        kw = {"training": training} if self.spectral_norm else {}  # SN refines sigma when training
        e = self.embed(y, **kw)
        if self.kind == "label":
            e = ops.reshape(e, (-1, phi.shape[-1]))  # (B, 1, F) -> (B, F)
        inner = ops.sum(e * phi, axis=-1, keepdims=True)  # (B, 1)
        return self.psi(phi, **kw) + inner

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "cond_dim": self.cond_dim,
                "spectral_norm": self.spectral_norm}
