"""The caption grammar of the shapes world: templates, synonyms, paraphrases — Chapter 6. Numpy only.

Every word a caption can use comes from these tables; ``dalle_edu.text`` builds its
vocabulary and parser from them, so captioning and parsing cannot drift apart.
``shapes.sample`` draws a caption for each scene with ``describe``.
"""

from __future__ import annotations

import itertools

import numpy as np

from dalle_edu.data.world import COLORS, KEYS, check_attr

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


# ----------------------------------------------------------------------- captions
MENTIONED = {0: KEYS, 1: ("color", "shape", "vpos", "hpos"),
              2: ("color", "shape", "size"), 3: ("color", "shape")}
N_CHOICES = 8  # uniform numbers one paraphrase consumes


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
    """One caption naming ``keys`` of ``attr``; ``u``: N_CHOICES uniform numbers in [0, 1)."""
    if canonical:
        u = [0.0] * N_CHOICES
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
    """The canonical caption: "a big red circle at the top left". Chapter 6.

    Names the keys ``attr`` has (color and shape are required; size optional; vpos and
    hpos together or not at all). Middle-center reads "in the center".
    """
    check_attr(attr, full=False)
    return _paraphrase(attr, _check_keys(attr), None, canonical=True)


def paraphrase(attr: dict, rng=None, keys=None) -> str:
    """A random caption of ``attr`` from the templates and synonyms. Chapter 6.

    ``rng``: a ``np.random.Generator`` or a seed. ``keys``: the attributes to mention
    (default: all keys ``attr`` has); color and shape always, vpos/hpos together.
    """
    check_attr(attr, full=False)
    keys = _check_keys(attr if keys is None else keys)
    missing = [k for k in keys if k not in attr]
    if missing:
        raise ValueError(f"keys {missing} are not in the attribute set {attr}")
    rng = np.random.default_rng(rng)
    return _paraphrase(attr, keys, rng.random(N_CHOICES).tolist())


def all_paraphrases(attr: dict, keys=None) -> list[str]:
    """Every distinct caption of ``attr`` the templates and synonyms can make (for tests)."""
    check_attr(attr, full=False)
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
