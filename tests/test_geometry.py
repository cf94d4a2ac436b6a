"""The geometry check (dalle_edu.geometry) reads renders right and catches broken generators."""

import numpy as np
import pytest

from dalle_edu import geometry
from dalle_edu.data import broken, shapes
from dalle_edu.images import to_float

KEYS = shapes.KEYS


def accuracy(reads, attrs):
    return {k: np.mean([r[k] == a[k] for r, a in zip(reads, attrs)]) for k in KEYS}


# --- renders read right -----------------------------------------------------------------

@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("split", shapes.SPLITS)
def test_renders_read_right(split, size):
    images, _, attrs = shapes.sample(400, split, seed=7, size=size)
    reads = geometry.read(images)
    acc = accuracy(reads, attrs)
    assert min(acc.values()) >= 0.99, acc
    for shape in {a["shape"] for a in attrs}:
        fits = [r["shape_fit"] for r, a in zip(reads, attrs) if a["shape"] == shape]
        assert np.median(fits) >= 0.9, (shape, np.median(fits))
    assert max(r["off_palette"] for r in reads) < 0.01
    assert min(r["lit_share"] for r in reads) == 1.0                 # no stray pixels
    score = geometry.fidelity(images, attrs)
    assert score["fidelity"] >= 0.99 and score["off_palette"] < 0.01


@pytest.mark.parametrize("size", [32, 64])
def test_the_hardest_renders_read_right(size):
    # shapes at the extremes of the spec: big ones cut by two canvas edges (smallest
    # scale, jitter towards the corner), and the biggest small ones
    rows = []
    for k in range(len(shapes.SHAPES)):
        for scale in shapes.SCALE_RANGE:
            for frac in (0.25 - shapes.JITTER, 0.75 + shapes.JITTER):
                rows.append((k, frac, frac, shapes.HALF_EXTENT["big"] * scale))
            rows.append((k, 0.5 + shapes.JITTER, 0.5 - shapes.JITTER,
                         shapes.HALF_EXTENT["small"] * scale))
    k, fx, fy, h = (np.array(c) for c in zip(*rows))
    images = shapes._rasterize(k, np.zeros_like(k), (fx * size).astype(np.float32),
                               (fy * size).astype(np.float32), (h * size).astype(np.float32), size)
    reads = geometry.read(images)
    names = {0.25 - shapes.JITTER: 0, 0.5 + shapes.JITTER: 1, 0.5 - shapes.JITTER: 1,
             0.75 + shapes.JITTER: 2}
    for r, row in zip(reads, rows):
        want = dict(color="red", shape=shapes.SHAPES[row[0]],
                    size="big" if row[3] > 0.2 else "small",
                    vpos=shapes.VPOS[names[row[2]]], hpos=shapes.HPOS[names[row[1]]])
        assert {key: r[key] for key in KEYS} == want
        assert r["shape_fit"] > 0.9


def test_uint8_and_float_images_read_the_same():
    images, _, attrs = shapes.sample(64, "test", seed=3)
    a, b = geometry.read(images), geometry.read(to_float(images))
    assert a == b and accuracy(a, attrs)["shape"] == 1.0


# --- edits change the reading -----------------------------------------------------------

@pytest.mark.parametrize("size", [32, 64])
def test_a_square_with_its_corners_cut_off_reads_as_a_circle(size):
    attrs = [dict(color="white", shape="square", size=z, vpos="middle", hpos="center")
             for z in shapes.SIZES] * 3
    images = shapes.render(attrs, seed=1, size=size)
    centre = np.arange(size) + 0.5
    cut = images.copy()
    for img, r in zip(cut, geometry.read(images)):
        assert r["shape"] == "square"
        x0, y0, x1, y1 = r["box"]                                     # the square's box
        out = (centre[None, :] - (x0 + x1) / 2) ** 2 + (centre[:, None] - (y0 + y1) / 2) ** 2
        img[out > ((x1 - x0) / 2) ** 2] = 0                           # outside the inscribed circle
    assert [r["shape"] for r in geometry.read(cut)] == ["circle"] * len(attrs)


def test_swapped_channels_read_the_other_colour():
    attrs = [dict(color="red", shape=s) for s in shapes.SHAPES]
    images = shapes.render(attrs, seed=2)
    assert {r["color"] for r in geometry.read(images[..., [1, 0, 2]])} == {"green"}
    assert {r["color"] for r in geometry.read(images[..., [2, 1, 0]])} == {"blue"}
    yellow = shapes.render([dict(color="yellow", shape="circle")] * 4, seed=2)
    assert {r["color"] for r in geometry.read(yellow[..., [0, 2, 1]])} == {"magenta"}


