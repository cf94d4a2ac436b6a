"""Reading shapes-world images with geometry, no learning — Chapter 10 (judging generators).

A probe (``dalle_edu.probe``) is a CNN: it can be fooled, and it has its own error.
The shapes world is simple enough to read by hand, so this module does, with numpy only:

* **lit pixels**: max channel > 20 % of full scale (``color_masks``: the course's one rule).
* **colour**: the palette colour nearest to the mean *brightness-normalised* colour of the
  lit pixels (an anti-aliased edge ``k * colour`` normalises back to ``colour``), and
  ``off_palette``, the share of lit pixels farther than 0.25 (max-abs) from it.
* **object**: the largest 8-connected component of lit pixels (label propagation with
  pointer jumping, vectorised over the batch); ``lit_share`` is its share of all lit
  pixels, below 1 when there are stray pixels.
* **shape**: for each of circle, square, triangle and diamond, the ideal shape whose area
  and centroid match the object's (the method of moments on soft coverage, so partial
  edge pixels count); a shape cut by the canvas edge is completed with the current guess
  and the fit repeated. ``shape_fit`` is the soft IoU (sum of min over sum of max,
  Jaccard on coverage) of the best ideal; shape = its argmax.
* **size** and **position**: from the best ideal's half-extent and bounding-box centre,
  read as the nearest of the world's values (the shapes world's spec: ``book/shapes_world.md``).

``read(images)`` gives one dict per image; ``fidelity(images, wanted)`` scores them
against the prompts' attributes, like ``probe.caption_fidelity`` does with the probe.
"""

from __future__ import annotations

import numpy as np

from dalle_edu.data.shapes import coverage
from dalle_edu.data.world import (COLORS, HALF_EXTENT, HPOS, KEYS, POSITION, SHAPES, SIZES,
                                  VALUES, VPOS, check_attr)
from dalle_edu.images import to_float

LIT = 0.2            # a pixel is lit when its max channel exceeds 20 % of full scale
TOLERANCE = 0.25     # a lit pixel is off-palette when its normalised colour is this far
_PALETTE = np.array(list(COLORS.values()), np.float32) / 255.0           # (8, 3)
_PALETTE /= _PALETTE.max(1, keepdims=True)                              # orange: (1, .5, 0)
# ideal shapes with half-extent h and bounding-box centre (cx, cy): area = _AREA * h²,
# centroid = (cx, cy + _DROP * h) — a triangle's centroid sits a third below the centre
_AREA = np.array([np.pi, 4.0, 2.0, 2.0], np.float32)                   # circle ... diamond
_DROP = np.array([0.0, 0.0, 1 / 3, 0.0], np.float32)
_FIT_ROUNDS = 3      # completion rounds for shapes the canvas edge cuts
# "strict": read right *and* drawn as cleanly as renders are (their shape fit is >= 0.93
# even for big shapes cut by a canvas corner; their off-palette share is 0)
STRICT_FIT = 0.90
STRICT_OFF_PALETTE = 0.05
_CHUNK = 256         # images per block: memory stays ~ _CHUNK * S² * 40 bytes


# ----------------------------------------------------------------------- input
def _as_unit(images) -> np.ndarray:
    """(N, S, S, 3) uint8 or float in [-1, 1] -> float32 in [0, 1]; anything else: ValueError."""
    a = np.asarray(images)
    if a.ndim != 4 or a.shape[-1] != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"images must be a batch of square RGB images (N, S, S, 3), "
                         f"got shape {a.shape}")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"images must be uint8 (0..255) or float in [-1, 1], "
                             f"got dtype {a.dtype}")
        if not np.isfinite(a).all():
            raise ValueError("float images must lie in [-1, 1], but hold NaN or inf")
        if a.size and (a.min() < -1.001 or a.max() > 1.001):
            raise ValueError(f"float images must lie in [-1, 1], got values in "
                             f"[{a.min():.3g}, {a.max():.3g}] (uint8 0..255 goes as uint8)")
    return np.clip((to_float(a) + 1.0) / 2.0, 0.0, 1.0)


