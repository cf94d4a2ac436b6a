"""tf.data pipelines: batch shapes, dtypes, the [-1, 1] range, determinism."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from dalle_edu import pipeline, text  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402


def test_shapes_batches():
    ds = pipeline.shapes_dataset(n=200, batch_size=32, seed=0, max_len=12)
    batches = list(ds)
    assert len(batches) == 6                                  # drop_remainder: 200 // 32
    images, ids = batches[0]
    assert images.shape == (32, 32, 32, 3) and images.dtype == tf.float32
    assert ids.shape == (32, 12) and ids.dtype == tf.int32
    x = images.numpy()
    assert x.min() == -1.0 and x.max() == 1.0                 # black background, full colour
    assert np.allclose((x + 1) * 127.5, np.rint((x + 1) * 127.5), atol=1e-4)  # from uint8
    # the tokens are the captions of the pictured shapes
    for row in ids.numpy()[:8]:
        assert {"color", "shape"} <= set(text.parse(text.decode(row)))


def test_shapes_dataset_is_deterministic_and_shuffled():
    first = lambda ds: next(iter(ds))  # noqa: E731
    a = first(pipeline.shapes_dataset(n=256, batch_size=64, seed=3))
    b = first(pipeline.shapes_dataset(n=256, batch_size=64, seed=3))
    c = first(pipeline.shapes_dataset(n=256, batch_size=64, seed=4))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    plain = first(pipeline.shapes_dataset(n=256, batch_size=64, seed=3, shuffle=False))
    images, captions, _ = shapes.sample(256, seed=3)
    assert np.allclose(plain[0].numpy(), images[:64] / 127.5 - 1, atol=1e-6)
    assert text.decode(plain[1].numpy()) == [" ".join(text.tokenize(c)) for c in captions[:64]]


def test_remainder_and_repeat():
    ds = pipeline.shapes_dataset(n=70, batch_size=32, drop_remainder=False, split="test", size=16)
    assert [int(x.shape[0]) for x, _ in ds] == [32, 32, 6]
    ds = pipeline.shapes_dataset(n=70, batch_size=32, repeat=True)
    assert len(list(ds.take(7))) == 7                          # more than one pass
    with pytest.raises(ValueError, match="no full batch"):
        pipeline.shapes_dataset(n=10, batch_size=32)


def test_digits_batches():
    ds = pipeline.digits_dataset(batch_size=50, size=32, split="test")
    batches = list(ds)
    assert len(batches) == 359 // 50
    images, labels = batches[0]
    assert images.shape == (50, 32, 32, 1) and images.dtype == tf.float32
    assert labels.shape == (50,) and labels.dtype == tf.int32
    x = images.numpy()
    assert -1.0 <= x.min() and x.max() <= 1.0 and x.min() == -1.0
    assert set(np.concatenate([l.numpy() for _, l in batches]).tolist()) == set(range(10))


def test_tensor_to_float_matches_the_numpy_one():
    from dalle_edu import images  # a module name the tests above use for batches

    x = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)
    assert np.array_equal(pipeline.to_float(x).numpy(), images.to_float(x))


def test_shuffled_batches_is_one_stateless_stream_a_new_permutation_each_pass():
    n, batch = 12, 5
    rows = np.arange(n)
    ds = pipeline.shuffled_batches((rows, rows * 10), batch, seed=3)
    take = lambda it, k: [next(it) for _ in range(k)]  # noqa: E731
    a, b = take(iter(ds), 6), take(iter(ds), 6)  # two iterators of one dataset: one stream
    for (x, y), (x2, y2) in zip(a, b):
        assert x.shape == (batch,) and np.array_equal(x, x2) and np.array_equal(y, y2)
        assert np.array_equal(y.numpy(), x.numpy() * 10)  # the tuple's rows stay together
    stream = np.concatenate([x.numpy() for x, _ in a])  # 30 rows: batches cross pass boundaries
    passes = [stream[:n], stream[n:2 * n]]
    for p in passes:  # each pass over the N rows is a permutation of them
        assert sorted(p.tolist()) == rows.tolist()
    assert not np.array_equal(passes[0], passes[1])  # and the next pass another order
    assert not np.array_equal(passes[0], rows)  # shuffled, not in order
    # a dataset built again with the same seed gives the same stream (resumption skips into
    # it), another seed another one
    again = np.concatenate([x.numpy() for x, _ in pipeline.shuffled_batches((rows, rows), batch, 3).take(6)])
    other = np.concatenate([x.numpy() for x, _ in pipeline.shuffled_batches((rows, rows), batch, 4).take(6)])
    assert np.array_equal(again, stream) and not np.array_equal(other, stream)
    skipped = np.concatenate([x.numpy() for x in pipeline.shuffled_batches(rows, batch, 3).skip(2).take(2)])
    assert np.array_equal(skipped, stream[2 * batch:4 * batch])  # a bare array works too
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        pipeline.shuffled_batches(rows, 0, seed=0)



def test_shuffled_batches_have_a_static_batch_size_for_several_replicas():
    """Endless, so every batch is whole: its size is in the spec, and a global batch the
    replicas split is checked before the first step (checks.check_global_batch)."""
    from dalle_edu import checks

    ds = pipeline.shuffled_batches(np.zeros((10, 3), "float32"), 4, seed=0)
    assert ds.element_spec.shape.as_list() == [4, 3]
    checks.check_global_batch(checks.static_shape(ds.element_spec)[0], 2)
