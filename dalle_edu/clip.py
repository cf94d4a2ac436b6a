"""A mini-CLIP: text and pictures in one space, learned from captions alone — Chapter 9.

CLIP (Radford et al. 2021) trains two encoders side by side on (image, caption) pairs,
with no labels: in a batch of B pairs, each image must pick its own caption among the
B captions, and each caption its own image. That is the symmetric InfoNCE loss over the
(B, B) matrix of cosine similarities, scaled by a learned temperature::

    I = normalise(image_encoder(images))      # (B, D)
    T = normalise(text_encoder(token_ids))    # (B, D)
    logits = exp(s) * I @ T.T                 # (B, B); row i: image i against every caption
    loss = (CE(logits, diag) + CE(logits.T, diag)) / 2

Here it is small: a 3-conv image tower and a text tower over the course's tokens, either
a **bag of words** (word vectors summed, then a linear map: additive, so "green triangle"
is "green" + "triangle" even though that pair never occurs in training) or a small
**order-aware** one (learned positions and one self-attention block). Trained on the
train split's (image, caption) pairs only — the attribute labels are never read.

    clip = train_clip(ClipConfig())            # about a minute on 2 cores
    clip.encode_images(images)                 # (N, D), unit length
    clip.encode_text(["a red circle"])         # (N, D), unit length
    clip.score(images, prompts)                # CLIP score, 100 * max(cos, 0)
    clip.save("runs/clip"); MiniCLIP.load("runs/clip")

Duplicate captions in a batch count as negatives (as in CLIP): the world has few
distinct captions, so the loss cannot reach 0; retrieval is what we measure.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import keras
from keras import layers, ops

from dalle_edu import configs, text
from dalle_edu.configs import field
from dalle_edu.checkpoint import WeightsError, load_weights_strict
from dalle_edu.data import shapes
from dalle_edu.images import check_images, to_float

TEXT_KINDS = ("bow", "attention")
FILES = ("clip_config.json", "clip_image.weights.h5", "clip_text.weights.h5")


@dataclasses.dataclass
class ClipConfig(configs.Config):
    """One mini-CLIP: sizes, data and optimisation (the defaults are the shipped cpu run)."""

    PRESET_MODEL = "clip"

    image_size: int = field(32, gt=0)
    embed_dim: int = field(64, gt=0)  # the shared space
    width: int = field(32, gt=0)  # image tower's first conv width; then 2x, 4x
    word_dim: int = field(64, gt=0)  # text tower's word-vector width
    text: str = field("bow", choices=TEXT_KINDS)  # bag of words, or order-aware attention
    n_train: int = field(40_000, gt=0)  # (image, caption) pairs from the train split
    partial: float = field(0.5, ge=0, le=1)  # share of captions that leave size/position out
    steps: int = field(1_200, gt=0)
    batch_size: int = field(128, gt=0)
    lr: float = field(2e-3, gt=0)
    seed: int = field(0, ge=0)


# --- the two towers ---------------------------------------------------------------------

def build_image_encoder(c: ClipConfig):
    """Images (B, S, S, 3) in [-1, 1] -> (B, embed_dim), not yet normalised."""
    inputs = keras.Input((c.image_size, c.image_size, 3), name="images")
    x = inputs
    for i, w in enumerate((c.width, 2 * c.width, 4 * c.width)):  # (S, S) -> (S/8, S/8)
        x = layers.Conv2D(w, 3, strides=2, padding="same", name=f"conv{i}")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)  # keeps *where* things are: captions name positions
    x = layers.Dense(128, activation="relu", name="features")(x)
    return keras.Model(inputs, layers.Dense(c.embed_dim, name="project")(x), name="clip_image")


def _not_padding(ids):
    return ops.cast(ops.not_equal(ids, text.PAD), "float32")  # (B, T)


def build_text_encoder(c: ClipConfig):
    """Token ids (B, MAX_TOKENS) -> (B, embed_dim), not yet normalised."""
    ids = keras.Input((text.MAX_TOKENS,), dtype="int32", name="token_ids")
    keep = layers.Lambda(lambda t: ops.expand_dims(_not_padding(t), -1), name="not_padding")(ids)
    x = layers.Embedding(len(text.VOCAB), c.word_dim, name="word_vectors")(ids)  # (B, T, W)
    if c.text == "attention":  # order-aware: positions + one pre-norm self-attention block
        pos = layers.Embedding(text.MAX_TOKENS, c.word_dim, name="positions")(
            ops.arange(text.MAX_TOKENS)[None, :])  # (1, T, W)
        x = x + pos
        mask = layers.Lambda(lambda t: ops.cast(
            ops.expand_dims(_not_padding(t), 1) * ops.ones_like(ops.expand_dims(_not_padding(t), 2)),
            "bool"), name="attend_to_words")(ids)  # (B, T, T): every query sees the words only
        h = layers.LayerNormalization(name="norm1")(x)
        x = x + layers.MultiHeadAttention(2, c.word_dim // 2, name="attention")(
            h, h, attention_mask=mask)
        h = layers.LayerNormalization(name="norm2")(x)
        h = layers.Dense(2 * c.word_dim, activation="gelu", name="mlp_in")(h)
        x = x + layers.Dense(c.word_dim, name="mlp_out")(h)
        pooled = layers.Lambda(lambda t: ops.sum(t[0] * t[1], 1) / ops.maximum(ops.sum(t[1], 1), 1.0),
                               name="mean_over_words")([x, keep])  # (B, W)
    else:  # bag of words: padding adds nothing, length does not dilute
        pooled = layers.Lambda(lambda t: ops.sum(t[0] * t[1], axis=1), name="bag_of_words")([x, keep])
    out = layers.Dense(c.embed_dim, name="project")(pooled)  # linear: a sum stays a sum
    return keras.Model(ids, out, name=f"clip_text_{c.text}")


def normalise(x):
    """Rows scaled to unit length (a tensor op, differentiable)."""
    return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-12))


def _normalise_np(x):
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def embed_ids(text_encoder, ids) -> np.ndarray:
    """A text tower's unit embeddings (N, D) of token ids (N, MAX_TOKENS)."""
    ids = np.asarray(ids, np.int32).reshape(-1, text.MAX_TOKENS)
    out = [ops.convert_to_numpy(text_encoder(ids[i:i + 4096], training=False))
           for i in range(0, len(ids), 4096)]
    width = text_encoder.output_shape[-1]
    return _normalise_np(np.concatenate(out) if out else np.zeros((0, width), np.float32))


