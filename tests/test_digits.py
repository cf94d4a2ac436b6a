"""Handwritten digits: the offline set, and the fallback when a download is blocked."""

import numpy as np
import pytest

from dalle_edu.data import digits


def test_offline_shapes_labels_and_range():
    images, labels = digits.load("offline", size=32, split="train")
    assert images.dtype == np.uint8 and images.shape == (1438, 32, 32, 1)
    assert labels.shape == (1438,) and labels.dtype == np.int64
    assert set(labels.tolist()) == set(range(10))
    assert images.min() == 0 and images.max() == 255
    test_images, test_labels = digits.load("offline", size=16, split="test")
    assert test_images.shape == (359, 16, 16, 1)
    _, all_labels = digits.load("offline", split="all", seed=None)
    assert len(all_labels) == 1797                      # train + test = all
    assert np.array_equal(np.bincount(labels) + np.bincount(test_labels), np.bincount(all_labels))


def test_offline_is_deterministic_and_the_split_is_fixed():
    a = digits.load(seed=3)
    b = digits.load(seed=3)
    c = digits.load(seed=4)
    assert a[0].tobytes() == b[0].tobytes() and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])               # another order...
    assert sorted(a[0].reshape(len(a[0]), -1).sum(1).tolist()) == \
        sorted(c[0].reshape(len(c[0]), -1).sum(1).tolist())  # ...of the same images


def test_as_float_and_native_size():
    x, _ = digits.load(size=8, as_float=True, split="test")
    assert x.dtype == np.float32 and x.shape == (359, 8, 8, 1)
    assert x.min() == -1.0 and x.max() == 1.0
    from sklearn.datasets import load_digits
    raw = load_digits().images
    native, _ = digits.load(size=8, split="all", seed=None)
    assert np.array_equal(native[..., 0], np.rint(raw * 255 / 16).astype(np.uint8))


def test_resize_is_bilinear_and_keeps_constants():
    flat = np.full((2, 8, 8), 7.0)
    assert np.allclose(digits.resize(flat, 32), 7.0)
    ramp = np.tile(np.arange(4.0), (1, 4, 1))            # (1, 4, 4), x-ramp
    out = digits.resize(ramp, 8)[0, 0]
    assert np.allclose(out, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])


def test_captions_and_class_names():
    assert digits.caption(7) == "a handwritten seven"
    assert digits.CLASS_NAMES[0] == "zero" and len(digits.CLASS_NAMES) == 10
    assert digits.caption(9, source="fashion_mnist") == "a photo of an ankle boot"
    with pytest.raises(ValueError, match="0..9"):
        digits.caption(10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown source 'emnist'"):
        digits.load("emnist")
    with pytest.raises(ValueError, match="unknown split"):
        digits.load(split="val")


def _blocked(*args, **kwargs):
    # what keras.utils.get_file raises behind a firewall
    raise Exception("URL fetch failure on https://storage.googleapis.com/tensorflow/"
                    "tf-keras-datasets/mnist.npz: None -- [Errno -3] Temporary failure in "
                    "name resolution")


@pytest.mark.parametrize("source, error", [
    ("mnist", _blocked),
    ("fashion_mnist", OSError("[Errno 101] Network is unreachable")),
])
def test_online_falls_back_to_offline_when_the_download_is_blocked(monkeypatch, source, error):
    keras = pytest.importorskip("keras")
    module = getattr(keras.datasets, source)

    def load_data(*args, **kwargs):
        if callable(error):
            error()
        raise error

    monkeypatch.setattr(module, "load_data", load_data)
    with pytest.warns(digits.DownloadFallbackWarning) as record:
        images, labels, info = digits.load(source, size=32, return_info=True)
    message = str(record[0].message)
    assert f"could not download {source}" in message and "offline" in message
    assert "\n" not in message
    assert ("not clothing" in message) == (source == "fashion_mnist")
    assert info == {"source": "offline", "fallback": True}
    assert images.shape == (1438, 32, 32, 1) and labels.shape == (1438,)


def test_online_path_converts_keras_arrays(monkeypatch):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    fake = ((rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), np.arange(6) % 10),
            (rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), np.arange(4)))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda *a, **k: fake)
    images, labels, info = digits.load("mnist", size=28, split="test", seed=None, return_info=True)
    assert info == {"source": "mnist", "fallback": False}
    assert np.array_equal(images[..., 0], fake[1][0]) and np.array_equal(labels, fake[1][1])
    images, _ = digits.load("mnist", size=32, split="train")
    assert images.shape == (6, 32, 32, 1) and images.dtype == np.uint8
