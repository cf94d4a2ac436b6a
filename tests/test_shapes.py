"""The captioned-shapes world against its spec (book/shapes_world.md), pixel by pixel."""

import numpy as np
import pytest

from dalle_edu.data import shapes
from dalle_edu.text import parse

PALETTE = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
    "magenta": (255, 0, 255), "cyan": (0, 255, 255), "white": (255, 255, 255),
    "orange": (255, 128, 0),
}
CELL = {"top": 0.25, "middle": 0.5, "bottom": 0.75, "left": 0.25, "center": 0.5, "right": 0.75}
HALF = {"small": 0.16, "big": 0.28}  # half-extent / S, before the U(0.93, 1.07) factor
AREA = {"circle": np.pi, "square": 4.0, "triangle": 2.0, "diamond": 2.0}  # area / h^2


@pytest.fixture(scope="module", params=[32, 64])
def batch(request):
    size = request.param
    images, captions, attrs = shapes.sample(600, split="train", seed=1, size=size)
    return size, images, captions, attrs


def test_constants_follow_the_spec():
    assert shapes.COLORS == PALETTE
    assert shapes.SHAPES == ("circle", "square", "triangle", "diamond")
    assert shapes.SIZES == ("small", "big")
    assert shapes.VPOS == ("top", "middle", "bottom")
    assert shapes.HPOS == ("left", "center", "right")
    assert shapes.HELD_OUT == {("green", "triangle"), ("blue", "circle"),
                               ("orange", "square"), ("white", "diamond")}


def test_sample_types_and_shapes(batch):
    size, images, captions, attrs = batch
    assert images.dtype == np.uint8 and images.shape == (600, size, size, 3)
    assert len(captions) == len(attrs) == 600
    assert all(isinstance(c, str) and c for c in captions)
    for a in attrs:
        assert set(a) == set(shapes.KEYS)
        assert all(a[k] in shapes.VALUES[k] for k in shapes.KEYS)


def test_every_lit_pixel_is_the_palette_colour_times_a_coverage(batch):
    _, images, _, attrs = batch
    for img, a in zip(images, attrs):
        rgb = np.array(PALETTE[a["color"]], float)
        lit = img.reshape(-1, 3)[img.reshape(-1, 3).max(axis=1) > 0].astype(float)
        assert len(lit) > 0
        q = lit.max(axis=1, keepdims=True)               # coverage * 255
        # proportional to the palette colour, up to rounding to whole levels
        assert np.all(np.abs(lit - q * rgb / 255) <= 0.5 + 1e-9)
        # fully covered pixels are exactly the palette colour; the interior is full
        assert (lit == rgb).all(axis=1).sum() >= 4


def _mask_extent(mask, axis):
    """First and one-past-last index of lit rows (axis=1) or columns (axis=0)."""
    idx = np.flatnonzero(mask.any(axis=axis))
    return idx[0], idx[-1] + 1


def test_size_position_and_area_within_spec(batch):
    size, images, _, attrs = batch
    checked = 0
    for img, a in zip(images, attrs):
        cov = img.max(axis=-1).astype(float) / 255          # (S, S) coverage
        if cov[0].any() or cov[-1].any() or cov[:, 0].any() or cov[:, -1].any():
            continue                                          # clipped by the border
        lit = cov > 0          # pixel centre within half a pixel of the shape (AA band)
        lo_h, hi_h = HALF[a["size"]] * np.array([0.93, 1.07]) * size
        for axis, key in ((0, a["hpos"]), (1, a["vpos"])):    # columns <-> hpos
            lo, hi = _mask_extent(lit, axis)
            half = (hi - lo) / 2  # whole pixels: the shape's extent plus up to 1 px of AA
            assert lo_h - 0.5 <= half <= hi_h + 1.25, (a, half)
            centre = (lo + hi) / 2                            # bounding-box centre
            assert abs(centre - CELL[key] * size) <= size / 16 + 1.0, (a, centre)
        area = cov.sum()                                     # the shape's area, up to AA
        ratio = area / np.array([hi_h, lo_h]) ** 2 / AREA[a["shape"]]
        assert ratio[0] * 0.97 <= 1 <= ratio[1] * 1.03, (a, ratio)
        checked += 1
    assert checked > 150


