"""A small U-Net that predicts v from (x_t, t, caption) — Chapter 13's denoiser.

Ho et al.'s (2020) network, small: residual blocks with GroupNorm, a time embedding
added to every block, one stride-2 step down and up again with skip connections, and
self-attention at the lowest resolution. The caption comes in two ways (``text``):

* ``"film"`` — the caption's pooled embedding (the mini-CLIP's text vector, (B, E)) is
  added to the time embedding, and every residual block reads that sum as a per-channel
  scale and shift (FiLM; "adaptive GroupNorm" in Dhariwal & Nichol 2021).
* ``"cross"`` — the same, plus cross-attention after every residual block: each pixel's
  features (queries) attend over the caption's word vectors (keys and values, (B, L, W)),
  as in Imagen and Stable Diffusion. A learned "null word" is always present, so a
  caption dropped for guidance (every word masked) still has something to attend to.

Shapes for the cpu preset's latents (8x8x32 from the image tokenizer's encoder),
``widths=(40, 80)``, ``blocks=1`` (1.09 M weights)::

    x_t (B, 8, 8, 32) -> conv -> (B, 8, 8, 40) -> res x n -> down -> (B, 4, 4, 80) -> res x n
        -> mid: res, self-attention, res (B, 4, 4, 80)
        -> up: res x (n + 1) with skips -> (B, 8, 8, 80) -> res x (n + 1) -> (B, 8, 8, 40)
        -> GroupNorm, SiLU, conv (zero-initialised) -> v (B, 8, 8, 32)
    t (B,) -> sinusoidal (B, 40) -> MLP (B, 160);  caption (B, 64) -> Dense (B, 160), added

For pixels (32x32x3) the same network with ``widths=(24, 48, 96)`` steps down twice.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

__all__ = ["TEXT_KINDS", "timestep_embedding", "ResBlock", "CrossAttention", "SelfAttention",
           "build_unet"]

TEXT_KINDS = ("film", "cross")


def timestep_embedding(t, dim: int, max_period: float = 10_000.0):
    """Steps (B,) -> (B, dim): sin and cos of t at dim / 2 frequencies (the transformer's positions)."""
    half = dim // 2
    freqs = ops.exp(-math.log(max_period) * ops.arange(half, dtype="float32") / half)  # (dim/2,)
    args = ops.cast(t, "float32")[:, None] * freqs[None, :]  # (B, dim/2)
    return ops.concatenate([ops.sin(args), ops.cos(args)], axis=-1)


def _groups(channels: int) -> int:
    return math.gcd(8, channels)


class ResBlock(layers.Layer):
    """h + conv(SiLU(FiLM(GN(conv(SiLU(GN(h))))))): the embedding scales and shifts the middle."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.norm1 = layers.GroupNormalization(_groups(channels), name="norm1")
        self.conv1 = layers.Conv2D(channels, 3, padding="same", name="conv1")
        self.film = layers.Dense(2 * channels, kernel_initializer="zeros", name="film")
        self.norm2 = layers.GroupNormalization(_groups(channels), name="norm2")
        self.conv2 = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros",
                                   name="conv2")  # each block starts as the identity
        self.skip = None

    def build(self, input_shape):
        h_shape, e_shape = input_shape
        if h_shape[-1] != self.channels:
            self.skip = layers.Conv2D(self.channels, 1, name="skip")
            self.skip.build(h_shape)
        self.norm1.build(h_shape)
        self.conv1.build(h_shape)
        mid = (*h_shape[:-1], self.channels)
        self.film.build(e_shape)
        self.norm2.build(mid)
        self.conv2.build(mid)
        self.built = True

    def call(self, inputs):
        h, e = inputs  # (B, H, W, C_in), (B, E)
        r = self.conv1(ops.silu(self.norm1(h)))  # (B, H, W, C)
        scale, shift = ops.split(self.film(ops.silu(e))[:, None, None, :], 2, axis=-1)
        r = self.norm2(r) * (1.0 + scale) + shift
        r = self.conv2(ops.silu(r))
        return (h if self.skip is None else self.skip(h)) + r

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.channels)


class SelfAttention(layers.Layer):
    """h + attention of every position over every other (one head, pre-GroupNorm)."""

    def build(self, input_shape):
        c = input_shape[-1]
        self.norm = layers.GroupNormalization(_groups(c), name="norm")
        self.attention = layers.MultiHeadAttention(1, c, name="attention")
        self.norm.build(input_shape)
        self.attention.build((None, None, c), (None, None, c))
        self.built = True

    def call(self, h):
        shape = ops.shape(h)
        seq = ops.reshape(self.norm(h), (shape[0], -1, h.shape[-1]))  # (B, H*W, C)
        return h + ops.reshape(self.attention(seq, seq), shape)


class CrossAttention(layers.Layer):
    """h + attention of every position (queries) over the caption's words (keys, values).

    Called as ``CrossAttention()([h, words, mask])``: h (B, H, W, C), words (B, L, W), mask
    (B, L) 1 for a word and 0 for padding or a dropped caption; a learned null word is
    prepended, always visible.
    """

    def build(self, input_shape):
        h_shape, w_shape, _ = input_shape
        c, w = h_shape[-1], w_shape[-1]
        self.null = self.add_weight(shape=(1, 1, w), initializer="zeros", name="null_word")
        self.norm = layers.GroupNormalization(_groups(c), name="norm")
        self.attention = layers.MultiHeadAttention(1, c, output_shape=c, name="attention")
        self.norm.build(h_shape)
        self.attention.build((None, None, c), (None, None, w))
        self.built = True

    def call(self, inputs):
        h, words, mask = inputs
        shape = ops.shape(h)
        b = shape[0]
        words = ops.concatenate([ops.tile(self.null, (b, 1, 1)), words], axis=1)  # (B, 1 + L, W)
        visible = ops.concatenate([ops.ones((b, 1)), ops.cast(mask, "float32")], axis=1) > 0.5
        q = ops.reshape(self.norm(h), (b, -1, h.shape[-1]))  # (B, H*W, C)
        out = self.attention(q, words, attention_mask=ops.repeat(visible[:, None, :],
                                                                 ops.shape(q)[1], axis=1))
        return h + ops.reshape(out, shape)


def build_unet(image_shape, widths=(64, 128), blocks: int = 2, text_dim: int = 64,
               text: str = "film", word_dim: int = 64, max_words: int = 16, name="unet"):
    """The denoiser: inputs ``[x_t, t, caption]`` (+ ``[words, word_mask]`` for "cross") -> v.

    ``image_shape`` (H, W, C) of x_t; ``widths`` channels per resolution (each after the
    first halves H and W); ``blocks`` residual blocks per resolution on the way down.
    """
    if text not in TEXT_KINDS:
        raise ValueError(f"text must be one of {', '.join(TEXT_KINDS)}, got {text!r}")
    emb_dim = 4 * widths[0]
    x = keras.Input(image_shape, name="x_t")
    t = keras.Input((), name="t")
    caption = keras.Input((text_dim,), name="caption")
    inputs = [x, t, caption]
    if text == "cross":
        words = keras.Input((max_words, word_dim), name="words")
        word_mask = keras.Input((max_words,), name="word_mask")
        inputs += [words, word_mask]

    e = layers.Lambda(lambda s: timestep_embedding(s, widths[0]), name="t_sinusoid")(t)
    e = layers.Dense(emb_dim, activation="silu", name="t_mlp1")(e)
    e = layers.Dense(emb_dim, name="t_mlp2")(e)
    e = layers.Add(name="t_plus_caption")([e, layers.Dense(emb_dim, name="caption_in")(caption)])

    def attend(h, tag):
        if text == "cross":
            h = CrossAttention(name=f"cross_{tag}")([h, words, word_mask])
        return h

    h = layers.Conv2D(widths[0], 3, padding="same", name="conv_in")(x)
    skips = [h]
    for level, w in enumerate(widths):
        for i in range(blocks):
            h = attend(ResBlock(w, name=f"down{level}_{i}")([h, e]), f"down{level}_{i}")
            skips.append(h)
        if level < len(widths) - 1:
            h = layers.Conv2D(w, 3, strides=2, padding="same", name=f"down{level}")(h)
            skips.append(h)
    h = ResBlock(widths[-1], name="mid_1")([h, e])
    h = SelfAttention(name="mid_attention")(h)
    h = ResBlock(widths[-1], name="mid_2")([h, e])
    for level in reversed(range(len(widths))):
        for i in range(blocks + 1):
            h = layers.Concatenate(name=f"skip{level}_{i}")([h, skips.pop()])
            h = attend(ResBlock(widths[level], name=f"up{level}_{i}")([h, e]), f"up{level}_{i}")
        if level > 0:
            h = layers.UpSampling2D(2, name=f"up{level}")(h)
            h = layers.Conv2D(widths[level - 1], 3, padding="same", name=f"up{level}_conv")(h)
    h = ops.silu(layers.GroupNormalization(_groups(widths[0]), name="norm_out")(h))
    v = layers.Conv2D(image_shape[-1], 3, padding="same", kernel_initializer="zeros",
                      name="conv_out")(h)
    return keras.Model(inputs, v, name=name)
