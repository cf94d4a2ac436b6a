"""The discrete autoencoder's building blocks: a VQ-VAE with an EMA codebook (DALL·E, stage 1).

DALL·E (Ramesh et al. 2021) first turns every image into a grid of discrete tokens, so
that a transformer can write them after the caption like words. Its tokenizer here is a
VQ-VAE (van den Oord et al. 2017)::

    z   = encoder(x)                                   # (B, T, T, D), T = tokens per side
    k   = argmin_j ||z - e_j||^2                       # (B, T, T) ints in [0, K)
    q   = e_k                                          # (B, T, T, D), the nearest code
    x^  = decoder(z + sg(q - z))                       # straight-through: dx^/dz = dx^/dq
    loss = ||x - x^||^2 + beta ||z - sg(q)||^2          # reconstruction + commitment

The codebook gets **no gradient**: each code moves to the running mean of the encoder
outputs assigned to it, an exponential moving average (the VQ-VAE paper's appendix,
Razavi et al. 2019). With n_i the batch count of code i and s_i the sum of its vectors::

    N_i <- g N_i + (1 - g) n_i                         # g = decay, 0.99
    m_i <- g m_i + (1 - g) s_i
    e_i  = m_i / N~_i,  N~_i = (N_i + eps) / (sum N + K eps) * sum N   # Laplace smoothing

N starts at 1 and m at the initial codebook (each code the mean of one imaginary vector
equal to itself), so no zero-debiasing is needed and an unused code stays where it is.
A code unused for ``dead_after`` steps in a row is **dead**: it is revived by copying an
encoder output of the current batch (and its N reset to 1), so that the K codes follow
the data instead of sitting where they were initialised. The copy is drawn with
probability proportional to its squared distance to its nearest code (k-means++'s rule):
in this world most tokens are black background, one vector the codebook already holds,
and a uniform draw would spend most revivals on duplicates of it.

Like BatchNorm's moving statistics, the update runs inside the quantizer's ``call`` when
``training=True``: Keras's own ``fit`` then trains the model on every backend, with no
custom gradient code (``dalle_edu.image_tokenizer.VQVAE``). Shapes for 32x32 images, 8 tokens
per side (two stride-2 steps; three for 64x64)::

    encoder: (B, 32, 32, 3) -> (B, 16, 16, w) -> (B, 8, 8, 2w) -> res -> (B, 8, 8, D)
    decoder: (B, 8, 8, D) -> (B, 8, 8, 2w) -> res -> (B, 16, 16, 2w) -> (B, 32, 32, w)
             -> (B, 32, 32, 3) tanh
"""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import layers, ops

from dalle_edu import configs
from dalle_edu.configs import field

__all__ = ["VQConfig", "VectorQuantizer", "nearest_code", "ema_codebook", "vq_encoder", "vq_decoder", "perplexity", "codes_used"]


@dataclasses.dataclass
class VQConfig(configs.Config):
    """One image tokenizer: architecture, codebook rule, data and optimisation."""

    # architecture
    image_size: int = field(32, gt=0)
    # 64 tokens per image; image_size / tokens_per_side a power of 2
    tokens_per_side: int = field(8, gt=0)
    codebook_size: int = field(256, ge=2)  # K
    code_dim: int = field(32, gt=0)  # D
    width: int = field(16, gt=0)  # channels after the first downsampling; doubled after each further one
    res_blocks: int = field(1, ge=0)  # residual blocks at token resolution, in encoder and in decoder
    # codebook
    beta: float = field(0.25, ge=0)  # commitment weight
    decay: float = field(0.99, ge=0, lt=1)  # EMA decay g
    epsilon: float = field(1e-5, ge=0)  # Laplace smoothing of the EMA counts
    # revive a code unused this many steps in a row (0 = never): with B*T*T = 2048 vectors a
    # step, a code used by 1 token in 10_000 survives 20 steps with probability ~98 %
    dead_after: int = field(20, ge=0)
    # data and optimisation
    n_train: int = field(10_000, gt=0)  # train-split images drawn once
    steps: int = field(2_000, gt=0)  # ~0.2 s a step on 2 busy cores; 600: benchmarks/vqvae_tokenizer.py
    batch_size: int = field(32, gt=0)
    lr: float = field(2e-3, gt=0)
    seed: int = field(0, ge=0)

    def __post_init__(self):
        super().__post_init__()
        self.downsamplings  # validates the two sizes

    @property
    def downsamplings(self) -> int:
        """Stride-2 steps from image to token grid: log2(image_size / tokens_per_side)."""
        ratio = self.image_size / self.tokens_per_side if self.tokens_per_side > 0 else 0
        k = math.log2(ratio) if ratio > 0 else -1
        if k < 1 or k != int(k):
            raise ValueError(
                f"image_size / tokens_per_side must be a power of two >= 2 (e.g. 32 / 8), "
                f"got {self.image_size} / {self.tokens_per_side}")
        return int(k)


