"""Plots of training: image grids with titles, loss curves — used in every chapter.

The array helpers (``to_uint8``, ``tile``, ``save_gif``) live in ``dalle_edu.images``.
matplotlib is imported inside the plotting functions, so this module never imports
TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

# to_uint8 is re-exported too: notebooks 3, 4 and 6 call viz.to_uint8 and viz.tile
from dalle_edu.images import PAGE_INCHES, _as_nhwc, tile, to_uint8  # noqa: F401

__all__ = ["image_grid", "plot_history", "show_rows", "ring_row", "table"]


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


def show_rows(panels, prompts=None, n=6, seed=0, judge=None, labels=None, scale=0.5,
              title=None, show=True):
    """One panel per entry of ``panels``, one row of ``n`` samples per prompt — Chapters 7, 8, 12.

    ``panels``: name -> a model (``generate(prompts, seed=, n_per_prompt=)``), a function
    ``draw(prompts, seed, n)``, or an array of ``rows * n`` images, row by row. Each row
    is labelled with its prompt and ``[k/n]``: how many samples ``judge(row, wanted)`` (a
    share; by default the geometry check, ``geometry.fidelity``) reads as what the prompt
    names. ``judge=False`` counts nothing; ``labels`` replace the prompts as row labels.
    Shows the figure once and returns nothing; ``show=False`` returns it instead.
    """
    import matplotlib.pyplot as plt

    from dalle_edu import geometry, text

    names = labels if labels is not None else prompts
    if not panels or not names:
        raise ValueError("show_rows needs at least one panel and one prompt or label per row")
    if judge is None:
        judge = lambda row, wanted: geometry.fidelity(row, wanted)["fidelity"]  # noqa: E731
    wanted = [text.parse(p) for p in prompts] if judge is not False else None
    # no wider than the book's column (904 px at 1280, 80 dpi): smaller samples instead
    scale = min(scale, ((PAGE_INCHES - 2.8) / len(panels) - 0.4) / n)
    fig, axes = plt.subplots(1, len(panels), dpi=80, squeeze=False, layout="constrained",
                             figsize=((n * scale + 0.4) * len(panels) + 2.8,
                                      scale * 1.1 * len(names) + 0.8))
    for j, (ax, (name, source)) in enumerate(zip(axes[0], panels.items())):
        if hasattr(source, "generate"):
            drawn = source.generate(prompts, seed=seed, n_per_prompt=n)
        elif callable(source):
            drawn = source(prompts, seed, n)
        else:
            drawn = source
        drawn = np.asarray(drawn)
        if len(drawn) != n * len(names):
            raise ValueError(f"panel {name!r}: expected {n * len(names)} images "
                             f"({len(names)} rows x {n}), got {len(drawn)}")
        rows = np.split(drawn, len(names))
        marks = ([f"[{round(judge(r, [w] * n) * n)}/{n}]" for r, w in zip(rows, wanted)]
                 if wanted is not None else [""] * len(rows))
        ticks = ([f"{p}  {m}".rstrip() for p, m in zip(names, marks)] if j == 0 else marks)
        ax.imshow(tile(drawn, nrow=n, pad_value=110))
        step = drawn.shape[1] + 1  # a row starts every S + pad pixels
        ax.set_yticks([step * (i + 0.5) for i in range(len(names))], ticks, fontsize=8)
        ax.set_xticks([])
        if name:
            ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    if not show:
        return fig
    _display(fig)


def ring_row(snaps, axes, mixture, label, lim=3.0):
    """A row of 2-D scatters of toy samples at evenly spaced snapshots — Chapters 2, 3.

    ``snaps`` has ``steps`` and ``samples`` (``callbacks.Snapshots``); one snapshot per
    axis in ``axes``, from the first to the last. Red crosses mark the mixture's centres;
    each title gives the step, ``on_mode`` and the modes covered, counted and by index
    (``toy.collapse_report``), so a mode that is lost or found shows. Axes span
    [-lim, lim].
    """
    from dalle_edu.data import toy

    idx = np.linspace(0, len(snaps.steps) - 1, len(axes)).round().astype(int)
    for ax, i in zip(axes, idx):
        s = np.asarray(snaps.samples[i])
        r = toy.collapse_report(s, mixture)
        ax.scatter(s[:, 0], s[:, 1], s=1, alpha=0.4)
        ax.scatter(mixture.modes[:, 0], mixture.modes[:, 1], marker="x",
                   color="tab:red", s=20)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
        covered = (f"{r.modes} mode{'s' if r.modes > 1 else ''}: "
                   + "".join(map(str, r.occupied))) if r.modes else "no mode"
        ax.set_title(f"{label}, step {snaps.steps[i]}\non_mode {r.on_mode:.2f}\n{covered}",
                     fontsize=8)


def table(rows, index=None, digits=3, shares=None):
    """A list of dicts (one per row) -> a pandas DataFrame of formatted cells.

    Floats get ``digits`` decimals, integers thousands separators, ``None`` a dash; strings
    stay as they are. ``shares`` maps a column of shares to its n: its cells read
    ``0.976 [0.965, 0.984]``, the share and its 95 % Wilson interval
    (``metrics.share_text``). Jupyter, Colab and the book render the frame as an HTML
    table, and its plain text is a table too.
    """
    import numbers

    import pandas as pd

    from dalle_edu import metrics

    shares = dict(shares or {})

    def cell(v, column=None):
        if v is None or (isinstance(v, float) and v != v):
            return "–"
        if column in shares and isinstance(v, numbers.Real) and not isinstance(v, bool):
            return metrics.share_text(float(v), shares[column], with_n=False)
        if isinstance(v, bool) or not isinstance(v, numbers.Number):
            return v
        return f"{v:,}" if isinstance(v, numbers.Integral) else f"{v:.{digits}f}"

    frame = pd.DataFrame([{k: cell(v, k) for k, v in row.items()} for row in rows])
    frame = frame.fillna("–")  # a key a row does not have
    return frame.set_index(index) if index is not None else frame


def rerank_table(curves, n):
    """Reranking curves -> one table: is keeping the best of k better than k = 1?

    ``curves`` maps a model's name to its ``measures.rerank_curve`` rows (``n`` prompts a
    split). Per model and k: the share of kept images the geometry check reads right on
    each split with its 95 % interval; beside it, whether it differs from k = 1 beyond
    the noise or is a tie (``metrics.tie``); and the milliseconds per kept image.
    """
    from dalle_edu import metrics

    def against_k1(curve, row, split):
        if row is curve[0]:
            return None
        a, b = curve[0][f"geometry_{split}"], row[f"geometry_{split}"]
        return "a tie" if metrics.tie((a, n), (b, n)) else "beyond the noise"

    rows = [{"model": name, "k": r["k"],
             "test": r["geometry_test"], "test vs k = 1": against_k1(curve, r, "test"),
             "held-out": r["geometry_compositional"],
             "held-out vs k = 1": against_k1(curve, r, "compositional"),
             "ms per kept image": r["ms_per_image_test"]}
            for name, curve in curves.items() for r in curve]
    return table(rows, index=["model", "k"], digits=1, shares={"test": n, "held-out": n})


def _display(fig):
    """Show a figure once, as a stored image output, and close it."""
    import matplotlib.pyplot as plt
    from IPython import get_ipython

    if get_ipython() is not None:
        from IPython.display import display

        display(fig)
    plt.close(fig)