def test_shape_outlines():
    size = 64
    for shape in shapes.SHAPES:
        attr = dict(color="white", shape=shape, size="big", vpos="middle", hpos="center")
        cov = shapes.render(attr, seed=3, size=size)[0, ..., 0] / 255.0
        widths = (cov >= 0.5).sum(axis=1)                    # per row
        rows = np.flatnonzero(widths)
        w = widths[rows]
        if shape == "square":
            assert w.max() - w.min() <= 1                    # all rows equal
        elif shape == "triangle":                            # apex up: widens downwards
            assert np.all(np.diff(w) >= 0) and w[0] <= 3 and w[-1] >= 0.9 * len(rows)
        elif shape == "diamond":                             # widest in the middle row
            assert w[0] <= 3 and w[-1] <= 3 and w.max() >= len(rows) - 2
        else:                                                # circle: round, symmetric
            assert abs(w.max() - len(rows)) <= 1 and w[0] < w.max() / 2
        # symmetric about the vertical axis through the bbox centre
        cols = np.flatnonzero((cov >= 0.5).any(axis=0))
        assert abs((cols[0] + cols[-1]) / 2 - (rows[0] + rows[-1]) / 2) <= size / 8 + 1


def test_black_background_and_one_colour_per_image(batch):
    _, images, _, attrs = batch
    assert (images[:, 0, 0] == 0).mean() > 0.5      # corners are mostly background
    for img, a in zip(images[:50], attrs[:50]):
        rgb = np.array(PALETTE[a["color"]])
        assert np.all(img[..., rgb == 0] == 0)           # channels the colour lacks stay 0


def test_same_seed_same_bytes_other_seed_other_bytes():
    a = shapes.sample(300, seed=7)
    b = shapes.sample(300, seed=7)
    c = shapes.sample(300, seed=8)
    assert a[0].tobytes() == b[0].tobytes() and a[1] == b[1] and a[2] == b[2]
    assert a[0].tobytes() != c[0].tobytes()
    assert shapes.render(a[2][:20], seed=4).tobytes() == shapes.render(a[2][:20], seed=4).tobytes()


def test_sizes_draw_the_same_scenes():
    _, cap32, att32 = shapes.sample(50, seed=2, size=32)
    _, cap64, att64 = shapes.sample(50, seed=2, size=64)
    assert att32 == att64 and cap32 == cap64


def test_train_never_holds_out_pairs_and_covers_the_rest():
    _, _, attrs = shapes.sample(4000, split="train", seed=0)
    pairs = {(a["color"], a["shape"]) for a in attrs}
    assert not pairs & shapes.HELD_OUT
    assert len(pairs) == 28
    assert {(a["vpos"], a["hpos"]) for a in attrs} == {(v, h) for v in shapes.VPOS for h in shapes.HPOS}


def test_test_split_same_combinations_other_samples():
    tr = shapes.sample(3000, split="train", seed=0)
    te = shapes.sample(3000, split="test", seed=0)
    assert tr[0].tobytes() != te[0].tobytes()
    assert {(a["color"], a["shape"]) for a in te[2]} == {(a["color"], a["shape"]) for a in tr[2]}
    allowed = {tuple(a.values()) for a in shapes.all_combinations("test")}
    assert all(tuple(a[k] for k in shapes.KEYS) in allowed for a in te[2])


def test_compositional_split_only_held_out_pairs():
    _, captions, attrs = shapes.sample(500, split="compositional", seed=0)
    pairs = {(a["color"], a["shape"]) for a in attrs}
    assert pairs == shapes.HELD_OUT
    assert len(shapes.all_combinations("compositional")) == 72
    assert len(shapes.all_combinations("train")) == 504
    assert all(set(parse(c)) == set(shapes.KEYS) for c in captions)  # complete captions


