"""Image arrays as numpy sees them: the one uint8 <-> [-1, 1] conversion, grids, GIFs — Chapters 4-7.

A GAN's generator ends in tanh, so its pictures are float32 in [-1, 1]; files, screens
and metrics want uint8 in 0..255. ``to_uint8`` and ``to_float`` are the course's only
conversions between the two (``pipeline.to_float`` is the same formula as a tensor op,
for ``Dataset.map``). numpy and Pillow only: this module never imports TensorFlow.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["to_uint8", "to_float", "tile", "label_rows", "save_gif"]


def to_uint8(images):
    """uint8 pixels from uint8 input (unchanged) or floats in [-1, 1] (the GAN's tanh range). Chapter 4.

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


def check_images(images, size: int, what: str) -> np.ndarray:
    """A model's image input checked -> float32 (N, size, size, 3) in [-1, 1].

    uint8 0..255 or floats in [-1, 1]; anything else is a one-line ``ValueError`` naming
    what ``what`` (e.g. "this mini-CLIP") expects.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1:] != (size, size, 3):
        raise ValueError(f"images must be (N, {size}, {size}, 3) for {what}, got {x.shape}")
    if x.dtype == np.uint8:
        return to_float(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"images must be uint8, or floats in [-1, 1]; got dtype {x.dtype}")
    if x.size and not (np.isfinite(x).all() and x.min() >= -1.001 and x.max() <= 1.001):
        raise ValueError("images must be uint8, or floats in [-1, 1]; got floats in "
                         f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}]")
    return x.astype(np.float32)


def to_float(images):
    """float32 in [-1, 1] from uint8 0..255 or from floats (already in [-1, 1], kept). Chapter 4.

    Other integer dtypes raise ``TypeError``: 0..255 in an int64 array and a label
    array look alike, and guessing would silently give a wrong range.
    """
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"images must be uint8 (0..255) or float ([-1, 1]), got dtype {a.dtype}")
    return a.astype(np.float32)


def _as_nhwc(images):
    """uint8 (N, H, W, C) with C in (1, 3), from (N, H, W) grey or (N, H, W, C)."""
    a = to_uint8(images)
    if a.ndim == 3:  # (N, H, W) grey
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3); got {a.shape}")
    return a


def tile(images, nrow=None, pad=1, pad_value=255):
    """(N, H, W[, C]) -> one uint8 image (rows*(H+pad)-pad, nrow*(W+pad)-pad, C). Chapter 4.

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


def label_rows(grid, labels, row_height, pad=1, width=None, background=255, color=0):
    """A grid (H, W, 3) uint8 with a text column on its left, one label per row. Chapter 7.

    ``row_height``: pixels per row of the grid without its ``pad`` (rows start every
    ``row_height + pad`` pixels). ``width`` of the text column defaults to the longest
    label. Uses Pillow's built-in font, so it needs no font files.
    """
    from PIL import Image, ImageDraw, ImageFont

    grid = to_uint8(grid)
    try:  # Pillow >= 10.1 scales its built-in font; older ones have one small bitmap size
        font = ImageFont.load_default(size=max(11, min(18, row_height // 10)))
    except TypeError:
        font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max((measure.textlength(str(t), font=font) for t in labels), default=0)
    width = int(width or text_w + 12)
    canvas = Image.new("RGB", (width + grid.shape[1], grid.shape[0]), (background,) * 3)
    canvas.paste(Image.fromarray(grid if grid.shape[-1] == 3 else grid.repeat(3, -1)), (width, 0))
    draw = ImageDraw.Draw(canvas)
    for r, label in enumerate(labels):
        y = r * (row_height + pad) + row_height / 2
        draw.text((width - 6, y), str(label), fill=(color,) * 3, font=font, anchor="rm")
    return np.asarray(canvas)


def save_gif(frames, path, fps=4, scale=1):
    """Write frames (uint8 or [-1, 1] arrays, or PIL images) as a looping GIF; returns the path. Chapter 4."""
    from PIL import Image  # lazy: only GIFs need Pillow

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


PAGE_INCHES = 10.9
"""The widest figure, in inches at 80 dpi, that the book shows at its natural size: the
article column at a 1280-px window is 904 px (book/_static/course.css), less a margin."""
