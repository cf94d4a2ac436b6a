"""The causal token transformer of "the real DALL·E, small" (DALL·E, stage 2).

DALL·E (Ramesh et al. 2021) models one sequence: the caption's tokens, then the image's
tokens (a discrete autoencoder's 8x8 grid of codes, read row by row), and learns it with
one decoder-only transformer trained to predict the next token::

    ids    = [t_0 .. t_{T_text-1} | i_0 .. i_{T_img-1}]        # (B, T)
    logits = TokenTransformer(config)(ids)                      # (B, T, V): row t predicts ids[t+1]
    loss   = sequence_loss(logits, ids, text_len)               # next-token cross-entropy
    codes  = model.sample(text_ids, temperature=1.0, top_k=32, seed=0)   # (B, T_img) in [0, K)

**One joint vocabulary.** Text ids keep their values ``[0, V_text)`` (``text.VOCAB``,
padding id 0 as ``text.encode`` writes it) and image code ``c`` becomes id ``V_text + c``,
so one embedding table and one output layer cover both. DALL·E embeds text and image
tokens with separate tables and learns a padding token per text position; here
padding is simply id 0 at every position.

The blocks are GPT-2's (pre-norm): ``x + attn(LN(x))``, then ``x + MLP(LN(x))`` with a
4x-wide GELU MLP; positions are learned. ``CausalSelfAttention`` is written out in full
(it matches ``keras.layers.MultiHeadAttention(use_causal_mask=True)`` given the same
weights, a test checks) because sampling needs what that layer hides: a **KV cache**.
Keras and numpy only (``keras.ops``). Sampling runs eagerly; a compiled ``decode`` is
several times faster on a CPU (``benchmarks/transformer_sampling.py``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import keras
from keras import layers, ops

from dalle_edu import configs, text
from dalle_edu.configs import field

__all__ = ["TransformerConfig", "causal_attention", "CausalSelfAttention", "TransformerBlock", "TokenTransformer", "sequence_loss"]


@dataclasses.dataclass
class TransformerConfig(configs.Config):
    """One token transformer: vocabularies, context and sizes."""

    text_vocab: int = field(len(text.VOCAB), gt=0)  # V_text: text ids are [0, V_text)
    image_vocab: int = field(256, gt=0)  # K, the codebook: image ids are V_text + [0, K)
    text_len: int = field(text.MAX_TOKENS, gt=0)  # text positions; shorter captions padded with 0
    image_len: int = field(64, gt=0)  # an 8x8 grid of codes, row by row
    width: int = field(128, gt=0)
    depth: int = field(4, gt=0)  # blocks
    heads: int = field(4, gt=0)
    dropout: float = field(0.0, ge=0, lt=1)
    text_weight: float = field(1 / 8, ge=0)  # loss weights, see sequence_loss
    image_weight: float = field(7 / 8, ge=0)

    def __post_init__(self):
        super().__post_init__()
        if self.width % self.heads:
            raise ValueError(f"TransformerConfig: width {self.width} is not divisible by heads "
                             f"{self.heads}")

    @property
    def vocab(self) -> int:
        return self.text_vocab + self.image_vocab

    @property
    def context(self) -> int:
        return self.text_len + self.image_len


def causal_attention(q, k, v, dropout=None):
    """softmax(q k^T / sqrt(d), causal) v for queries (..., T, d), keys/values (..., P + T, d).

    The T queries are the *last* T of the P + T positions (P > 0 when keys come from a KV
    cache): query i sits at P + i and sees keys j <= P + i. Chapter 12 writes one head.
    """
    t, pt = ops.shape(q)[-2], ops.shape(k)[-2]
    p = pt - t  # P, how many positions precede the new ones
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) / math.sqrt(q.shape[-1])  # (..., T, P+T)
    visible = ops.arange(pt)[None, :] <= (p + ops.arange(t))[:, None]  # (T, P+T)
    weights = ops.softmax(ops.where(visible, scores, -1e9), axis=-1)
    return ops.matmul(weights if dropout is None else dropout(weights), v)  # (..., T, d)


class CausalSelfAttention(layers.Layer):
    """Multi-head self-attention where position t sees positions <= t only.

    ``call(x)`` -> y (B, T, E). ``call(x, past=(k, v), use_cache=True)`` -> (y, (k, v)):
    ``x`` holds only the *new* positions, ``past`` the keys and values (B, H, P, E/H) of
    the P positions before them, and the returned pair covers all P + T — the KV cache.
    """

    def __init__(self, width, heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads, self.dropout_rate = int(width), int(heads), float(dropout)
        self.head_dim = self.width // self.heads
        self.query, self.key, self.value, self.out = (
            layers.Dense(self.width, name=n) for n in ("query", "key", "value", "out"))
        self.drop = layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        for d in (self.query, self.key, self.value):
            d.build(input_shape)
        self.out.build(input_shape[:-1] + (self.width,))

    def _split(self, x):  # (B, T, E) -> (B, H, T, E/H): heads are slices of the width
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, t, self.heads, self.head_dim)), (0, 2, 1, 3))

    def call(self, x, past=None, use_cache=False, training=None):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        if past is not None:  # the cached positions come first: keys (B, H, P + T, E/H)
            k, v = ops.concatenate([past[0], k], axis=2), ops.concatenate([past[1], v], axis=2)
        y = causal_attention(q, k, v, dropout=lambda w: self.drop(w, training=training))  # (B, H, T, E/H)
        y = self.out(ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (b, t, self.width)))  # (B, T, E)
        return (y, (k, v)) if use_cache else y

    def get_config(self):
        return {**super().get_config(), "width": self.width, "heads": self.heads,
                "dropout": self.dropout_rate}


class TransformerBlock(layers.Layer):
    """Pre-norm block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``, the MLP 4x wide with GELU.

    Pre-norm (GPT-2) keeps a clean residual path from input to output, so deep stacks
    train without warm-up tricks. ``past`` / ``use_cache`` pass through to the attention.
    """

    def __init__(self, width, heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads, self.dropout_rate = int(width), int(heads), float(dropout)
        self.norm1 = layers.LayerNormalization(epsilon=1e-5, name="norm1")
        self.attention = CausalSelfAttention(width, heads, dropout, name="attention")
        self.norm2 = layers.LayerNormalization(epsilon=1e-5, name="norm2")
        self.mlp_in = layers.Dense(4 * self.width, activation="gelu", name="mlp_in")
        self.mlp_out = layers.Dense(self.width, name="mlp_out")
        self.drop = layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        for sub in (self.norm1, self.attention, self.norm2, self.mlp_in):
            sub.build(input_shape)
        self.mlp_out.build(input_shape[:-1] + (4 * self.width,))

    def call(self, x, past=None, use_cache=False, training=None):
        a = self.attention(self.norm1(x), past=past, use_cache=use_cache, training=training)
        a, present = a if use_cache else (a, None)
        x = x + self.drop(a, training=training)
        x = x + self.drop(self.mlp_out(self.mlp_in(self.norm2(x))), training=training)
        return (x, present) if use_cache else x

    def get_config(self):
        return {**super().get_config(), "width": self.width, "heads": self.heads,
                "dropout": self.dropout_rate}


def sequence_loss(logits, ids, text_len, text_weight=1 / 8, image_weight=7 / 8):
    """Next-token cross-entropy with text and image targets weighted apart.

    Row t of ``logits`` (B, T, V) predicts ``ids[:, t + 1]``; target position s is text
    when s < ``text_len``, image otherwise (the first token has no prediction). Padding
    text targets (id 0) count nowhere. The loss is ::

        text_weight * mean CE over text targets + image_weight * mean CE over image targets

    Defaults are DALL·E's 1/8 and 7/8: the caption is given at sampling time, so the image
    loss is what we want low; the text loss keeps a small weight: it helps to read captions.
    """
    targets = ids[:, 1:]  # (B, T-1)
    ce = keras.losses.sparse_categorical_crossentropy(targets, logits[:, :-1], from_logits=True)
    position = ops.arange(ops.shape(targets)[1])[None, :] + 1  # (1, T-1): where each target sits
    is_text = ops.cast(position < text_len, "float32")
    text_mask = is_text * ops.cast(ops.not_equal(targets, text.PAD), "float32")  # (B, T-1)
    image_mask = (1.0 - is_text) * ops.ones_like(text_mask)

    text_ce, image_ce = (ops.sum(ce * m) / ops.maximum(ops.sum(m), 1.0) for m in (text_mask, image_mask))
    return text_weight * text_ce + image_weight * image_ce


class TokenTransformer(keras.Model):
    """Decoder-only transformer over [caption | image codes]; ``fit`` on ids (B, T).

    ``model(ids)`` -> logits (B, T, V) over the joint vocabulary (numpy ids are checked:
    shape, and each id in its region's range); ``fit(ids)`` minimises ``sequence_loss``
    with the config's weights; ``sample(text_ids, ...)`` draws image codes.
    """

    def __init__(self, config: TransformerConfig | dict | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", "token_transformer"), **kwargs)
        c = config if isinstance(config, TransformerConfig) else TransformerConfig.from_dict(config or {})
        self.config = c
        self.token_embed = layers.Embedding(c.vocab, c.width, name="token_embed")
        self.position_embed = layers.Embedding(c.context, c.width, name="position_embed")
        self.drop = layers.Dropout(c.dropout)
        self.blocks = [TransformerBlock(c.width, c.heads, c.dropout, name=f"block{i}")
                       for i in range(c.depth)]
        self.norm = layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.head = layers.Dense(c.vocab, name="head")  # not tied to token_embed; DALL·E does not tie either
        self.build((None, c.context))

    def build(self, input_shape):
        w = self.config.width
        self.token_embed.build(input_shape)
        self.position_embed.build(input_shape)
        for block in self.blocks:
            block.build((None, None, w))
        self.norm.build((None, None, w))
        self.head.build((None, None, w))
        self.built = True

    def __call__(self, ids, *args, **kwargs):
        if isinstance(ids, (np.ndarray, list)):  # tensors (inside fit) are trusted
            ids = self.check_ids(ids)
        return super().__call__(ids, *args, **kwargs)

    def call(self, ids, training=None):
        return self.decode(ids, training=training)[0]

    def decode(self, ids, past=None, training=None):
        """New ids (B, T) after the cached positions ``past`` -> (logits (B, T, V), present).

        ``past`` is None or the ``present`` of the previous call: one (k, v) per block,
        each (B, H, P, E/H). Feeding a sequence in pieces gives the logits of feeding it
        whole (up to float rounding), at a fraction of the work.
        """
        p = 0 if past is None else ops.shape(past[0][0])[2]
        positions = p + ops.arange(ops.shape(ids)[1])  # (T,)
        x = self.token_embed(ids) + self.position_embed(positions)[None]  # (B, T, E)
        x = self.drop(x, training=training)
        present = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, past=None if past is None else past[i], use_cache=True, training=training)
            present.append(kv)
        return self.head(self.norm(x)), present  # (B, T, V)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        c = self.config
        return sequence_loss(y_pred, x, c.text_len, c.text_weight, c.image_weight)

    # --- training state (dalle_edu.checkpoint reads these) ------------------------------

    @property
    def step(self):
        """Training steps taken: the optimizer's counter (compile first)."""
        if getattr(self, "optimizer", None) is None:
            raise ValueError("compile() the transformer before reading its training step")
        return self.optimizer.iterations

    def checkpoint_groups(self) -> dict:
        """Everything a training step reads: weights, the optimizer (its step counter
        included). No dropout RNG: a checkpoint of a model with dropout > 0 would not
        resume bit for bit, so ``dropout`` defaults to 0."""
        if getattr(self, "optimizer", None) is None:
            raise ValueError("compile() the transformer before saving or restoring a checkpoint")
        return {"transformer": self.weights, "optimizer": self.optimizer.variables}

    # --- looking inside ---------------------------------------------------------------

    def attention_maps(self, ids) -> list:
        """Ids (B, T) -> one array (B, H, T, T) per block: row t is where position t looked.

        Recomputed from each block's queries and keys on the same inputs the forward pass
        sees; each row sums to 1 and is 0 right of the diagonal (causal). The image code
        at grid cell j (row-major) sits at position ``text_len + j`` but was *written* by
        the query one position earlier, ``text_len - 1 + j``: read that row to see what
        the model looked at while choosing it.
        """
        ids = self.check_ids(ids)
        x = self.token_embed(ids) + self.position_embed(ops.arange(ids.shape[1]))[None]
        maps = []
        for block in self.blocks:
            att, h = block.attention, block.norm1(x)
            q, k = att._split(att.query(h)), att._split(att.key(h))
            scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(att.head_dim)
            t = ids.shape[1]
            visible = ops.arange(t)[None, :] <= ops.arange(t)[:, None]
            maps.append(ops.convert_to_numpy(ops.softmax(ops.where(visible[None, None], scores, -1e9), -1)))
            x = block(x)
        return maps

    # --- checks -----------------------------------------------------------------------

    def check_ids(self, ids, what="ids") -> np.ndarray:
        """Integer (B, T) ids, T <= context, text ids at text positions, image ids after."""
        c, ids = self.config, np.asarray(ids)
        if ids.ndim != 2 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"{what} must be integers of shape (batch, length), got {ids.dtype} {ids.shape}")
        if ids.shape[1] > c.context:
            raise ValueError(f"{what} has {ids.shape[1]} positions; the context holds {c.context} "
                             f"({c.text_len} text + {c.image_len} image)")
        t, i = ids[:, :c.text_len], ids[:, c.text_len:]
        if t.size and (t.min() < 0 or t.max() >= c.text_vocab):
            raise ValueError(f"{what}: text ids must be in [0, {c.text_vocab}), "
                             f"got [{t.min()}, {t.max()}]")
        if i.size and (i.min() < c.text_vocab or i.max() >= c.vocab):
            raise ValueError(f"{what}: image ids must be in [{c.text_vocab}, {c.vocab}) "
                             f"(code + {c.text_vocab}), got [{i.min()}, {i.max()}]")
        return ids.astype("int32")

    def _check_sampling(self, text_ids, n, temperature, top_k):
        c = self.config
        text_ids = np.asarray(text_ids)
        if text_ids.ndim == 2 and text_ids.shape[1] > c.text_len:
            raise ValueError(f"text has {text_ids.shape[1]} tokens; the text context holds {c.text_len}")
        text_ids = self.check_ids(text_ids, "text_ids")
        if not 1 <= n <= c.image_len:
            raise ValueError(f"n_image_tokens must be in [1, {c.image_len}], got {n}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k is not None and not 1 <= top_k <= c.image_vocab:
            raise ValueError(f"top_k must be in [1, {c.image_vocab}] (the image vocabulary), got {top_k}")
        pad = np.full((len(text_ids), c.text_len - text_ids.shape[1]), text.PAD, np.int32)
        return np.concatenate([text_ids, pad], axis=1)  # images always start at position text_len

    # --- sampling ---------------------------------------------------------------------

    def sample(self, text_ids, n_image_tokens=None, temperature=1.0, top_k=None, seed=0,
               use_cache=True, decode=None) -> np.ndarray:
        """Caption ids (B, T_text) -> image codes (B, n_image_tokens) in [0, K).

        Only image tokens are drawn (each step's logits cut to the image range); the caption
        is padded with id 0 to ``text_len``. ``top_k`` keeps the k likeliest codes (1 =
        greedy); the same ``seed`` gives the same codes. ``use_cache=False`` re-reads the
        whole sequence every step (the reference path). ``decode``: a stand-in for
        ``self.decode``, e.g. ``tf.function(model.decode)``.
        """
        n = self.config.image_len if n_image_tokens is None else int(n_image_tokens)
        ids = self._check_sampling(text_ids, n, float(temperature), top_k)
        rng, codes = np.random.default_rng(seed), []
        if use_cache:
            decode = decode or self.decode
            logits, past = decode(ids)  # the caption in one call fills the cache
            for i in range(n):
                codes.append(self._pick(logits[:, -1], rng, temperature, top_k))
                if i + 1 < n:  # one new token per step; keys and values of the rest are cached
                    logits, past = decode(codes[-1][:, None] + self.config.text_vocab, past)
        else:
            for _ in range(n):
                logits = self(ids, training=False)  # (B, T, V), all T recomputed
                codes.append(self._pick(logits[:, -1], rng, temperature, top_k))
                ids = np.concatenate([ids, codes[-1][:, None] + self.config.text_vocab], axis=1)
        return np.stack(codes, axis=1)

    def _pick(self, logits, rng, temperature, top_k) -> np.ndarray:
        """Last-position logits (B, V) -> codes (B,) by the Gumbel-max trick.

        argmax(l + g), g ~ Gumbel(0, 1), is a draw from softmax(l): the randomness comes
        from numpy's seeded generator, so both sampling paths draw identical noise.
        """
        l = ops.convert_to_numpy(logits).astype("float64")[:, self.config.text_vocab:] / temperature
        if top_k is not None:  # keep the k largest per row
            kth = np.sort(l, axis=1)[:, -top_k][:, None]
            l = np.where(l >= kth, l, -np.inf)
        return np.argmax(l + rng.gumbel(size=l.shape), axis=1).astype("int32")

    def get_config(self):
        return {"config": self.config.to_dict()}