def info_nce(logits):
    """Symmetric InfoNCE of a (B, B) logit matrix whose diagonal holds the true pairs."""
    labels = ops.arange(ops.shape(logits)[0])
    ce = keras.losses.sparse_categorical_crossentropy
    return 0.5 * (ops.mean(ce(labels, logits, from_logits=True))
                  + ops.mean(ce(labels, ops.transpose(logits), from_logits=True)))


class MiniCLIP(keras.Model):
    """Image tower + text tower + learned temperature; ``fit`` on ``(images, token_ids)``."""

    MAX_LOG_SCALE = math.log(100.0)  # CLIP clips the logit scale at 100

    def __init__(self, config: ClipConfig, **kwargs):
        super().__init__(name="mini_clip", **kwargs)
        self.config = config
        self.image_encoder = build_image_encoder(config)
        self.text_encoder = build_text_encoder(config)
        self.log_scale = self.add_weight(  # CLIP's initial temperature 0.07
            shape=(), initializer=keras.initializers.Constant(math.log(1 / 0.07)),
            name="log_scale")

    def call(self, inputs, training=False):
        images, ids = inputs
        i = normalise(self.image_encoder(images, training=training))  # (B, D)
        t = normalise(self.text_encoder(ids, training=training))  # (B, D)
        scale = ops.exp(ops.minimum(self.log_scale, self.MAX_LOG_SCALE))
        return scale * ops.matmul(i, ops.transpose(t))  # (B, B)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return info_nce(y_pred)

    @property
    def temperature(self) -> float:
        return float(1.0 / math.exp(min(float(self.log_scale.numpy()), self.MAX_LOG_SCALE)))

    # --- using it -------------------------------------------------------------------

    def _check_images(self, images) -> np.ndarray:
        return check_images(images, self.config.image_size, "this mini-CLIP")

    def encode_images(self, images, batch_size: int = 1024) -> np.ndarray:
        """uint8 or [-1, 1] images (N, S, S, 3) -> unit embeddings (N, D)."""
        x = self._check_images(images)
        out = [ops.convert_to_numpy(self.image_encoder(x[i:i + batch_size], training=False))
               for i in range(0, len(x), batch_size)]
        return _normalise_np(np.concatenate(out) if out else np.zeros((0, self.config.embed_dim)))

    def encode_text(self, prompts) -> np.ndarray:
        """Prompts (str or ``text.Prompt``; unknown words raise ``ValueError``) -> (N, D) unit."""
        ids = np.stack([p.ids for p in text.prompts(prompts)]) if len(prompts) else \
            np.zeros((0, text.MAX_TOKENS), np.int32)
        return self.encode_ids(ids)

    def encode_ids(self, ids) -> np.ndarray:
        """Token ids (N, MAX_TOKENS) -> (N, D) unit embeddings."""
        return embed_ids(self.text_encoder, ids)

    def score(self, images, prompts) -> np.ndarray:
        """CLIP score (Hessel et al. 2021, w = 1): 100 * max(cos(image, prompt), 0), (N,)."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts: "
                             "one prompt per image")
        cos = (self.encode_images(images) * self.encode_text(prompts)).sum(-1)
        return 100.0 * np.maximum(cos, 0.0)

    def zero_shot(self, images) -> list[dict]:
        """Read colour, shape, size, vpos, hpos with prompt ensembles, no training (CLIP's way).

        Each value of an attribute is one text embedding: the mean over captions that
        name that value and vary everything else (CLIP's prompt ensembling). An image
        reads the value whose embedding is closest.
        """
        emb = self.encode_images(images)
        reads = [{} for _ in range(len(emb))]
        for key, table in _zero_shot_prompts().items():
            classes = _normalise_np(np.stack([self.encode_text(ps).mean(0) for ps in table.values()]))
            picks = np.argmax(emb @ classes.T, axis=1)
            names = list(table)
            for r, j in zip(reads, picks):
                r[key] = names[j]
        return reads

    # --- files ----------------------------------------------------------------------

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        d = {**self.config.to_dict(), "log_scale": float(self.log_scale.numpy())}
        (folder / FILES[0]).write_text(json.dumps(d, indent=1) + "\n")
        self.image_encoder.save_weights(folder / FILES[1])
        self.text_encoder.save_weights(folder / FILES[2])
        return folder

    @classmethod
    def load(cls, folder, text_only: bool = False) -> "MiniCLIP":
        """Load a saved mini-CLIP; problems raise ``WeightsError`` with a one-line reason."""
        folder = Path(folder)
        need = FILES[:1] + FILES[2:] if text_only else FILES
        missing = [n for n in need if not (folder / n).is_file()]
        if missing:
            raise WeightsError(f"no mini-CLIP in {folder}: missing {', '.join(missing)} "
                               "(train one with `dalle-edu train --model clip`)")
        try:
            d = json.loads((folder / FILES[0]).read_text())
            log_scale = float(d.pop("log_scale", math.log(1 / 0.07)))
            config = ClipConfig.from_dict(d)
        except (ValueError, TypeError) as err:
            raise WeightsError(f"corrupt mini-CLIP config in {folder / FILES[0]}: {err}") from None
        model = cls(config)
        if not text_only:
            load_weights_strict(model.image_encoder, folder / FILES[1])
        load_weights_strict(model.text_encoder, folder / FILES[2])
        model.log_scale.assign(log_scale)
        return model


def _zero_shot_prompts() -> dict:
    """attribute -> value -> captions naming that value (the rest varied), for ``zero_shot``."""
    C, S = shapes.VALUES["color"], shapes.VALUES["shape"]
    pairs = [(c, s) for c in C for s in S]
    full = [dict(color=c, shape=s, size=z, vpos=v, hpos=h) for c, s in pairs
            for z in shapes.VALUES["size"] for v in shapes.VALUES["vpos"] for h in shapes.VALUES["hpos"]]
    out = {"color": {c: [f"a {c} {s}" for s in S] for c in C},
           "shape": {s: [f"a {c} {s}" for c in C] for s in S}}
    for key in ("size", "vpos", "hpos"):
        out[key] = {v: [shapes.caption(a) for a in full if a[key] == v][::7]
                    for v in shapes.VALUES[key]}
    return out


# --- training ---------------------------------------------------------------------------

def clip_data(config: ClipConfig, n: int | None = None, split: str = "train", seed: int | None = None):
    """(images in [-1, 1], token ids, captions) of ``n`` pairs; no attribute labels."""
    images, captions, _ = shapes.sample(n or config.n_train, split,
                                        seed=config.seed if seed is None else seed,
                                        size=config.image_size, partial=config.partial)
    return to_float(images), text.encode(captions), captions


def train_clip(config: ClipConfig, out_dir=None, verbose: int = 1) -> MiniCLIP:
    """Train a mini-CLIP on train-split (image, caption) pairs; save it to ``out_dir`` if given."""
    from dalle_edu import device

    device.set_seed(config.seed)
    x, ids, _ = clip_data(config)
    model = MiniCLIP(config)
    epochs = max(1, round(config.steps * config.batch_size / len(x)))
    model.compile(keras.optimizers.Adam(config.lr))
    model.fit((x, ids), epochs=epochs, batch_size=config.batch_size, shuffle=True, verbose=verbose)
    if out_dir is not None:
        model.save(out_dir)
    return model
