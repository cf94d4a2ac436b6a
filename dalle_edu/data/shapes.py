"""The captioned-shapes world — Chapter 5 (data for text-to-image) and every chapter after.

One filled, flat-coloured shape on a black square canvas, with a caption in natural
language. The exact spec is ``SHAPES_WORLD.md``; this module is its only implementation::

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

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# ---------------------------------------------------------------------------- world
COLORS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "white": (255, 255, 255),
    "orange": (255, 128, 0),
}
SHAPES = ("circle", "square", "triangle", "diamond")
SIZES = ("small", "big")
VPOS = ("top", "middle", "bottom")
HPOS = ("left", "center", "right")
KEYS = ("color", "shape", "size", "vpos", "hpos")
VALUES = {"color": tuple(COLORS), "shape": SHAPES, "size": SIZES, "vpos": VPOS, "hpos": HPOS}

# (colour, shape) pairs never seen in training: the `compositional` split.
HELD_OUT = frozenset({("green", "triangle"), ("blue", "circle"),
                      ("orange", "square"), ("white", "diamond")})
SPLITS = ("train", "test", "compositional")

HALF_EXTENT = {"small": 0.16, "big": 0.28}      # times the side S
SCALE_RANGE = (0.93, 1.07)                      # each half-extent times U(0.93, 1.07)
POSITION = {"top": 0.25, "middle": 0.5, "bottom": 0.75,
            "left": 0.25, "center": 0.5, "right": 0.75}   # bbox centre, fraction of S
JITTER = 1 / 16                                 # U(-S/16, S/16) on each axis

# Default share of partial captions (size and/or position left out), per split.
# Training sees partial captions so a model learns that what a prompt does not say
# may vary; test and compositional captions are complete, so evaluations are exact.
PARTIAL = {"train": 0.25, "test": 0.0, "compositional": 0.0}

# ------------------------------------------------------------------------- captions
# Every word a caption can use comes from these tables; `dalle_edu.text` builds its
# vocabulary and parser from them, so captioning and parsing cannot drift apart.
# The first synonym is the canonical word.
SYNONYMS = {
    "color": {c: (c,) for c in COLORS},
    "shape": {"circle": ("circle", "disk", "disc"), "square": ("square",),
              "triangle": ("triangle",), "diamond": ("diamond", "rhombus")},
    "size": {"small": ("small", "little", "tiny"), "big": ("big", "large")},
    "vpos": {"top": ("top", "upper"), "middle": ("middle", "center", "centre"),
             "bottom": ("bottom", "lower")},
    "hpos": {"left": ("left",), "center": ("center", "middle", "centre"),
             "right": ("right",)},
}
ARTICLES = ("a", "an")            # "{a}" in a template: "an" before a vowel
PICTURE_WORDS = ("picture", "photo", "drawing", "image")
# Sentence templates; template 0 with first synonyms is the canonical caption.
# Slots: {a} article, {size}, {color}, {shape}, {pos} position phrase, {where} short
# position, {picture}. A left-out slot is dropped with its commas.
TEMPLATES = (
    "{a} {size} {color} {shape} {pos}",
    "{size} {color} {shape} {pos}",
    "{color} {shape}, {size}, {where}",
    "{pos}, {a} {size} {color} {shape}",
    "{a} {picture} of {a} {size} {color} {shape} {pos}",
    "there is {a} {size} {color} {shape} {pos}",
    "{a} {size} {shape} in {color} {pos}",
)
POSITION_PHRASES = ("at the {v} {h}", "in the {v} {h}", "on the {v} {h}")
CORNER_PHRASES = ("in the {v} {h} corner",)          # only for the four corners
SHORT_POSITIONS = ("{v} {h}",)
SHORT_CORNERS = ("{v} {h} corner",)
# middle-center reads "in the center" and friends, never "at the middle center"
CENTER_PHRASES = ("in the center", "in the middle", "at the center", "in the centre")
CENTER_SHORT = ("center", "middle")


def templates() -> tuple[str, ...]:
    """The sentence templates (for tests and the chapter that shows them)."""
    return TEMPLATES


# --------------------------------------------------------------------- validation
def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are: {', '.join(SPLITS)}")
    return SPLITS.index(split)


def _check_attr(attr: dict, full: bool = True) -> dict:
    if not isinstance(attr, dict):
        raise TypeError(f"an attribute set must be a dict with keys {KEYS}, got {type(attr).__name__}")
    unknown = sorted(set(attr) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown attribute key(s) {unknown}; valid keys are: {', '.join(KEYS)}")
    for key, value in attr.items():
        if value not in VALUES[key]:
            raise ValueError(f"unknown {key} {value!r}; valid values are: {', '.join(VALUES[key])}")
    if full:
        missing = [k for k in KEYS if k not in attr]
        if missing:
            raise ValueError(f"attribute set {attr} misses key(s): {', '.join(missing)}")
    return attr


def allowed_pairs(split: str = "train") -> list[tuple[str, str]]:
    """The (colour, shape) pairs a split draws: 28 for train/test, the 4 held out for compositional."""
    _check_split(split)
    pairs = [(c, s) for c in COLORS for s in SHAPES]
    if split == "compositional":
        return [p for p in pairs if p in HELD_OUT]
    return [p for p in pairs if p not in HELD_OUT]


def all_combinations(split: str = "train") -> list[dict]:
    """Every full attribute set a split can draw (504 for train/test, 72 for compositional)."""
    return [dict(color=c, shape=s, size=z, vpos=v, hpos=h)
            for (c, s) in allowed_pairs(split)
            for z, v, h in itertools.product(SIZES, VPOS, HPOS)]


# ----------------------------------------------------------------------- rendering
_COLOR_ARRAY = np.array(list(COLORS.values()), dtype=np.uint32)  # (8, 3)
# colour lookup: row c * 256 + q holds round(q * rgb_c / 255), q = quantised coverage
_COLOR_LUT = ((np.arange(256, dtype=np.uint32)[None, :, None] * _COLOR_ARRAY[:, None, :] + 127)
              // 255).astype(np.uint8).reshape(-1, 3)                # (8 * 256, 3)
_THREADS = min(4, os.cpu_count() or 1)
_SQRT2, _SQRT5 = np.float32(np.sqrt(2.0)), np.float32(np.sqrt(5.0))


def _coverage(shape_id: int, dx, dy, h):
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
            cov[idx] = _coverage(k, dx, dy, h[j, None, None])
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
    """Draw the given attribute dicts -> (n, size, size, 3) uint8. Chapter 5.

    ``attrs`` is a list of dicts (a single dict counts as a list of one; the result is
    always a batch). A partial dict, e.g. ``{"color": "red", "shape": "circle"}``, has
    its missing keys filled at random from ``seed`` (uniformly over all values, held-out
    pairs included: ``render`` draws what it is asked to, splits are ``sample``'s job).
    The size factor and jitter also come from ``seed``.
    """
    _check_size(size)
    if isinstance(attrs, dict):
        attrs = [attrs]
    attrs = [_check_attr(a, full=False) for a in attrs]
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
    """Draw ``n`` captioned images -> ``(images, captions, attrs)``. Chapter 5.

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
    choices = caption_rng.random((n, _N_CHOICES))
    mentioned = [_MENTIONED[d] for d in drop.tolist()]
    captions = [_paraphrase(a, m, c) for a, m, c in zip(attrs, mentioned, choices.tolist())]
    if return_mentioned:
        return images, captions, attrs, mentioned
    return images, captions, attrs


# ----------------------------------------------------------------------- captions
_MENTIONED = {0: KEYS, 1: ("color", "shape", "vpos", "hpos"),
              2: ("color", "shape", "size"), 3: ("color", "shape")}
_N_CHOICES = 8  # uniform numbers one paraphrase consumes


def _pick(options, u: float):
    return options[int(u * len(options))]  # u in [0, 1)


def _fill(template: str, slots: dict) -> str:
    """Format a template, drop left-out slots with their commas, fix "a"/"an"."""
    text = template.format(a="{a}", **slots)
    if "," in text:
        text = ", ".join(p for p in (" ".join(q.split()) for q in text.split(",")) if p)
    else:
        text = " ".join(text.split())
    if "{a}" not in text:
        return text
    words = text.split(" ")
    return " ".join([("an" if words[i + 1][0] in "aeiou" else "a") if w == "{a}" else w
                     for i, w in enumerate(words)])


def _position(v: str, h: str, u1: float, u2: float, u3: float, short: bool) -> str:
    if v == "middle" and h == "center":
        return _pick(CENTER_SHORT if short else CENTER_PHRASES, u1)
    corner = v != "middle" and h != "center"
    if short:
        phrases = SHORT_POSITIONS + (SHORT_CORNERS if corner else ())
    else:
        phrases = POSITION_PHRASES + (CORNER_PHRASES if corner else ())
    return _pick(phrases, u1).format(v=_pick(SYNONYMS["vpos"][v], u2),
                                     h=_pick(SYNONYMS["hpos"][h], u3))


def _check_keys(keys) -> tuple[str, ...]:
    keys = tuple(k for k in KEYS if k in set(keys))
    if "color" not in keys or "shape" not in keys:
        raise ValueError(f"a caption always names the color and the shape; got keys {keys}")
    if ("vpos" in keys) != ("hpos" in keys):
        raise ValueError("a caption names both vpos and hpos or neither")
    return keys


def _paraphrase(attr: dict, keys, u, canonical: bool = False) -> str:
    """One caption naming ``keys`` of ``attr``; ``u``: _N_CHOICES uniform numbers in [0, 1)."""
    if canonical:
        u = [0.0] * _N_CHOICES
    template = _pick(TEMPLATES, u[0])
    has_pos = "vpos" in keys
    slots = {
        "color": _pick(SYNONYMS["color"][attr["color"]], u[1]),
        "shape": _pick(SYNONYMS["shape"][attr["shape"]], u[2]),
        "size": _pick(SYNONYMS["size"][attr["size"]], u[3]) if "size" in keys else "",
        "pos": "", "where": "", "picture": "",
    }
    if has_pos and "{pos}" in template:
        slots["pos"] = _position(attr["vpos"], attr["hpos"], u[4], u[5], u[6], False)
    if has_pos and "{where}" in template:
        slots["where"] = _position(attr["vpos"], attr["hpos"], u[4], u[5], u[6], True)
    if "{picture}" in template:
        slots["picture"] = _pick(PICTURE_WORDS, u[7])
    return _fill(template, slots)


def caption(attr: dict) -> str:
    """The canonical caption: "a big red circle at the top left". Chapter 5.

    Names the keys ``attr`` has (color and shape are required; size optional; vpos and
    hpos together or not at all). Middle-center reads "in the center".
    """
    _check_attr(attr, full=False)
    return _paraphrase(attr, _check_keys(attr), None, canonical=True)


def paraphrase(attr: dict, rng=None, keys=None) -> str:
    """A random caption of ``attr`` from the templates and synonyms. Chapter 5.

    ``rng``: a ``np.random.Generator`` or a seed. ``keys``: the attributes to mention
    (default: all keys ``attr`` has); color and shape always, vpos/hpos together.
    """
    _check_attr(attr, full=False)
    keys = _check_keys(attr if keys is None else keys)
    missing = [k for k in keys if k not in attr]
    if missing:
        raise ValueError(f"keys {missing} are not in the attribute set {attr}")
    rng = np.random.default_rng(rng)
    return _paraphrase(attr, keys, rng.random(_N_CHOICES).tolist())


def all_paraphrases(attr: dict, keys=None) -> list[str]:
    """Every distinct caption of ``attr`` the templates and synonyms can make (for tests)."""
    _check_attr(attr, full=False)
    keys = _check_keys(attr if keys is None else keys)
    # choice i has at most counts[i] options; u = (j + 0.5) / count hits every option
    longest = lambda table: max(len(v) for v in table.values())
    counts = [len(TEMPLATES), longest(SYNONYMS["color"]), longest(SYNONYMS["shape"]),
              longest(SYNONYMS["size"]),
              max(len(POSITION_PHRASES) + len(CORNER_PHRASES), len(CENTER_PHRASES),
                  len(SHORT_POSITIONS) + len(SHORT_CORNERS), len(CENTER_SHORT)),
              longest(SYNONYMS["vpos"]), longest(SYNONYMS["hpos"]), len(PICTURE_WORDS)]
    grids = [[(j + 0.5) / c for j in range(c)] for c in counts]
    return sorted({_paraphrase(attr, keys, u) for u in itertools.product(*grids)})
