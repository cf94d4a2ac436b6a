"""The text encoder of the simple DALL·E: a bag of word vectors with linear heads — Chapter 7.

Word embeddings are *summed* over the prompt, then linear heads read the five attributes,
with an extra "unsaid" class for size and position. A sum of word vectors followed by
linear maps is additive by construction, so it reads "green triangle" right although that
pair never occurs in training (an MLP on the same bag of words reads held-out shapes at
chance: ``benchmarks/t2i_fidelity.py --encoders``). It is pretrained in seconds on
training captions, with the shapes world's attribute labels, and then frozen.
"""

from __future__ import annotations

import numpy as np
import keras
from keras import layers

from dalle_edu import text
from dalle_edu.data import shapes
from dalle_edu.t2i.condition import COND_DIM, HEADS, UNSAID


def build_text_encoder(embed_dim: int = 32, max_len: int = text.MAX_TOKENS):
    """Token ids (B, max_len) -> dict of attribute logits. Additive: sum of word vectors, linear heads."""
    ids = keras.Input((max_len,), dtype="int32", name="token_ids")
    vectors = layers.Embedding(len(text.VOCAB), embed_dim, name="word_vectors")(ids)  # (B, T, E)
    keep = layers.Lambda(lambda t: keras.ops.expand_dims(keras.ops.cast(t > 0, "float32"), -1),
                         name="not_padding")(ids)  # (B, T, 1)
    summed = layers.Lambda(lambda t: keras.ops.sum(t[0] * t[1], axis=1), name="bag_of_words")(
        [vectors, keep])  # (B, E): padding contributes nothing, length does not dilute
    heads = {k: layers.Dense(len(v), name=k)(summed) for k, v in HEADS.items()}
    return keras.Model(ids, heads, name="text_encoder")


def attribute_targets(attrs, mentioned) -> dict:
    """Encoder targets: the drawn value where the caption names it, else "unsaid"."""
    return {k: np.array([HEADS[k].index(a[k]) if k in m else HEADS[k].index(UNSAID)
                         for a, m in zip(attrs, mentioned)], np.int32) for k in HEADS}


def pretrain_text_encoder(encoder, steps: int = 1_500, batch_size: int = 128, seed: int = 0,
                          verbose: int = 0):
    """Teach the encoder to read training captions (half of them partial). Seconds on a CPU."""
    n = min(steps * batch_size, 40_000)
    _, captions, attrs, mentioned = shapes.sample(n, "train", seed=seed + 101, partial=0.5,
                                                  return_mentioned=True)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    encoder.compile(keras.optimizers.Adam(3e-3), loss={k: loss for k in HEADS})
    epochs = max(1, round(steps * batch_size / n))
    encoder.fit(text.encode(captions), attribute_targets(attrs, mentioned), batch_size=batch_size,
                epochs=epochs, verbose=verbose, shuffle=True)
    return encoder


def encode_ids(encoder, ids) -> np.ndarray:
    """Token ids (N, MAX_TOKENS) -> (N, COND_DIM) float32: the encoder's per-attribute probabilities."""
    ids = np.asarray(ids, np.int32).reshape(-1, text.MAX_TOKENS)
    out = []
    for i in range(0, len(ids), 4096):  # a direct call: predict() costs ~100 ms of set-up
        logits = encoder(ids[i:i + 4096], training=False)
        out.append(np.concatenate([keras.ops.convert_to_numpy(keras.ops.softmax(logits[k], axis=-1))
                                   for k in HEADS], axis=-1))
    return np.concatenate(out, axis=0).astype("float32") if out else np.zeros((0, COND_DIM), "float32")


def encode_prompts(encoder, prompts) -> np.ndarray:
    """Prompts (str or ``text.Prompt``) -> (N, COND_DIM) conditions; strings are encoded, not parsed."""
    ids = [p.ids if isinstance(p, text.Prompt) else text.encode(p) for p in prompts]
    return encode_ids(encoder, np.stack(ids) if ids else np.zeros((0, text.MAX_TOKENS), np.int32))


def build_encoder_for(config):
    """The text encoder a config names: the attribute encoder, or a mini-CLIP's text tower."""
    if config.text_encoder == "labels":
        return build_text_encoder(config.embed_dim)
    from dalle_edu import clip

    return clip.build_text_encoder(clip.ClipConfig.from_dict(config.clip or {}))


def conditions_for(config, encoder, prompts) -> np.ndarray:
    """Prompts (str or ``text.Prompt``) -> G's conditions (N, config.cond_dim)."""
    if config.text_encoder == "labels":
        return encode_prompts(encoder, prompts)
    from dalle_edu import clip

    ids = [p.ids if isinstance(p, text.Prompt) else text.encode(p) for p in prompts]
    return clip.embed_ids(encoder, np.stack(ids) if ids else np.zeros((0, text.MAX_TOKENS), np.int32))
