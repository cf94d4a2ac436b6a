"""Pictures of training: image grids, loss curves, GIFs — used in every chapter.

``to_uint8``, ``tile`` and ``save_gif`` need only numpy and Pillow (the training
callbacks use them); matplotlib is imported inside the plotting functions, so this
module stays light and never imports TensorFlow.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["to_uint8", "tile", "image_grid", "plot_history", "save_gif"]


def to_uint8(images):
    """uint8 pixels from uint8 input (unchanged) or floats in [-1, 1] (the GAN's tanh range).

    Values outside [-1, 1] are clipped and NaN becomes mid-grey, so a diverged run
    still draws.
    """
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return a
    if not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"images must be numeric, got dtype {a.dtype}")
    a = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(np.round((a + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _as_nhwc(images):
    a = to_uint8(images)
    if a.ndim == 3:  # (N, H, W) grey
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3); got {a.shape}")
    return a


def tile(images, nrow=None, pad=1, pad_value=255):
    """(N, H, W[, C]) -> one uint8 image (rows*(H+pad)-pad, nrow*(W+pad)-pad, C).

    ``nrow`` is the number of images per row (as in torchvision's ``make_grid``);
    default: a near-square grid.
    """
    a = _as_nhwc(images)
    n, h, w, c = a.shape
    nrow = int(nrow or math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    out = np.full((rows * (h + pad) - pad, nrow * (w + pad) - pad, c), pad_value, np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        out[r * (h + pad): r * (h + pad) + h, k * (w + pad): k * (w + pad) + w] = a[i]
    return out


def image_grid(images, nrow=None, titles=None, ax=None, figsize=None):
    """Show images in a grid with matplotlib; returns the figure.

    Without ``titles`` the grid is one picture (``tile``) on ``ax``; with ``titles``
    (one per image, e.g. the captions) each image gets its own small axes.
    """
    import matplotlib.pyplot as plt

    a = _as_nhwc(images)
    n = len(a)
    nrow = int(nrow or math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    cmap = "gray" if a.shape[-1] == 1 else None
    if titles is None:
        if ax is None:
            _, ax = plt.subplots(figsize=figsize or (nrow * 0.8, rows * 0.8))
        ax.imshow(tile(a, nrow).squeeze(-1) if cmap else tile(a, nrow), cmap=cmap, vmin=0, vmax=255)
        ax.set_axis_off()
        return ax.figure
    if len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    if ax is not None:
        raise ValueError("image_grid with titles draws its own axes; leave ax=None")
    fig, axes = plt.subplots(rows, nrow, figsize=figsize or (nrow * 1.6, rows * 1.8), squeeze=False)
    for i, sub in enumerate(axes.flat):
        sub.set_axis_off()
        if i < n:
            sub.imshow(a[i].squeeze(-1) if cmap else a[i], cmap=cmap, vmin=0, vmax=255)
            sub.set_title(str(titles[i]), fontsize=7)
    fig.tight_layout()
    return fig


def plot_history(history, keys=None, ax=None):
    """Loss curves from a ``keras.callbacks.History`` (or its ``.history`` dict); returns the figure.

    Losses go on ``ax``; ``d_real``/``d_fake`` (D's mean output) are drawn dashed.
    """
    import matplotlib.pyplot as plt

    logs = getattr(history, "history", history)
    keys = list(keys or [k for k in ("d_loss", "g_loss", "d_real", "d_fake") if k in logs])
    missing = [k for k in keys if k not in logs]
    if missing:
        raise ValueError(f"history has no {missing}; it has {sorted(logs)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for k in keys:
        ax.plot(np.arange(1, len(logs[k]) + 1), logs[k], label=k,
                linestyle="--" if k in ("d_real", "d_fake") else "-")
    ax.set_xlabel("epoch")
    ax.legend()
    return ax.figure


def save_gif(frames, path, fps=4, scale=1):
    """Write frames (uint8 or [-1, 1] arrays, or PIL images) as a looping GIF; returns the path."""
    from PIL import Image

    frames = list(frames)
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    pics = []
    for f in frames:
        if not isinstance(f, Image.Image):
            a = to_uint8(f)
            f = Image.fromarray(a.squeeze(-1) if a.ndim == 3 and a.shape[-1] == 1 else a)
        if scale != 1:
            f = f.resize((f.width * scale, f.height * scale), Image.NEAREST)
        pics.append(f)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=int(1000 / fps), loop=0)
    return path
