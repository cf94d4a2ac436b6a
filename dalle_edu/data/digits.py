"""Real handwritten digits, offline first — Chapter 4 (DCGAN) and Chapter 5 (label-conditional GAN).

``load("offline")`` needs no network: scikit-learn's bundled 8x8 digits (1,797 images),
upscaled to ``size``. ``load("mnist")`` / ``load("fashion_mnist")`` download through
``keras.datasets``; when that fails (no network, a firewall) they warn in one line and
fall back to the offline digits — for fashion too, so the labels are then digits::

    images, labels = digits.load("offline", size=32, split="train")
    images.shape, images.dtype      # (1438, 32, 32, 1) uint8
    digits.caption(7)               # "a handwritten seven"

Numpy only; keras is imported inside the online path.
"""

from __future__ import annotations

import warnings

import numpy as np

from dalle_edu.images import to_float

SOURCES = ("offline", "mnist", "fashion_mnist")
SPLITS = ("train", "test", "all")
CLASS_NAMES = ("zero", "one", "two", "three", "four",
               "five", "six", "seven", "eight", "nine")
FASHION_CLASS_NAMES = ("T-shirt", "trouser", "pullover", "dress", "coat",
                       "sandal", "shirt", "sneaker", "bag", "ankle boot")
OFFLINE_TEST_FRACTION = 0.2  # offline test split: a fixed 20% (359 of 1,797 images)


class DownloadFallbackWarning(UserWarning):
    """A dataset could not be downloaded; the offline digits are used instead."""


def caption(label: int, source: str = "mnist") -> str:
    """Class name as a caption: 7 -> "a handwritten seven" ("a photo of a sneaker" for fashion)."""
    label = int(label)
    if not 0 <= label < 10:
        raise ValueError(f"label must be in 0..9, got {label}")
    if source == "fashion_mnist":
        name = FASHION_CLASS_NAMES[label].lower()
        return f"a photo of {'an' if name[0] in 'aeiou' else 'a'} {name}"
    return f"a handwritten {CLASS_NAMES[label]}"


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize (n, h, w) -> (n, size, size) float32, pixel centres aligned (half-pixel)."""

    def weights(n_in: int, n_out: int) -> np.ndarray:  # (n_out, n_in), rows sum to 1
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = src - lo
        w = np.zeros((n_out, n_in))
        np.add.at(w, (np.arange(n_out), lo), 1 - frac)
        np.add.at(w, (np.arange(n_out), hi), frac)
        return w.astype(np.float32)

    images = np.asarray(images, np.float32)
    _, h, w = images.shape
    if (h, w) == (size, size):
        return images
    # separable: rows then columns, (size, h) @ (n, h, w) @ (w, size)
    return weights(h, size) @ images @ weights(w, size).T


def _offline():
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    data = load_digits()
    images = data.images.astype(np.float32) * (255.0 / 16.0)  # 0..16 -> 0..255, (1797, 8, 8)
    labels = data.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(labels))   # a fixed split, not `seed`
    n_test = int(round(OFFLINE_TEST_FRACTION * len(labels)))
    parts = {"test": perm[:n_test], "train": perm[n_test:], "all": np.arange(len(labels))}
    return images, labels, parts


def _online(source: str):
    import keras  # lazy: the offline path never imports TensorFlow

    module = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[source]
    (x_train, y_train), (x_test, y_test) = module.load_data()
    images = np.concatenate([x_train, x_test]).astype(np.float32)   # (70000, 28, 28)
    labels = np.concatenate([y_train, y_test]).astype(np.int64)
    n_train = len(y_train)
    parts = {"train": np.arange(n_train), "test": np.arange(n_train, len(labels)),
             "all": np.arange(len(labels))}
    return images, labels, parts


def load(source: str = "offline", size: int = 32, split: str = "train", seed: int | None = 0,
         as_float: bool = False, return_info: bool = False):
    """Digits -> ``(images, labels)``. Chapters 4 and 5.

    images: (n, size, size, 1) uint8 in 0..255 (float32 in [-1, 1] with ``as_float``);
    labels: (n,) int64. ``split``: "train", "test" or "all" (offline: a fixed 80/20 split;
    MNIST: its own 60k/10k). ``seed`` shuffles the order (``None`` keeps it).
    ``return_info=True`` adds a dict: ``{"source": what was loaded, "fallback": bool}``.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid sources are: {', '.join(SOURCES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are: {', '.join(SPLITS)}")
    if not isinstance(size, (int, np.integer)) or size < 4:
        raise ValueError(f"size must be an int >= 4, got {size!r}")
    loaded, fallback = source, False
    if source != "offline":
        try:
            images, labels, parts = _online(source)
        except Exception as err:  # keras raises a bare Exception on a failed URL fetch
            reason = (str(err).strip().splitlines() or [""])[0][:160]
            what = "handwritten digits, not clothing; " if source == "fashion_mnist" else ""
            warnings.warn(
                f"could not download {source} ({type(err).__name__}: {reason}); falling back to "
                f"the offline 8x8 scikit-learn digits ({what}upscaled to {size}x{size})",
                DownloadFallbackWarning, stacklevel=2)
            loaded, fallback = "offline", True
    if loaded == "offline":
        images, labels, parts = _offline()
    idx = parts[split]
    if seed is not None:
        idx = np.random.default_rng(seed).permutation(idx)
    x = resize(images[idx], size)                                   # (n, size, size)
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)[..., None]     # (n, size, size, 1)
    if as_float:
        x = to_float(x)  # [-1, 1], the course's one conversion
    out = (x, labels[idx])
    return out + ({"source": loaded, "fallback": fallback},) if return_info else out