def test_partial_captions_default_and_mentioned_keys():
    _, captions, attrs, mentioned = shapes.sample(2000, split="train", seed=0,
                                                  return_mentioned=True)
    share = np.mean([len(m) < 5 for m in mentioned])
    assert 0.2 < share < 0.3                                 # PARTIAL["train"] == 0.25
    for c, a, m in zip(captions, attrs, mentioned):
        assert parse(c) == {k: a[k] for k in m}
        assert {"color", "shape"} <= set(m)
    kinds = {m for m in mentioned}
    assert len(kinds) == 4                                   # none, size, position, both dropped
    _, _, _, m_test = shapes.sample(300, split="test", seed=0, return_mentioned=True)
    assert all(len(m) == 5 for m in m_test)
    _, _, _, m_all = shapes.sample(300, seed=0, partial=1.0, return_mentioned=True)
    assert all(len(m) < 5 for m in m_all)


def test_partial_does_not_move_shapes():
    a = shapes.sample(200, seed=5, partial=0.0)
    b = shapes.sample(200, seed=5, partial=0.9)
    assert a[0].tobytes() == b[0].tobytes() and a[2] == b[2]


def test_render_draws_the_given_attributes():
    attrs = shapes.all_combinations("compositional")
    images = shapes.render(attrs, seed=0, size=32)
    assert images.shape == (72, 32, 32, 3) and images.dtype == np.uint8
    for img, a in zip(images, attrs):
        rgb = np.array(PALETTE[a["color"]])
        assert (img.reshape(-1, 3) == rgb).all(axis=1).any()
        ys, xs = np.nonzero(img.max(axis=-1) >= 128)
        # the lit mass sits in the named cell (within jitter and clipping at the border)
        assert abs(ys.mean() / 32 - CELL[a["vpos"]]) < 0.16
        assert abs(xs.mean() / 32 - CELL[a["hpos"]]) < 0.16


def test_render_fills_missing_keys_from_the_seed():
    one = shapes.render({"color": "red", "shape": "circle"}, seed=3)
    assert one.shape == (1, 32, 32, 3)
    assert one.tobytes() == shapes.render([{"color": "red", "shape": "circle"}], seed=3).tobytes()
    assert np.all(one[..., 1:] == 0) and one.max() == 255
    many = shapes.render([{"shape": "square"}] * 40, seed=0)
    colours = {tuple(im.reshape(-1, 3)[im.reshape(-1, 3).max(1).argmax()]) for im in many}
    assert len(colours) > 3


def test_bad_attributes_and_arguments_raise():
    with pytest.raises(ValueError, match="unknown attribute key"):
        shapes.render({"colour": "red"})
    with pytest.raises(ValueError, match="valid values are: red"):
        shapes.render({"color": "purple"})
    with pytest.raises(ValueError, match="unknown split 'val'"):
        shapes.sample(3, split="val")
    with pytest.raises(ValueError, match="partial"):
        shapes.sample(3, partial=1.5)
    with pytest.raises(ValueError, match="size"):
        shapes.sample(3, size=0)


def test_canonical_captions():
    a = dict(color="red", shape="circle", size="big", vpos="top", hpos="left")
    assert shapes.caption(a) == "a big red circle at the top left"
    assert shapes.caption(dict(a, vpos="middle", hpos="center")) == "a big red circle in the center"
    assert shapes.caption(dict(a, color="orange", size="small", vpos="bottom", hpos="center")) \
        == "a small orange circle at the bottom center"
    assert shapes.caption({"color": "orange", "shape": "square"}) == "an orange square"


def test_paraphrases_use_synonyms_and_every_template():
    a = dict(color="red", shape="circle", size="big", vpos="top", hpos="left")
    texts = shapes.all_paraphrases(a)
    for expected in ("a large red circle in the upper left corner", "red circle, big, top left",
                     "a big red circle at the top left"):
        assert expected in texts
    rng = np.random.default_rng(0)
    seen = {shapes.paraphrase(a, rng) for _ in range(400)}
    assert len(seen) > 100 and seen <= set(texts)
    assert shapes.paraphrase(a, 5) == shapes.paraphrase(a, 5)
    assert len(shapes.templates()) >= 5
    with pytest.raises(ValueError, match="both vpos and hpos"):
        shapes.paraphrase(a, 0, keys=("color", "shape", "vpos"))