def squared_distances(flat, codebook):
    """(M, D) vectors, (K, D) codes -> (M, K) squared distances, one matrix product."""
    # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2
    return (ops.sum(flat * flat, axis=1, keepdims=True)
            - 2.0 * ops.matmul(flat, ops.transpose(codebook))
            + ops.sum(codebook * codebook, axis=1)[None, :])


def nearest_code(flat, codebook):
    """Vectors (M, D), codebook (K, D) -> (straight-through codes (M, D), ids (M,) int32).

    ``ids`` = argmin_j ||z - e_j||^2; the codes are e_ids forward, and pass the gradient
    to ``flat`` unchanged (z + sg(e - z)). Chapter 11 writes it; the layer below uses it.
    """
    ids = ops.cast(ops.argmin(squared_distances(flat, codebook), axis=1), "int32")
    q = ops.take(codebook, ids, axis=0)
    return flat + ops.stop_gradient(q - flat), ids


def ema_codebook(count, summed, flat, ids, decay, epsilon):
    """One EMA step: (N (K,), m (K, D)), batch vectors (M, D) and ids (M,) -> (N, m, codebook).

    N <- g N + (1 - g) n,  m <- g m + (1 - g) s,  e = m / N~ with Laplace-smoothed N~
    (the module docstring). No revival: ``VectorQuantizer.ema_update`` adds it.
    """
    K = ops.shape(count)[0]
    onehot = ops.one_hot(ids, K, dtype=flat.dtype)  # (M, K)
    n = ops.sum(onehot, axis=0)  # (K,) batch counts
    s = ops.matmul(ops.transpose(onehot), flat)  # (K, D) batch sums
    count = decay * count + (1.0 - decay) * n
    total = ops.sum(count)
    smoothed = (count + epsilon) / (total + ops.cast(K, flat.dtype) * epsilon) * total
    summed = decay * summed + (1.0 - decay) * s
    return count, summed, summed / smoothed[:, None]


