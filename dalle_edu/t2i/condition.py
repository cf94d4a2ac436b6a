"""The condition vector the text-to-image GAN draws from — Chapter 7. Numpy only.

The text encoder reads a prompt as one probability distribution per attribute; the
condition is those five distributions side by side, (B, COND_DIM) = (B, 23)::

    colour (8) | shape (4) | size (2 + unsaid) | vpos (3 + unsaid) | hpos (3 + unsaid)

Colour and shape are always named; size and position may be left unsaid ("a red
circle"), which the extra "unsaid" class of their heads says.

    SLICES["vpos"]           # slice(15, 19): where the vertical position sits
    decode(cond)             # [{'color': 'red', 'shape': 'circle'}, ...] what each row names
    named_mask(cond)         # (B, 5) 1.0 where a row names colour, shape, size, vpos, hpos
    fill_unsaid(cond, rng)   # the unsaid attributes drawn at random (the two-stage sampler)
"""

from __future__ import annotations

import numpy as np

from dalle_edu.data import shapes

UNSAID = "unsaid"
# the encoder's heads: colour and shape are always named; size and position may be unsaid
HEADS = {
    "color": shapes.VALUES["color"],
    "shape": shapes.VALUES["shape"],
    "size": shapes.VALUES["size"] + (UNSAID,),
    "vpos": shapes.VALUES["vpos"] + (UNSAID,),
    "hpos": shapes.VALUES["hpos"] + (UNSAID,),
}
COND_DIM = sum(len(v) for v in HEADS.values())  # 8 + 4 + 3 + 4 + 4 = 23
_starts = np.cumsum([0] + [len(v) for v in HEADS.values()])
SLICES = {k: slice(int(a), int(b)) for k, a, b in zip(HEADS, _starts[:-1], _starts[1:])}
# where each head's "unsaid" probability sits in the condition vector
UNSAID_INDEX = {k: SLICES[k].stop - 1 for k, v in HEADS.items() if UNSAID in v}
OPTIONAL = tuple(UNSAID_INDEX)  # ("size", "vpos", "hpos")
AUX_SIZES = tuple(len(shapes.VALUES[k]) for k in shapes.KEYS)  # D's auxiliary heads: (8, 4, 2, 3, 3)


def _check(cond) -> np.ndarray:
    cond = np.asarray(cond, np.float32)
    if cond.ndim != 2 or cond.shape[1] != COND_DIM:
        raise ValueError(f"a condition batch has shape (N, {COND_DIM}), got {cond.shape}")
    return cond


def one_hot(prompts) -> np.ndarray:
    """Parsed prompts (``text.Prompt`` or attribute dicts) -> the exact (N, COND_DIM) condition.

    What a perfect text encoder would say: one-hot per head, "unsaid" where the prompt
    leaves size or position out.
    """
    rows = [getattr(p, "attrs", p) for p in prompts]
    cond = np.zeros((len(rows), COND_DIM), np.float32)
    for i, attrs in enumerate(rows):
        for key, values in HEADS.items():
            cond[i, SLICES[key].start + values.index(attrs.get(key, UNSAID))] = 1.0
    return cond


def said_mask(prompts) -> np.ndarray:
    """(N, 5) float32, 1.0 where the prompt names colour, shape, size, vpos, hpos."""
    rows = [getattr(p, "named", p) for p in prompts]  # a Prompt, or the keys a caption names
    return np.array([[float(k in named) for k in shapes.KEYS] for named in rows], np.float32)


def named_mask(cond) -> np.ndarray:
    """(N, 5) 1.0 where a condition names the attribute ("unsaid" probability under 1/2)."""
    cond = _check(cond)
    cols = [np.ones(len(cond))] * 2 + [cond[:, UNSAID_INDEX[k]] < 0.5 for k in OPTIONAL]
    return np.stack(cols, axis=1).astype("float32")


def decode(cond) -> list[dict]:
    """Each row's most likely value per head; heads read as "unsaid" are left out."""
    cond = _check(cond)
    out = []
    for row in cond:
        attrs = {k: HEADS[k][int(np.argmax(row[SLICES[k]]))] for k in HEADS}
        out.append({k: v for k, v in attrs.items() if v != UNSAID})
    return out


def fill_unsaid(cond, rng, said=None) -> np.ndarray:
    """Replace each unsaid head of a condition by a one-hot of a uniformly drawn value.

    cond (N, COND_DIM) -> a copy where every head the prompt leaves out says one concrete
    value instead: the prompt's free attributes are sampled before G draws (uniform, as in
    the training data). ``said`` (N, 5), from ``said_mask``, is what the parser knew; without
    it a head counts as unsaid when its "unsaid" probability is over 1/2.
    """
    cond = np.array(_check(cond), copy=True)
    said = named_mask(cond) if said is None else np.asarray(said)
    for key in OPTIONAL:
        values, start = HEADS[key], SLICES[key].start
        free = said[:, shapes.KEYS.index(key)] < 0.5  # (N,)
        picks = rng.integers(len(values) - 1, size=len(cond))  # a concrete value per row
        block = np.zeros((len(cond), len(values)), np.float32)
        block[np.arange(len(cond)), picks] = 1.0
        cond[free, start:start + len(values)] = block[free]
    return cond
