"""tf.data pipelines from the data worlds — Chapter 4 onwards (imports TensorFlow).

The worlds themselves (``dalle_edu.data``) and the tokenizer (``dalle_edu.text``) are
numpy only; this module is where TensorFlow meets them.

Each pipeline yields batches ready for ``GAN.fit``: images as float32 in [-1, 1]
(the range a tanh generator outputs) and a condition::

    ds = pipeline.shapes_dataset(n=10_000, batch_size=64, seed=0)
    images, tokens = next(iter(ds))     # (64, 32, 32, 3) float32, (64, 16) int32
    ds = pipeline.digits_dataset(batch_size=64)
    images, labels = next(iter(ds))     # (64, 32, 32, 1) float32, (64,) int32

The data are drawn in numpy once (deterministic given ``seed``); tf.data shuffles with
the same seed, so the order of batches repeats run after run.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dalle_edu import text
from dalle_edu.data import digits, shapes


def to_float(images):
    """uint8 0..255 -> float32 in [-1, 1] (a tensor op: works inside ``Dataset.map``).

    The numpy version, for arrays outside a pipeline, is ``dalle_edu.images.to_float``.
    """
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def shuffled_batches(data, batch_size: int, seed: int) -> tf.data.Dataset:
    """Endless batches of ``data`` (an array, or a tuple of arrays with N rows each), a new
    random order every pass over the N rows — and the same stream from every iterator.

    The order is stateless: row ``k % N`` of pass ``k // N`` is
    ``tf.random.experimental.index_shuffle`` keyed by ``(seed, pass)``. A seeded
    ``Dataset.shuffle`` reshuffles per *iterator* instead, so two iterators of one dataset
    differ — and under a ``tf.distribute`` strategy Keras reads one batch from an iterator
    of its own before training. Here every iterator, and a resumed run that skips k
    batches, sees the one stream. Batches run across pass boundaries.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    data = tf.nest.map_structure(tf.convert_to_tensor, data)
    n = int(tf.nest.flatten(data)[0].shape[0])
    if n < 1:
        raise ValueError("shuffled_batches needs at least one example")

    def row(k):  # k-th example of the stream -> its row
        return tf.random.experimental.index_shuffle(
            k % n, seed=tf.stack([tf.constant(seed, tf.int64), k // n]), max_index=n - 1)

    rows = tf.data.Dataset.counter().map(row).batch(batch_size, drop_remainder=True)  # (B,) int64
    return rows.map(lambda i: tf.nest.map_structure(lambda a: tf.gather(a, i), data))


def _batched(arrays, batch_size, seed, shuffle, repeat, drop_remainder):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(arrays[0])
    if drop_remainder and n < batch_size and n > 0:
        raise ValueError(f"{n} examples make no full batch of {batch_size}; "
                         "lower batch_size or pass drop_remainder=False")
    ds = tf.data.Dataset.from_tensor_slices(tuple(arrays))
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # convert after batching: one vectorised op per batch, uint8 kept in memory (4x smaller)
    ds = ds.map(lambda x, y: (to_float(x), y), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def shapes_dataset(n: int = 10_000, batch_size: int = 64, split: str = "train", seed: int = 0,
                   size: int = 32, partial: float | None = None, max_len: int = text.MAX_TOKENS,
                   vocab: text.Vocabulary | None = None, shuffle: bool = True,
                   repeat: bool = False, drop_remainder: bool = True) -> tf.data.Dataset:
    """Captioned shapes -> batches of (image (B, S, S, 3) float32 in [-1, 1], ids (B, max_len) int32).

    ``n`` images come from ``shapes.sample(n, split, seed, size, partial)``; captions are
    encoded with ``vocab`` (default ``text.VOCAB``). Chapter 7.
    """
    images, captions, _ = shapes.sample(n, split=split, seed=seed, size=size, partial=partial)
    ids = (vocab or text.VOCAB).encode(captions, max_len).reshape(len(captions), max_len)
    return _batched((images, ids), batch_size, seed, shuffle, repeat, drop_remainder)


def digits_dataset(batch_size: int = 64, source: str = "offline", split: str = "train",
                   seed: int = 0, size: int = 32, shuffle: bool = True, repeat: bool = False,
                   drop_remainder: bool = True) -> tf.data.Dataset:
    """Digits -> batches of (image (B, S, S, 1) float32 in [-1, 1], label (B,) int32). Chapters 4 and 5."""
    images, labels = digits.load(source, size=size, split=split, seed=seed)
    return _batched((images, labels.astype(np.int32)), batch_size, seed, shuffle, repeat,
                    drop_remainder)