# ----------------------------------------------------------------------- pieces
def _total(a: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n,) sum over everything but the batch axis."""
    return a.reshape(len(a), -1).sum(1)


def _window(a: np.ndarray, fill, op) -> np.ndarray:
    """3 x 3 window reduction (min or max) of (n, S, S), separable: rows then columns."""
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    r = op(op(p[:, :-2], p[:, 1:-1]), p[:, 2:])                      # (n, S, S + 2)
    return op(op(r[:, :, :-2], r[:, :, 1:-1]), r[:, :, 2:])         # (n, S, S)


def _largest_component(lit: np.ndarray):
    """(n, S, S) bool -> (largest 8-connected component mask (n, S, S), its size (n,)).

    Every lit pixel starts labelled with its own flat index; each round takes the
    smallest label in the 3 x 3 window, then jumps to the label's own label (pointer
    jumping), until nothing changes: each component ends labelled by its first pixel.
    """
    n, s, _ = lit.shape
    none = n * s * s                                                  # label of unlit pixels
    lab = np.where(lit, np.arange(none, dtype=np.int32).reshape(n, s, s), np.int32(none))
    while True:
        new = np.where(lit, _window(lab, none, np.minimum), np.int32(none))
        new = np.append(new.ravel(), np.int32(none))[new]             # pointer jumping
        if np.array_equal(new, lab):
            break
        lab = new
    counts = np.bincount(lab[lit], minlength=none).reshape(n, s * s)  # pixels per label
    root = counts.argmax(1) + np.arange(n) * s * s                   # (n,) largest's label
    return lab == root[:, None, None], counts.max(1)


def _read_color(x: np.ndarray, peak: np.ndarray, lit: np.ndarray):
    """Nearest palette colour (n,) to the mean normalised colour of the lit pixels.

    x: (n, S, S, 3) in [0, 1], peak and lit (n, S, S). Also returns the normalised pixels
    as three (n, S, S) channels (numpy reduces a length-3 last axis slowly).
    """
    inv = 1.0 / np.maximum(peak, 1e-6)
    ratio = [x[..., c] * inv for c in range(3)]                       # 3 x (n, S, S)
    n_lit = np.maximum(_total(lit), 1)
    mean = np.stack([_total(r * lit) for r in ratio], 1) / n_lit[:, None]  # (n, 3)
    dist = ((mean[:, None, :] - _PALETTE[None]) ** 2).sum(-1)         # (n, 8)
    return dist.argmin(1), ratio


def _far_mask(ratio: list, lit: np.ndarray, color_id: np.ndarray,
              tolerance: float = TOLERANCE) -> np.ndarray:
    """(n, S, S) lit pixels farther than ``tolerance`` (max-abs) from palette colour ``color_id``."""
    target = _PALETTE[color_id]                                       # (n, 3)
    gap = np.abs(ratio[0] - target[:, 0, None, None])                 # (n, S, S) max-abs
    for c in (1, 2):
        np.maximum(gap, np.abs(ratio[c] - target[:, c, None, None]), out=gap)
    return lit & (gap > tolerance)


def _far(ratio: list, lit: np.ndarray, color_id: np.ndarray) -> np.ndarray:
    """(n,) how many lit pixels lie farther than TOLERANCE from palette colour ``color_id``."""
    return _total(_far_mask(ratio, lit, color_id))


def _fit_shapes(m: np.ndarray):
    """Soft mask (n, S, S) -> IoU with each ideal shape (n, 4), and its (cx, cy, h) (n, 4, 3).

    Method of moments: an ideal of half-extent h has area A h² and centroid (cx, cy + D h),
    so the observed mass and centroid give h, cx, cy in closed form. When the canvas cuts
    the shape, the part beyond the edge (as the current ideal draws it) is added to the
    observed moments and the closed form solved again; the same step also cancels the
    small difference between the rendered and the analytic area.
    """
    n, s, _ = m.shape
    grid = np.arange(s, dtype=np.float32) + 0.5                       # pixel centres
    o0 = _total(m)                                                    # (n,) mass
    ox = (m @ grid).sum(1)                                            # (n,) first moments
    oy = (m.sum(2) * grid).sum(1)
    fits = np.zeros((n, len(SHAPES)), np.float32)
    params = np.zeros((n, len(SHAPES), 3), np.float32)
    for k in range(len(SHAPES)):
        a, drop = _AREA[k], _DROP[k]
        c0, cx_, cy_ = o0, ox, oy                                     # completed moments
        for rnd in range(_FIT_ROUNDS + 1):
            mass = np.maximum(c0, 1e-6)
            h = np.sqrt(mass / a)
            cx, cy = cx_ / mass, cy_ / mass - drop * h
            ideal = coverage(k, grid[None, None, :] - cx[:, None, None],
                              grid[None, :, None] - cy[:, None, None], h[:, None, None])
            if rnd == _FIT_ROUNDS:
                break
            u0 = a * h * h                                            # analytic, uncut
            c0 = o0 + u0 - _total(ideal)
            cx_ = ox + u0 * cx - (ideal @ grid).sum(1)
            cy_ = oy + u0 * (cy + drop * h) - (ideal.sum(2) * grid).sum(1)
        inter = _total(np.minimum(m, ideal))
        union = _total(np.maximum(m, ideal))
        fits[:, k] = inter / np.maximum(union, 1e-6)
        params[:, k] = np.stack([cx, cy, h], 1)
    return fits, params


def _nearest(values: np.ndarray, centres) -> np.ndarray:
    return np.abs(values[:, None] - np.asarray(centres)[None, :]).argmin(1)


def _analyse(x: np.ndarray, targets: np.ndarray | None = None) -> dict:
    """Float images (n, S, S, 3) in [0, 1] -> dict of per-image arrays (see ``read``).

    ``targets`` (n,) palette indices (-1: the read colour) for the ``far`` pixel counts.
    """
    n, s = len(x), x.shape[1]
    peak = np.maximum(np.maximum(x[..., 0], x[..., 1]), x[..., 2])   # (n, S, S) brightness
    lit = peak > LIT
    n_lit = _total(lit)
    color, ratio = _read_color(x, peak, lit)
    targets = color if targets is None else np.where(targets < 0, color, targets)
    obj, size = _largest_component(lit)
    # soft coverage of the object: brightness (1 inside a palette render, k on an edge),
    # over the object and the ring of dim edge pixels (below LIT) around it
    top = np.maximum((peak * obj).reshape(n, -1).max(1), 1e-6)       # (n,) brightest pixel
    m = np.minimum(peak / top[:, None, None], 1.0) * _window(obj, False, np.maximum)
    fits, params = _fit_shapes(m.astype(np.float32))
    best = fits.argmax(1)
    cx, cy, h = params[np.arange(n), best].T / s                      # fractions of S
    return dict(
        has_lit=n_lit > 0, n_lit=n_lit, color=color, shape=best,
        size=_nearest(h, [HALF_EXTENT[z] for z in SIZES]),
        vpos=_nearest(cy, [POSITION[v] for v in VPOS]),
        hpos=_nearest(cx, [POSITION[p] for p in HPOS]),
        shape_fit=np.where(n_lit > 0, fits.max(1), 0.0),
        off_read=_far(ratio, lit, color) / np.maximum(n_lit, 1),
        far_target=_far(ratio, lit, targets),
        lit_share=size / np.maximum(n_lit, 1),
        box=np.stack([cx - h, cy - h, cx + h, cy + h], 1) * s)        # (n, 4) pixels


def _analyse_all(images, targets=None) -> dict:
    x = _as_unit(images)
    parts = [_analyse(x[i:i + _CHUNK], None if targets is None else targets[i:i + _CHUNK])
             for i in range(0, len(x), _CHUNK)]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ----------------------------------------------------------------------- public
def color_masks(images, colors: list[str], tolerance: float = TOLERANCE):
    """Per-pixel ``(far, lit)`` boolean masks (N, S, S): lit pixels, and those off ``colors``.

    The one off-palette rule of the course (``measures.color_purity`` uses it too): a
    lit pixel is *near* when its colour divided by its brightness is within ``tolerance``
    (max-abs) of the palette colour, so the anti-aliased edge ``k * colour`` counts as near.
    """
    x = _as_unit(images)
    if len(x) != len(colors):
        raise ValueError(f"{len(x)} images but {len(colors)} colours")
    names = tuple(COLORS)
    unknown = sorted({c for c in colors if c not in names})
    if unknown:
        raise ValueError(f"unknown colours {unknown}; the palette is {', '.join(names)}")
    peak = x.max(-1)                                                  # (N, S, S) brightness
    lit = peak > LIT
    ratio = [x[..., c] / np.maximum(peak, 1e-6) for c in range(3)]    # 3 x (N, S, S)
    ids = np.array([names.index(c) for c in colors], int)
    return _far_mask(ratio, lit, ids, tolerance), lit


def read(images) -> list[dict]:
    """Read every image's attributes with geometry -> one dict per image. Chapter 10.

    Keys: ``color``, ``shape``, ``size``, ``vpos``, ``hpos`` (the words of
    ``shapes.VALUES``; None on an image with no lit pixel), ``shape_fit`` (soft IoU with
    the best ideal shape, 0 for a black image), ``off_palette`` (share of lit pixels far
    from the read colour), ``lit_share`` (the largest object's share of the lit pixels)
    and ``box`` (x0, y0, x1, y1 of the best ideal shape, in pixels).
    """
    r = _analyse_all(images)
    out = []
    for i in range(len(r.get("color", ()))):
        if not r["has_lit"][i]:
            out.append({**dict.fromkeys(KEYS), "shape_fit": 0.0, "off_palette": 0.0,
                        "lit_share": 0.0, "box": None})
            continue
        words = {k: VALUES[k][int(r[k][i])] for k in KEYS}
        out.append({**words, "shape_fit": float(r["shape_fit"][i]),
                    "off_palette": float(r["off_read"][i]),
                    "lit_share": float(r["lit_share"][i]),
                    "box": tuple(float(v) for v in r["box"][i])})
    return out


def fidelity(images, wanted: list[dict]) -> dict:
    """Score images against the attributes their prompts name (e.g. ``parse(prompt)``). Chapter 10.

    ``fidelity``: share of images whose every named attribute reads back; an image with
    no lit pixel counts as wrong. ``per_attribute``: accuracy per key, over the images
    whose prompt names it. ``shape_fit``: mean best IoU (0 for black images).
    ``off_palette``: lit pixels far from the wanted colour (the read one where the prompt
    names none), pooled over all images. ``shape_fit_by_shape``: median fit per wanted
    shape (the read shape where the prompt names none). ``strict``: share read right
    *and* with ``shape_fit >= STRICT_FIT`` *and* at most ``STRICT_OFF_PALETTE`` of its lit
    pixels off the wanted colour: renders score 1.0.
    """
    if len(images) != len(wanted):
        raise ValueError(f"{len(images)} images but {len(wanted)} attribute dicts")
    wanted = [check_attr(w, full=False) for w in wanted]
    colors = tuple(COLORS)
    targets = np.array([colors.index(w["color"]) if "color" in w else -1 for w in wanted])
    r = _analyse_all(images, targets)
    if not wanted:
        return {"fidelity": float("nan"), "per_attribute": {}, "shape_fit": float("nan"),
                "off_palette": float("nan"), "shape_fit_by_shape": {}}
    got = [{k: (VALUES[k][int(r[k][i])] if r["has_lit"][i] else None) for k in KEYS}
           for i in range(len(wanted))]
    ok = [bool(lit) and all(g[k] == w[k] for k in w)
          for g, w, lit in zip(got, wanted, r["has_lit"])]
    per_key = {k: float(np.mean([g[k] == w[k] for g, w in zip(got, wanted) if k in w]))
               for k in KEYS if any(k in w for w in wanted)}
    by_shape: dict[str, list[float]] = {}
    for g, w, fit in zip(got, wanted, r["shape_fit"]):
        shape = w.get("shape", g["shape"])
        if shape is not None:
            by_shape.setdefault(shape, []).append(float(fit))
    clean = (r["shape_fit"] >= STRICT_FIT) & (
        r["far_target"] <= STRICT_OFF_PALETTE * np.maximum(r["n_lit"], 1))
    return {"fidelity": float(np.mean(ok)),
            "strict": float(np.mean(np.asarray(ok) & clean)),
            "per_attribute": per_key,
            "shape_fit": float(r["shape_fit"].mean()),
            "off_palette": float(r["far_target"].sum() / max(int(r["n_lit"].sum()), 1)),
            "shape_fit_by_shape": {s: float(np.median(by_shape[s])) for s in SHAPES
                                   if s in by_shape}}
