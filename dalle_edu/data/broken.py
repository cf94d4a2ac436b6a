"""Deliberately broken "generators" for the shapes world — Chapter 10 (judging generators).

A measure earns trust when it ranks generators whose faults we know. Each function here
draws with ``shapes.render`` and breaks exactly one thing:

* ``colour_blind`` — right shape, size and position, a random *other* colour;
* ``shape_blind`` — a random other shape, everything else right;
* ``position_shuffled`` — right colour, shape and size, another row *and* column;
* ``collapsed`` — one image per prompt (mode collapse): the seed is ignored, so every
  sample of a prompt is the same render, and what the prompt leaves unsaid is fixed;
* ``blurred`` — a right render, blurred (a 3 x 3 box filter, twice): right attributes,
  wrong texture and soft edges.

All take ``(attrs, seed=0, size=32)`` and return uint8 ``(N, size, size, 3)``; ``attrs``
is a list of (possibly partial) attribute dicts, whose unsaid keys are filled uniformly
from ``seed`` first. ``BROKEN`` maps names to functions. Numpy only.
"""

from __future__ import annotations

import zlib

import numpy as np

from dalle_edu.data.shapes import render
from dalle_edu.data.world import KEYS, VALUES, check_attr


def _fill(attrs, rng) -> list[dict]:
    """Complete partial attribute dicts with uniform draws from ``rng``."""
    if isinstance(attrs, dict):
        attrs = [attrs]
    full = []
    for a in attrs:
        a = dict(check_attr(a, full=False))
        for k in KEYS:
            if k not in a:
                a[k] = VALUES[k][rng.integers(len(VALUES[k]))]
        full.append(a)
    return full


def _other(value: str, key: str, rng) -> str:
    """A value of ``key`` other than ``value``, uniformly."""
    choices = [v for v in VALUES[key] if v != value]
    return choices[rng.integers(len(choices))]


def _with_others(attrs, keys: tuple, seed: int, size: int, stream: int) -> np.ndarray:
    """Fill ``attrs``, give each of ``keys`` another value, render."""
    rng = np.random.default_rng([int(seed), stream])
    full = _fill(attrs, rng)
    for a in full:
        for k in keys:
            a[k] = _other(a[k], k, rng)
    return render(full, seed=seed, size=size)


def colour_blind(attrs, seed: int = 0, size: int = 32) -> np.ndarray:
    """Right shape, size and position; a random other colour. Chapter 10."""
    return _with_others(attrs, ("color",), seed, size, stream=2_001)


def shape_blind(attrs, seed: int = 0, size: int = 32) -> np.ndarray:
    """A random other shape; colour, size and position right. Chapter 10."""
    return _with_others(attrs, ("shape",), seed, size, stream=2_002)


def position_shuffled(attrs, seed: int = 0, size: int = 32) -> np.ndarray:
    """Right colour, shape and size; another row and another column. Chapter 10."""
    return _with_others(attrs, ("vpos", "hpos"), seed, size, stream=2_003)


def collapsed(attrs, seed: int = 0, size: int = 32) -> np.ndarray:
    """Mode collapse: every sample of the same prompt is the same image. Chapter 10.

    ``seed`` is ignored. Each distinct prompt is filled and rendered with a seed taken
    from its own words (a CRC32), so the image does not depend on the batch either.
    """
    if isinstance(attrs, dict):
        attrs = [attrs]
    out, cache = [], {}
    for a in attrs:
        key = repr(sorted(check_attr(a, full=False).items()))
        if key not in cache:
            fixed = zlib.crc32(key.encode())
            full = _fill([a], np.random.default_rng([fixed, 2_004]))
            cache[key] = render(full, seed=fixed, size=size)[0]
        out.append(cache[key])
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def _box_blur(x: np.ndarray) -> np.ndarray:
    """3 x 3 mean filter of (N, S, S, 3) float, zero (black) beyond the canvas."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = p[:, :-2] + p[:, 1:-1] + p[:, 2:]                          # (N, S, S + 2, 3)
    return (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]) / 9.0


def blurred(attrs, seed: int = 0, size: int = 32) -> np.ndarray:
    """Right attributes, soft edges: a render box-blurred twice (3 x 3). Chapter 10."""
    full = _fill(attrs, np.random.default_rng([int(seed), 2_005]))
    x = render(full, seed=seed, size=size).astype(np.float32)
    return np.clip(np.rint(_box_blur(_box_blur(x))), 0, 255).astype(np.uint8)


BROKEN = {"colour_blind": colour_blind, "shape_blind": shape_blind,
          "position_shuffled": position_shuffled, "collapsed": collapsed, "blurred": blurred}
