"""The shapes world's facts: palette, shapes, sizes, positions, splits — Chapter 6. Numpy only.

The exact spec is the book's page The shapes world (``book/shapes_world.md``).
``dalle_edu.data.shapes`` renders scenes from these facts and ``dalle_edu.data.captions``
writes about them; both re-export what they use, so ``shapes.COLORS`` and friends are the
names chapters use.
"""

from __future__ import annotations

import itertools

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
# --------------------------------------------------------------------- validation
def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are: {', '.join(SPLITS)}")
    return SPLITS.index(split)


def check_attr(attr: dict, full: bool = True) -> dict:
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
