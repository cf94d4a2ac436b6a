"""Judging generators (Chapter 10): every measure read against real renders, each deliberately
broken generator caught by the measures that should catch it, CLIP reranking and the API."""

import re
import warnings

import numpy as np
import pytest

from dalle_edu import api, geometry, measures, metrics, presets, text
from dalle_edu.data import shapes
from dalle_edu.images import to_float
from dalle_edu.probe import probe_features

N = 200  # prompts per split: R-precision needs at least 100

PROMPTS = ["a big red circle at the top left", "a small blue square in the center",
           "a big green triangle at the bottom right", "a small yellow diamond at the top right",
           "a big white circle at the bottom left", "a small orange square at the middle left",
           "a big cyan triangle in the center", "a small magenta diamond at the bottom center"]


def test_mean_pairwise_distance_closed_form():
    a = np.full((1, 2, 2, 1), -1.0, np.float32)
    b = np.full((1, 2, 2, 1), 1.0, np.float32)
    # two images differing by 2 in each of 4 pixels: distance sqrt(4 * 2^2) = 4
    assert measures.mean_pairwise_distance(np.concatenate([a, b])) == pytest.approx(4.0)
    assert measures.mean_pairwise_distance(np.concatenate([a, a, a])) == pytest.approx(0.0, abs=1e-6)


def test_color_purity_of_real_renders_is_zero_and_wrong_colour_is_one():
    attrs = [dict(color=c, shape="square", size="big", vpos="middle", hpos="center")
             for c in shapes.COLORS]
    images = shapes.render(attrs, seed=0)
    assert measures.color_purity(images, [a["color"] for a in attrs]) == 0.0
    assert measures.color_purity(images[:1], ["blue"]) == 1.0  # a red square read as blue


@pytest.fixture(scope="module")
def clip():
    return api.load_clip()


@pytest.fixture(scope="module")
def reference(clip):
    return measures.reference_features(clip, N, seed=0)


def _measure(generator, clip, reference):
    with warnings.catch_warnings():  # FID's small-sample bias warning: N is small on purpose
        warnings.simplefilter("ignore", UserWarning)
        return measures.measure(generator, clip, None, n=N, seed=0, reference=reference)


@pytest.fixture(scope="module")
def real(clip, reference):
    return _measure(measures.real(), clip, reference)


def test_real_renders_are_the_floor(real):
    assert real["geometry_test"] == 1.0 and real["geometry_compositional"] == 1.0
    assert real["strict_test"] == 1.0 and real["strict_compositional"] == 1.0
    assert real["r_precision"] >= 0.95  # chance: 0.01
    assert real["clip_score"] > 80 and real["off_palette"] == 0.0 and real["shape_fit"] > 0.95
    assert 0.9 < real["diversity_ratio"] < 1.1  # renders against renders of other seeds
    assert real["precision"] > 0.8 and real["recall"] > 0.8


# name -> (what must catch it, as predicates on (broken row, real row))
CAUGHT = {
    "colour_blind": lambda b, r: b["geometry_test"] <= 0.05 and b["r_precision"] <= 0.5
    and b["off_palette"] > 0.5,
    "shape_blind": lambda b, r: b["geometry_test"] <= 0.05 and b["r_precision"] <= 0.5,
    "position_shuffled": lambda b, r: b["geometry_test"] <= 0.05 and b["r_precision"] <= 0.5,
    # per-image measures miss mode collapse; only within-prompt diversity sees it
    "collapsed": lambda b, r: b["diversity_ratio"] < 0.1 and b["geometry_test"] >= 0.95
    and b["r_precision"] >= 0.9,
    # the right attributes, so geometry mostly passes; strict pixels and shape fit do not
    "blurred": lambda b, r: b["strict_test"] < 0.2 and b["shape_fit"] < r["shape_fit"] - 0.1,
}


@pytest.mark.parametrize("name", list(CAUGHT))
def test_each_broken_generator_is_caught(name, clip, reference, real):
    broken = _measure(measures.from_broken(name), clip, reference)
    assert set(broken) == set(real)
    assert CAUGHT[name](broken, real), broken
    if name in ("colour_blind", "shape_blind", "position_shuffled"):
        assert broken["clip_score"] < real["clip_score"] - 15  # the CLIP score sees it too


