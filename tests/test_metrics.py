"""Distribution and retrieval measures (dalle_edu.metrics) against closed forms to check by hand."""

import warnings

import numpy as np
import pytest

from dalle_edu import metrics

RNG = np.random.default_rng(0)


def gauss(n, d, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


# --- Fréchet distance / FID -------------------------------------------------------------

def test_frechet_distance_in_1d_is_the_closed_form():
    # two 1-D Gaussians: d² = (m1 - m2)² + (s1 - s2)²
    m1, s1, m2, s2 = 0.5, 2.0, -1.0, 0.5
    d = metrics.frechet_distance([m1], [[s1**2]], [m2], [[s2**2]])
    assert d == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2)


def test_frechet_distance_with_diagonal_and_full_covariances():
    # diagonal covariances commute: (C1 C2)^{1/2} = diag(s1 s2), so d² is a sum per axis
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    d = metrics.frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    assert d == pytest.approx(((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum())
    # a full covariance pair against scipy's general matrix square root
    linalg = pytest.importorskip("scipy.linalg")
    a, b = RNG.normal(size=(5, 5)), RNG.normal(size=(5, 5))
    c1, c2 = a @ a.T + 0.1 * np.eye(5), b @ b.T
    mu1, mu2 = RNG.normal(size=5), RNG.normal(size=5)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
    assert metrics.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-6)
    # a singular (rank-1) covariance: tiny negative eigenvalues are clipped, no NaN
    v = RNG.normal(size=(5, 1))
    assert np.isfinite(metrics.frechet_distance(mu1, v @ v.T, mu2, c2))


def test_fid_of_shifted_gaussians_is_the_squared_shift():
    m = np.linspace(0.2, 0.9, 8)                                     # ||m||² = 2.84
    a, b = gauss(20_000, 8, seed=1), gauss(20_000, 8, m, seed=2)
    assert metrics.fid(a, b) == pytest.approx((m**2).sum(), abs=0.05)
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-9)


def test_fid_is_biased_at_small_n_and_kid_is_not():
    # two samples of the SAME Gaussian: FID > 0 on average, more at small N; KID averages 0
    fids, kids = {}, {}
    for n in (50, 2000):
        pairs = [(gauss(n, 4, seed=2 * r), gauss(n, 4, seed=2 * r + 1)) for r in range(10)]
        fids[n] = np.mean([metrics.fid(a, b) for a, b in pairs])
        kids[n] = [metrics.kid(a, b, n_subsets=2, subset_size=min(n, 200))[0] for a, b in pairs]
    assert fids[50] > 0.15 and fids[50] > 10 * fids[2000]
    for n, k in kids.items():                                        # mean within 3 std errors
        assert abs(np.mean(k)) < 3 * np.std(k) / np.sqrt(len(k)) + 1e-4, (n, k)
    mean, std = metrics.kid(gauss(500, 4, seed=8), gauss(500, 4, seed=9), 10, 200)
    assert abs(mean) < 3 * std


def test_kid_of_shifted_gaussians_is_clearly_positive():
    mean, std = metrics.kid(gauss(500, 4, seed=1), gauss(500, 4, 0.5, seed=2), 10, 200)
    assert mean > 0.5 and mean > 3 * std                             # vs ~0 for equal ones


def test_fid_warns_at_small_n_and_refuses_below_d_plus_1():
    with pytest.warns(UserWarning, match="biased upward.*kid"):
        metrics.fid(gauss(30, 8), gauss(30, 8, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics.fid(gauss(80, 8), gauss(80, 8, seed=1))             # N >= 10·D: quiet
    with pytest.raises(ValueError, match="more samples than feature dimensions: got N=8, D=8"):
        metrics.fid(gauss(8, 8), gauss(100, 8))


# --- precision and recall ---------------------------------------------------------------

def test_precision_recall_separates_fidelity_from_diversity():
    real = gauss(1000, 4, seed=1)
    same = metrics.precision_recall(real, gauss(1000, 4, seed=2))
    assert same["precision"] >= 0.9 and same["recall"] >= 0.9
    collapsed = metrics.precision_recall(real, np.repeat(real[:1], 1000, 0))
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.01
    far = metrics.precision_recall(real, gauss(1000, 4, 50.0, seed=3))
    assert far == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_does_not_depend_on_the_chunk_size(monkeypatch):
    real, fake = gauss(300, 3, seed=1), gauss(200, 3, 0.3, seed=2)
    whole = metrics.precision_recall(real, fake, k=2)
    monkeypatch.setattr(metrics, "_CHUNK", 1000)                     # blocks of a few rows
    assert metrics.precision_recall(real, fake, k=2) == whole


# --- text-image scores ------------------------------------------------------------------

def test_r_precision_is_one_for_matching_and_chance_for_random_texts():
    img = gauss(500, 16, seed=1)
    assert metrics.r_precision(img, img + 1e-3 * gauss(500, 16, seed=2)) == 1.0
    chance = metrics.r_precision(img, gauss(500, 16, seed=3))       # 1/100 expected
    assert 0.0 <= chance <= 0.04
    # fewer distractors: chance 1/10
    assert 0.04 <= metrics.r_precision(img, gauss(500, 16, seed=4), n_distractors=9) <= 0.17


def test_clip_score_is_100_times_the_positive_cosine():
    img = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    txt = np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(metrics.cosine_scores(img, txt), [1, 0, -1, np.sqrt(0.5)])
    np.testing.assert_allclose(metrics.clip_score_from_embeddings(img, txt),
                               [100, 0, 0, 100 * np.sqrt(0.5)])


# --- bad inputs -------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: metrics.fid(np.zeros(10), gauss(10, 1)), r"2-D array \(N samples, D features\)"),
    (lambda: metrics.fid(gauss(20, 2), gauss(20, 3)), "same feature width D, got 2 and 3"),
    (lambda: metrics.kid(np.full((5, 2), np.nan), gauss(5, 2)), "must be finite"),
    (lambda: metrics.kid(gauss(1, 2), gauss(5, 2)), "at least 2 samples"),
    (lambda: metrics.kid(np.array([["a", "b"]]), gauss(5, 2)), "2-D float array"),
    (lambda: metrics.precision_recall(gauss(3, 2), gauss(3, 2), k=3), r"k must be in \[1, N-1\]"),
    (lambda: metrics.r_precision(gauss(50, 2), gauss(50, 2)), "needs at least 100"),
    (lambda: metrics.r_precision(gauss(100, 2), gauss(120, 2)), "one text per image"),
    (lambda: metrics.cosine_scores(gauss(4, 2), gauss(5, 2)), "one text per image"),
    (lambda: metrics.frechet_distance([0, 0], np.eye(3), [0, 0], np.eye(2)),
     r"covariances \(D, D\)"),
])
def test_bad_inputs_raise_one_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wilson_interval_matches_its_closed_form_and_stays_in_0_1():
    from dalle_edu.metrics import share_text, tie, wilson_interval
    lo, hi = wilson_interval(0.5, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson_interval(1.0, 1000)
    assert hi == 1.0 and lo == pytest.approx(0.99617, abs=1e-4)
    assert wilson_interval(0.0, 10)[0] == 0.0 and wilson_interval(0.0, 10)[1] > 0.2
    assert share_text(0.955, 1000) == "0.955 [0.940, 0.966] n=1,000"
    assert tie((0.936, 500), (0.904, 500)) and tie((0.960, 200), (0.990, 200))
    assert not tie((0.5, 1000), (0.6, 1000)) and tie((1.0, 1000), (1.0, 1000))
    with pytest.raises(ValueError, match="n > 0"):
        wilson_interval(0.5, 0)
