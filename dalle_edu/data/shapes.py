"""The captioned-shapes world — Chapter 6 (data for text-to-image) and every chapter after.

One filled, flat-coloured shape on a black square canvas, with a caption in natural
language. The exact spec is the book's page The shapes world (``book/shapes_world.md``);
this module is its only implementation::

    images, captions, attrs = sample(1000, split="train", seed=0, size=32)
    images.shape            # (1000, 32, 32, 3), np.uint8
    captions[0]             # e.g. "a large red circle in the upper left corner"
    attrs[0]                # {"color": "red", "shape": "circle", "size": "big",
                            #  "vpos": "top", "hpos": "left"}

Rendering is vectorised over the batch: each shape is a signed distance per pixel,
computed with broadcasting over (n, S, S), and its coverage of the pixel (a value in
[0, 1]) scales the one palette colour. So every lit pixel is ``k * colour`` with k in
(0, 1] (anti-aliased edges), fully covered pixels are exactly the palette colour, and
there is nothing else on the canvas. Numpy only.

Determinism: the same ``(n, split, seed)`` gives the same bytes. Scenes (attributes,
size factor, jitter) are drawn as fractions of the canvas, so ``size=64`` draws the
same scenes as ``size=32``, only sharper. Captions come from their own random stream,
so asking for more or fewer partial captions never moves a shape.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dalle_edu.data.captions import (  # noqa: F401  (re-exported: chapters say shapes.X)
    ARTICLES, CENTER_PHRASES, CENTER_SHORT, CORNER_PHRASES, MENTIONED, N_CHOICES,
    PICTURE_WORDS, POSITION_PHRASES, SHORT_CORNERS, SHORT_POSITIONS, SYNONYMS, TEMPLATES,
    all_paraphrases, caption, paraphrase, templates, _paraphrase,
)
from dalle_edu.data.world import (  # noqa: F401  (re-exported: chapters say shapes.X)
    COLORS, HALF_EXTENT, HELD_OUT, HPOS, JITTER, KEYS, PARTIAL, POSITION, SCALE_RANGE, SHAPES,
    SIZES, SPLITS, VALUES, VPOS, all_combinations, allowed_pairs, check_attr, _check_split,
)

# ----------------------------------------------------------------------- rendering
_COLOR_ARRAY = np.array(list(COLORS.values()), dtype=np.uint32)  # (8, 3)
# colour lookup: row c * 256 + q holds round(q * rgb_c / 255), q = quantised coverage
_COLOR_LUT = ((np.arange(256, dtype=np.uint32)[None, :, None] * _COLOR_ARRAY[:, None, :] + 127)
              // 255).astype(np.uint8).reshape(-1, 3)                # (8 * 256, 3)
_THREADS = min(4, os.cpu_count() or 1)
_SQRT2, _SQRT5 = np.float32(np.sqrt(2.0)), np.float32(np.sqrt(5.0))


def coverage(shape_id: int, dx, dy, h):
    """Pixel coverage in [0, 1], (m, S, S) float32.

    dx: (m, 1, S) pixel-centre x minus bbox-centre x; dy: (m, S, 1), y grows downwards;
    h: (m, 1, 1) half-extent, all in pixels. Coverage = clip(0.5 - signed distance),
    the area of a pixel-wide box filter that lies inside the shape near an edge.
    """
    if shape_id == 0:  # circle: distance to centre minus radius
        d = np.sqrt(dx * dx + dy * dy)                              # (m, S, S)
        cov = np.subtract(h + 0.5, d, out=d)
    elif shape_id == 1:  # square: separable, so the coverage is exact for a box
        cx = np.clip(h + 0.5 - np.abs(dx), 0, 1)                    # (m, 1, S)
        cy = np.clip(h + 0.5 - np.abs(dy), 0, 1)                    # (m, S, 1)
        return cx * cy
    elif shape_id == 2:  # triangle, apex at (0, -h), base y = +h, base width 2h
        base = h + 0.5 - dy                                          # (m, S, 1)
        # sides: 2|dx| <= dy + h, as a distance (divide by |(2, -1)| = sqrt 5)
        side = (dy + h) / _SQRT5 + 0.5 - (2 / _SQRT5) * np.abs(dx)  # (m, S, S)
        cov = np.minimum(side, base, out=side)
    else:  # diamond: |dx| + |dy| <= h, distance divides by sqrt 2
        cov = (np.abs(dx) / -_SQRT2 + (h / _SQRT2 + 0.5)) - np.abs(dy) / _SQRT2
    return np.clip(cov, 0, 1, out=cov)


def _rasterize(shape_id, color_id, cx, cy, h, size: int, chunk: int = 1024):
    """Draw n shapes: ids (n,), centres and half-extents (n,) in pixels -> (n, S, S, 3) uint8.

    Works in chunks of images that fit in cache; numpy releases the GIL, so chunks run
    on a few threads (the result does not depend on how many).
    """
    n = len(shape_id)
    out = np.zeros((n, size, size, 3), np.uint8)
    grid = np.arange(size, dtype=np.float32) + 0.5                  # pixel centres
    chunk = max(1, chunk * 1024 // (size * size))

    def draw(start):
        sl = slice(start, min(start + chunk, n))
        cov = np.zeros((sl.stop - sl.start, size, size), np.float32)  # (m, S, S)
        sid = shape_id[sl]
        for k in range(len(SHAPES)):
            idx = np.flatnonzero(sid == k)
            if idx.size == 0:
                continue
            j = idx + sl.start
            dx = grid[None, None, :] - cx[j, None, None]             # (m, 1, S)
            dy = grid[None, :, None] - cy[j, None, None]             # (m, S, 1)
            cov[idx] = coverage(k, dx, dy, h[j, None, None])
        # quantise coverage to q in 0..255, then colour = round(q * rgb / 255) by
        # table lookup: exactly the palette colour where q = 255, black where q = 0
        q = (cov * 255 + 0.5).astype(np.int32)                       # (m, S, S)
        q += (color_id[sl] * 256).astype(np.int32)[:, None, None]
        np.take(_COLOR_LUT, q, axis=0, out=out[sl])                  # (m, S, S, 3)

    starts = range(0, n, chunk)
    if len(starts) > 1 and _THREADS > 1:
        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(draw, starts))
    else:
        for start in starts:
            draw(start)
    return out


def _geometry(attr_ids, scale, jitter, size: int):
    """Attribute ids + random factors (fractions of S) -> centres and half-extents in pixels."""
    _, _, z, v, h = attr_ids
    half = np.array([HALF_EXTENT[s] for s in SIZES], np.float32)[z] * scale * size
    vfrac = np.array([POSITION[p] for p in VPOS], np.float32)[v]
    hfrac = np.array([POSITION[p] for p in HPOS], np.float32)[h]
    cx = (hfrac + jitter[:, 0]) * size
    cy = (vfrac + jitter[:, 1]) * size
    return cx.astype(np.float32), cy.astype(np.float32), half.astype(np.float32)


def _draw_factors(rng, n):
    scale = rng.uniform(*SCALE_RANGE, size=n).astype(np.float32)
    jitter = rng.uniform(-JITTER, JITTER, size=(n, 2)).astype(np.float32)  # (x, y)
    return scale, jitter


def _ids_to_attrs(ids) -> list[dict]:
    c, s, z, v, h = (a.tolist() for a in ids)
    colors = tuple(COLORS)
    return [dict(color=colors[a], shape=SHAPES[b], size=SIZES[d], vpos=VPOS[e], hpos=HPOS[f])
            for a, b, d, e, f in zip(c, s, z, v, h)]


def _check_size(size):
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an int >= 8 (32 by default, 64 on gpu), got {size!r}")


def render(attrs, seed: int = 0, size: int = 32) -> np.ndarray:
    """Draw the given attribute dicts -> (n, size, size, 3) uint8. Chapter 6.

    ``attrs`` is a list of dicts (a single dict counts as a list of one; the result is
    always a batch). A partial dict, e.g. ``{"color": "red", "shape": "circle"}``, has
    its missing keys filled at random from ``seed`` (uniformly over all values, held-out
    pairs included: ``render`` draws what it is asked to, splits are ``sample``'s job).
    The size factor and jitter also come from ``seed``.
    """
    _check_size(size)
    if isinstance(attrs, dict):
        attrs = [attrs]
    attrs = [check_attr(a, full=False) for a in attrs]
    n = len(attrs)
    rng = np.random.default_rng([int(seed), 1_000])  # a stream apart from sample()'s
    fill = {k: rng.integers(len(VALUES[k]), size=n) for k in KEYS}
    scale, jitter = _draw_factors(rng, n)
    ids = tuple(np.array([VALUES[k].index(a[k]) if k in a else int(fill[k][i])
                          for i, a in enumerate(attrs)], dtype=np.int64) for k in KEYS)
    cx, cy, half = _geometry(ids, scale, jitter, size)
    return _rasterize(ids[1], ids[0], cx, cy, half, size)


def sample(n: int, split: str = "train", seed: int = 0, size: int = 32,
           partial: float | None = None, return_mentioned: bool = False):
    """Draw ``n`` captioned images -> ``(images, captions, attrs)``. Chapter 6.

    images: (n, size, size, 3) uint8; captions: list of paraphrased captions;
    attrs: list of dicts with all five keys, the attributes actually drawn.

    Splits: ``train`` and ``test`` draw the same 28 (colour, shape) pairs from
    different random streams; ``compositional`` draws only the ``HELD_OUT`` pairs.
    Colour/shape pair, size, vertical and horizontal position are each uniform.

    ``partial``: the share of captions that leave out the size, the position, or both
    (one of the three, uniformly). ``None`` -> ``PARTIAL[split]``: 0.25 for train, 0
    for test and compositional. With ``return_mentioned=True`` a fourth item lists,
    per caption, the tuple of attribute keys the caption names (what
    ``dalle_edu.text.parse(caption)`` returns).
    """
    split_id = _check_split(split)
    _check_size(size)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    partial = PARTIAL[split] if partial is None else float(partial)
    if not 0.0 <= partial <= 1.0:
        raise ValueError(f"partial must be in [0, 1], got {partial}")
    # one seed sequence per (seed, split): independent streams for scenes and captions
    scene_rng = np.random.default_rng([int(seed), split_id, 0])
    caption_rng = np.random.default_rng([int(seed), split_id, 1])

    pairs = allowed_pairs(split)
    pair_ids = np.array([(tuple(COLORS).index(c), SHAPES.index(s)) for c, s in pairs])
    p = pair_ids[scene_rng.integers(len(pairs), size=n)]            # (n, 2)
    ids = (p[:, 0], p[:, 1], scene_rng.integers(2, size=n),
           scene_rng.integers(3, size=n), scene_rng.integers(3, size=n))
    scale, jitter = _draw_factors(scene_rng, n)
    cx, cy, half = _geometry(ids, scale, jitter, size)
    images = _rasterize(ids[1], ids[0], cx, cy, half, size)
    attrs = _ids_to_attrs(ids)

    # which keys each caption names: all, or (with prob. partial) drop size / pos / both
    u = caption_rng.random((n, 2))
    drop = np.where(u[:, 0] < partial, 1 + (u[:, 1] * 3).astype(int), 0)  # 0 none,1 size,2 pos,3 both
    choices = caption_rng.random((n, N_CHOICES))
    mentioned = [MENTIONED[d] for d in drop.tolist()]
    captions = [_paraphrase(a, m, c) for a, m, c in zip(attrs, mentioned, choices.tolist())]
    if return_mentioned:
        return images, captions, attrs, mentioned
    return images, captions, attrs