# --- FID and KID in a second learned space: the probe's last shared layer -------------------

PROBE_KEYS = {"probe_test", "probe_compositional", "fid_probe", "kid_probe_x1000"}


@pytest.fixture(scope="module")
def probe():
    return api.load_probe(32)


@pytest.fixture(scope="module")
def probe_reference(clip, probe):
    return measures.reference_features(clip, N, seed=0, probe=probe)


@pytest.fixture(scope="module")
def real_probe(clip, probe, probe_reference):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return measures.measure(measures.real(), clip, probe, n=N, seed=0,
                                reference=probe_reference)


def test_probe_features_are_the_layer_the_heads_read(probe):
    images, _, _ = shapes.sample(50, "test", seed=3)
    raw = probe.features(images)                                    # (N, 128) ReLU activations
    assert raw.shape == (50, 128) and raw.dtype == np.float32 and (raw >= 0).all()
    logits = probe.model.predict(to_float(images), verbose=0)
    for key in ("color", "shape", "vpos"):  # each head is one Dense layer on these features
        np.testing.assert_allclose(np.asarray(probe.model.get_layer(key)(raw)), logits[key],
                                   rtol=1e-4, atol=1e-4)
    f = probe_features(probe, images)
    assert f.shape == (50, 128) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, rtol=1e-5)  # on the unit sphere
    np.testing.assert_array_equal(f, probe_features(probe, images))  # deterministic
    np.testing.assert_allclose(f[:7], probe_features(probe, images[:7], batch_size=3),
                               atol=1e-6)  # an image's features do not depend on its batch


def test_fid_in_probe_space_warns_at_1000_samples(probe):
    """D = 128: n = 1,000 < 10·D, so FID is biased upward here and says so (KID is not)."""
    a, b = (probe_features(probe, shapes.sample(1_000, "test", seed=s)[0])
            for s in (1, 2))  # two independent sets of renders
    with pytest.warns(UserWarning, match=r"N=1000 < 10·D=1280"):
        floor = metrics.fid(a, b)
    assert 0 < floor < 0.02  # measured 0.010: the bias floor of two sets of renders


def test_probe_space_keys_only_with_a_probe(real, real_probe, clip, probe, reference):
    assert set(real_probe) == set(real) | PROBE_KEYS
    assert not PROBE_KEYS & set(real)
    with pytest.raises(ValueError, match=r"reference_features\(\.\.\., probe=probe\)"):
        measures.measure(measures.real(), clip, probe, n=N, reference=reference)