class VectorQuantizer(layers.Layer):
    """(B, T, T, D) encoder outputs -> (straight-through codes (B, T, T, D), ids (B, T, T) int32).

    With ``training=True`` it also moves the codebook by EMA and revives dead codes.
    The codebook and its EMA state are non-trainable weights, saved with the model.
    """

    def __init__(self, codebook_size, code_dim, decay=0.99, epsilon=1e-5, dead_after=20,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.codebook_size, self.code_dim = int(codebook_size), int(code_dim)
        self.decay, self.epsilon, self.dead_after = float(decay), float(epsilon), int(dead_after)
        self.seed_generator = keras.random.SeedGenerator(seed)  # which batch vector revives a code

    def build(self, input_shape=None):
        K, D = self.codebook_size, self.code_dim
        self.codebook = self.add_weight(shape=(K, D), name="codebook", trainable=False,
                                        initializer=keras.initializers.RandomUniform(-1.0, 1.0))
        self.ema_count = self.add_weight(shape=(K,), name="ema_count", trainable=False,
                                         initializer="ones")  # N
        self.ema_sum = self.add_weight(shape=(K, D), name="ema_sum", trainable=False,
                                       initializer="zeros")  # m
        self.ema_sum.assign(self.codebook)  # m / N = e at the start
        self.unused = self.add_weight(shape=(K,), name="steps_unused", trainable=False,
                                      initializer="zeros")
        self.revived = self.add_weight(shape=(), name="codes_revived", trainable=False,
                                       initializer="zeros")  # a running total, for reports
        self.built = True

    def distances(self, flat):
        """(M, D) vectors -> (M, K) squared distances to every code."""
        return squared_distances(flat, self.codebook)

    def lookup(self, ids):
        """Ids of any shape -> their code vectors, shape ids.shape + (D,)."""
        return ops.take(self.codebook, ops.cast(ids, "int32"), axis=0)

    def call(self, z, training=False):
        shape = ops.shape(z)
        flat = ops.reshape(z, (-1, self.code_dim))  # (M, D), M = B * T * T
        d = self.distances(flat)  # (M, K)
        ids = ops.cast(ops.argmin(d, axis=1), "int32")  # (M,)
        q = ops.reshape(self.lookup(ids), shape)  # read before the update below
        if training:
            self.ema_update(ops.stop_gradient(flat), ids, ops.stop_gradient(ops.min(d, axis=1)))
        z_q = z + ops.stop_gradient(q - z)  # forward: q; backward: identity to z
        return z_q, ops.reshape(ids, shape[:-1])

    def ema_update(self, flat, ids, error=None):
        """One EMA step of the codebook from vectors (M, D) and their ids (M,), then revival.

        ``error`` (M,): each vector's squared distance to its code, the revival draw's weights
        (uniform when None).
        """
        K = self.codebook_size
        count, summed, codebook = ema_codebook(self.ema_count, self.ema_sum, flat, ids,
                                               self.decay, self.epsilon)
        n = ops.sum(ops.one_hot(ids, K, dtype=flat.dtype), axis=0)  # (K,) batch counts
        unused = ops.where(n > 0, 0.0, self.unused + 1.0)
        if self.dead_after:
            dead = unused >= self.dead_after  # (K,)
            error = ops.zeros_like(flat[:, 0]) if error is None else error
            logits = ops.log(ops.maximum(error, 0.0) + 1e-12)[None, :]  # (1, M); all 0: uniform
            pick = keras.random.categorical(logits, K, dtype="int32", seed=self.seed_generator)[0]
            fresh = ops.take(flat, pick, axis=0)  # (K, D): a batch vector per code
            codebook = ops.where(dead[:, None], fresh, codebook)
            summed = ops.where(dead[:, None], fresh, summed)
            count = ops.where(dead, 1.0, count)
            unused = ops.where(dead, 0.0, unused)
            self.revived.assign(self.revived + ops.sum(ops.cast(dead, "float32")))
        self.ema_count.assign(count)
        self.ema_sum.assign(summed)
        self.codebook.assign(codebook)
        self.unused.assign(unused)

    def compute_output_spec(self, z, training=False):
        return (keras.KerasTensor(z.shape, z.dtype), keras.KerasTensor(z.shape[:-1], "int32"))

    def get_config(self):
        return {**super().get_config(), "codebook_size": self.codebook_size,
                "code_dim": self.code_dim, "decay": self.decay, "epsilon": self.epsilon,
                "dead_after": self.dead_after}


def code_counts(ids, codebook_size):
    """Ids of any shape -> (K,) float32 count of each code."""
    return ops.sum(ops.one_hot(ops.reshape(ops.cast(ids, "int32"), (-1,)), codebook_size), axis=0)


def perplexity(ids, codebook_size):
    """exp(entropy) of the codes' usage, exp(-sum p log p): k for a uniform use of k codes."""
    counts = code_counts(ids, codebook_size)
    p = counts / ops.maximum(ops.sum(counts), 1.0)
    return ops.exp(-ops.sum(p * ops.log(ops.maximum(p, 1e-30))))  # 0 log 0 = 0


def codes_used(ids, codebook_size):
    """How many distinct codes occur in ``ids`` (a float scalar)."""
    return ops.sum(ops.cast(code_counts(ids, codebook_size) > 0, "float32"))


def _channels(c: VQConfig):
    return [c.width * 2 ** i for i in range(c.downsamplings)]  # [w, 2w] for 32 -> 8


def _residual(h, channels, name):
    """h + conv1x1(relu(conv3x3(relu(h)))), the VQ-VAE paper's residual block."""
    r = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv3")(layers.ReLU()(h))
    r = layers.Conv2D(channels, 1, name=f"{name}_conv1")(layers.ReLU()(r))
    return layers.Add(name=name)([h, r])


def vq_encoder(c: VQConfig, name="vq_encoder"):
    """Images (B, S, S, 3) in [-1, 1] -> encoder outputs (B, T, T, code_dim)."""
    x = keras.Input((c.image_size, c.image_size, 3), name="images")
    h = x
    for i, ch in enumerate(_channels(c)):  # (B, s, s, .) -> (B, s/2, s/2, ch)
        h = layers.Conv2D(ch, 4, strides=2, padding="same", name=f"down_{i}")(h)
        h = layers.ReLU()(h) if i < c.downsamplings - 1 else h
    for i in range(c.res_blocks):
        h = _residual(h, _channels(c)[-1], f"res_{i}")
    z = layers.Conv2D(c.code_dim, 1, name="to_codes")(layers.ReLU()(h))  # (B, T, T, D)
    return keras.Model(x, z, name=name)


def vq_decoder(c: VQConfig, name="vq_decoder"):
    """Code vectors (B, T, T, code_dim) -> images (B, S, S, 3) in [-1, 1]."""
    t = c.tokens_per_side
    z = keras.Input((t, t, c.code_dim), name="codes")
    h = layers.Conv2D(_channels(c)[-1], 3, padding="same", name="from_codes")(z)
    for i in range(c.res_blocks):
        h = _residual(h, _channels(c)[-1], f"res_{i}")
    h = layers.ReLU()(h)
    for i, ch in enumerate(reversed(_channels(c))):  # (B, s, s, .) -> (B, 2s, 2s, ch)
        h = layers.Conv2DTranspose(ch, 4, strides=2, padding="same", activation="relu",
                                   name=f"up_{i}")(h)
    out = layers.Conv2D(3, 3, padding="same", activation="tanh", name="to_image")(h)
    return keras.Model(z, out, name=name)
