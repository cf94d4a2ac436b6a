"""Plots of training: image grids with titles, loss curves — used in every chapter.

The array helpers (``to_uint8``, ``tile``, ``save_gif``) live in ``dalle_edu.images``.
matplotlib is imported inside the plotting functions, so this module never imports
TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

# to_uint8 is re-exported too: notebooks 3, 4 and 6 call viz.to_uint8 and viz.tile
from dalle_edu.images import _as_nhwc, tile, to_uint8  # noqa: F401

__all__ = ["image_grid", "plot_history"]


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