def test_probe_space_fid_and_kid_rank_blur_below_renders(real_probe, clip, probe, probe_reference):
    # the floor: FID of the reference renders against a second, independent set of renders
    other = probe_features(probe, shapes.sample(N, "test", seed=11)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # N = 200 < 10·D on purpose: equal N
        floor = metrics.fid(other, probe_reference["probe_features"])
        blurred = measures.measure(measures.from_broken("blurred"), clip, probe, n=N, seed=0,
                                   reference=probe_reference)
    assert abs(real_probe["fid_probe"] - floor) < 0.15 * floor  # measured 0.043 vs 0.044
    assert abs(real_probe["kid_probe_x1000"]) < 0.1              # KID is unbiased: about 0
    assert blurred["fid_probe"] > 1.2 * real_probe["fid_probe"]  # measured 0.056 vs 0.043
    assert blurred["kid_probe_x1000"] > real_probe["kid_probe_x1000"] + 0.1  # 0.10 vs -0.04


@pytest.mark.parametrize("chapter", ["09", "10"])
@pytest.mark.parametrize("preset", presets.NAMES)
def test_every_preset_measures_enough_prompts_for_r_precision(preset, chapter):
    """R-precision draws 99 distractors of another meaning: n = 100 is never enough here."""
    n = presets.get(preset).chapter(chapter).EVAL_N
    for split in ("test", "compositional"):
        for seed in (5, 7):  # the notebook's renders and measure()'s prompts
            _, captions, _ = shapes.sample(n, split, seed=seed)
            groups = [tuple(sorted(text.parse(c).items())) for c in captions]
            feats = np.random.default_rng(0).normal(size=(n, 8))
            r = metrics.r_precision(feats, feats, groups=groups)  # raises if too few
            assert r == 1.0  # each image's own caption is itself


# --- reranking ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gan_labels():
    return api.load_model("gan-labels")


def test_rerank_with_one_candidate_is_plain_sampling(gan_labels, clip):
    np.testing.assert_array_equal(measures.rerank(gan_labels, clip, PROMPTS[:3], 1, seed=5),
                                  gan_labels.generate(PROMPTS[:3], seed=5))


def test_rerank_keeps_the_candidate_clip_likes_best(gan_labels, clip):
    k = 4
    best = measures.rerank(gan_labels, clip, PROMPTS, k, seed=2)
    assert best.shape == (len(PROMPTS), 32, 32, 3) and best.dtype == np.uint8
    candidates = gan_labels.generate(PROMPTS, seed=2, n_per_prompt=k).reshape(len(PROMPTS), k, 32, 32, 3)
    for prompt, image, cands in zip(PROMPTS, best, candidates):
        scores = clip.score(cands, [prompt] * k)
        matches = [j for j in range(k) if np.array_equal(cands[j], image)]
        assert matches, "the kept image is not one of the candidates"
        assert scores[matches[0]] == scores.max()
    assert any(len(np.unique(c.reshape(k, -1), axis=0)) > 1 for c in candidates)  # a real choice


@pytest.mark.parametrize("k", [0, -2, 1.5, True, "4"])
def test_rerank_rejects_a_bad_k(gan_labels, clip, k):
    with pytest.raises(ValueError, match="rerank k must be an integer >= 1"):
        measures.rerank(gan_labels, clip, PROMPTS[:1], k)


def test_rerank_curve_rows(gan_labels, clip):
    rows = measures.rerank_curve(gan_labels, clip, ks=(1, 2), n=40, seed=0)
    assert [r["k"] for r in rows] == [1, 2]
    for row in rows:
        assert set(row) == {"k", "ms_per_image_test", "ms_per_image_compositional",
                            "geometry_test", "geometry_compositional"}
    # k = 1 is the model's own geometry score on the same prompts
    _, captions, _ = shapes.sample(40, "test", seed=7)
    plain = geometry.fidelity(gan_labels.generate(captions, seed=0), [text.parse(c) for c in captions])
    assert rows[0]["geometry_test"] == round(plain["fidelity"], 4)


# --- the API --------------------------------------------------------------------------------

def _other_colour(prompt):
    colour = next(c for c in shapes.VALUES["color"] if re.search(rf"\b{c}\b", prompt))
    other = shapes.VALUES["color"][(shapes.VALUES["color"].index(colour) + 3) % 8]
    return re.sub(rf"\b{colour}\b", other, prompt)


def test_clip_score_of_renders_and_of_the_wrong_colour():
    renders = shapes.render([text.parse(p) for p in PROMPTS], seed=0)
    right = api.clip_score(renders, PROMPTS)
    assert right.shape == (len(PROMPTS),) and right.dtype.kind == "f"
    wrong = api.clip_score(shapes.render([text.parse(_other_colour(p)) for p in PROMPTS], seed=0),
                           PROMPTS)
    assert right.min() > 80  # measured: 86..93
    assert wrong.mean() < 65 and (right > wrong + 10).all()  # measured: 8..77, mean about 45
    with pytest.raises(ValueError, match="8 images but 2 prompts"):
        api.clip_score(renders, PROMPTS[:2])
    with pytest.raises(ValueError, match="unknown word 'purple'"):
        api.clip_score(renders[:1], ["a purple circle"])


def test_generate_with_rerank(clip):
    prompts = PROMPTS[:2]
    a = api.generate(prompts, seed=1, n_per_prompt=3, rerank=4, model="gan-labels")
    assert a.shape == (6, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, api.generate(prompts, seed=1, n_per_prompt=3, rerank=4,
                                                  model="gan-labels"))
    # one reranked draw for each of the n_per_prompt images, in prompt order
    repeated = [p for p in prompts for _ in range(3)]
    np.testing.assert_array_equal(a, measures.rerank(api.load_model("gan-labels"), clip, repeated, 4, seed=1))
    for bad in (0, True, 2.5):
        with pytest.raises(ValueError, match="rerank k must be an integer >= 1"):
            api.generate(prompts, rerank=bad, model="gan-labels")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        api.generate(prompts, rerank=2, seed=-1)