def test_a_shift_by_half_the_canvas_reads_the_other_position():
    attrs = [dict(color="cyan", shape=s, size="small", vpos="top", hpos="left")
             for s in shapes.SHAPES]
    images = shapes.render(attrs, seed=3)
    moved = np.roll(images, (16, 16), axis=(1, 2))
    assert {(r["vpos"], r["hpos"]) for r in geometry.read(moved)} == {("bottom", "right")}
    assert [r["shape"] for r in geometry.read(moved)] == list(shapes.SHAPES)


def test_stray_pixels_lower_lit_share_but_not_the_reading():
    images = shapes.render([dict(color="red", shape="triangle", size="small", vpos="top",
                                 hpos="left")], seed=4)
    images[0, 30, 30] = (255, 0, 0)                                   # one far-away pixel
    r = geometry.read(images)[0]
    assert (r["shape"], r["vpos"], r["hpos"]) == ("triangle", "top", "left")
    assert r["lit_share"] < 1.0


def test_a_black_image_counts_as_wrong_not_a_crash():
    images = shapes.render([dict(color="red", shape="circle")] * 2, seed=5)
    images[1] = 0
    reads = geometry.read(images)
    assert reads[1]["shape"] is None and reads[1]["color"] is None and reads[1]["shape_fit"] == 0
    score = geometry.fidelity(images, [dict(color="red"), {}])
    assert score["fidelity"] == 0.5                                   # even an empty prompt
    assert score["per_attribute"] == {"color": 1.0}


def test_fidelity_scores_only_what_the_prompt_names():
    images = shapes.render([dict(color="red", shape="circle", size="big")] * 4, seed=6)
    score = geometry.fidelity(images, [dict(color="blue", shape="circle")] * 2
                              + [dict(shape="circle")] * 2)
    assert score["per_attribute"] == {"color": 0.0, "shape": 1.0}
    assert score["fidelity"] == 0.5
    assert 0.35 < score["off_palette"] < 0.65                         # red pixels vs blue: far
    assert set(score["shape_fit_by_shape"]) == {"circle"}


@pytest.mark.parametrize("bad, match", [
    (np.zeros((32, 32, 3), np.uint8), r"\(N, S, S, 3\), got shape \(32, 32, 3\)"),
    (np.zeros((2, 32, 16, 3), np.uint8), r"\(N, S, S, 3\)"),
    (np.zeros((2, 32, 32, 1), np.uint8), r"\(N, S, S, 3\)"),
    (np.zeros((2, 32, 32, 3), np.int64), "uint8 .* or float in \\[-1, 1\\], got dtype int64"),
    (np.full((2, 32, 32, 3), 255.0), r"must lie in \[-1, 1\]"),
    (np.full((2, 32, 32, 3), np.nan, np.float32), r"must lie in \[-1, 1\]"),
])
def test_bad_images_raise_one_clear_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        geometry.read(bad)


# --- broken generators ------------------------------------------------------------------

@pytest.fixture(scope="module")
def prompts():
    return shapes.sample(300, "test", seed=9)[2]


def test_broken_generators_return_uint8_batches_and_take_partial_prompts():
    partial = [dict(color="red", shape="circle"), dict(shape="square"), {}]
    for name, fn in broken.BROKEN.items():
        out = fn(partial, seed=1, size=24)
        assert out.dtype == np.uint8 and out.shape == (3, 24, 24, 3), name
        assert np.array_equal(out, fn(partial, seed=1, size=24)), name  # deterministic


def test_collapsed_ignores_the_seed():
    prompt = [dict(color="red", shape="circle")] * 6
    a, b = broken.collapsed(prompt, seed=0), broken.collapsed(prompt, seed=1)
    assert np.array_equal(a, b) and (a == a[0]).all()
    assert not (shapes.render(prompt, seed=0) == shapes.render(prompt, seed=0)[0]).all()


def test_the_geometry_check_catches_each_broken_generator(prompts):
    renders = geometry.fidelity(shapes.render(prompts, seed=9), prompts)
    score = {name: geometry.fidelity(fn(prompts, seed=9), prompts)
             for name, fn in broken.BROKEN.items()}
    per = {name: s["per_attribute"] for name, s in score.items()}
    assert per["colour_blind"]["color"] == 0.0 and per["colour_blind"]["shape"] >= 0.99
    assert score["colour_blind"]["off_palette"] > 0.9
    assert per["shape_blind"]["shape"] <= 0.05 and per["shape_blind"]["color"] >= 0.99
    assert per["position_shuffled"]["vpos"] == 0.0 and per["position_shuffled"]["hpos"] == 0.0
    assert per["position_shuffled"]["shape"] >= 0.99
    assert score["blurred"]["shape_fit"] < renders["shape_fit"] - 0.1
    assert score["collapsed"]["fidelity"] >= 0.99                    # right, but one per prompt
