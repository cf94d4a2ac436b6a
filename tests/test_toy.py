"""Toy mixtures: exact densities that integrate to 1, seeded samples, mode counting."""

import numpy as np
import pytest

from dalle_edu.data import toy

trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 calls it trapz


def test_1d_pdf_is_the_closed_form_and_integrates_to_one():
    single = toy.mixture_1d(means=[0.0], stds=1.0)
    assert single.pdf([0.0])[0] == pytest.approx(1 / np.sqrt(2 * np.pi))
    assert single.log_pdf([1.0])[0] == pytest.approx(-0.5 - 0.5 * np.log(2 * np.pi))
    m = toy.mixture_1d(means=(-2, 0.5, 3), stds=(0.3, 1.0, 0.5), weights=(0.2, 0.5, 0.3))
    x = np.linspace(-12, 12, 48_001)
    assert trapezoid(m.pdf(x), x) == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(np.log(m.pdf(x[::100])), m.log_pdf(x[::100]))


@pytest.mark.parametrize("mixture", [toy.ring(std=0.25), toy.grid(std=0.3), toy.ring(n_modes=3, std=0.4)])
def test_2d_pdf_integrates_to_one(mixture):
    t = np.linspace(-6, 6, 601)
    xx, yy = np.meshgrid(t, t, indexing="ij")
    p = mixture.pdf(np.stack([xx.ravel(), yy.ravel()], axis=1)).reshape(xx.shape)
    assert trapezoid(trapezoid(p, t, axis=1), t) == pytest.approx(1.0, abs=1e-4)


def test_default_benchmarks_and_log_pdf_far_away():
    ring, grid = toy.ring(), toy.grid()
    assert ring.modes.shape == (8, 2) and grid.modes.shape == (25, 2)
    assert np.allclose(np.linalg.norm(ring.modes, axis=1), 2.0)
    assert sorted(set(grid.modes[:, 0])) == [-4, -2, 0, 2, 4]
    # log_pdf stays finite where pdf underflows to 0 (logsumexp)
    far = np.array([[50.0, 50.0]])
    assert ring.pdf(far)[0] == 0.0 and np.isfinite(ring.log_pdf(far)[0])


def test_samples_are_seeded_and_match_the_mixture():
    ring = toy.ring()
    a, b, c = ring.sample(4000, seed=1), ring.sample(4000, seed=1), ring.sample(4000, seed=2)
    assert a.dtype == np.float32 and a.shape == (4000, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(np.linalg.norm(a, axis=1) - 2).max() < 0.2
    m = toy.mixture_1d()
    x = m.sample(20_000, seed=0)
    assert x.shape == (20_000, 1)
    assert x.mean() == pytest.approx(0.0, abs=0.05) and x.var() == pytest.approx(4.25, rel=0.05)


def test_modes_covered():
    for mixture in (toy.ring(), toy.grid()):
        modes, quality = toy.modes_covered(mixture.sample(5000, seed=0), mixture)
        assert modes == mixture.n_modes and quality > 0.97   # 2-D: P(r < 3 sd) = 0.989
    ring = toy.ring()
    collapsed = ring.modes[[0]] + 0.01 * np.random.default_rng(0).standard_normal((500, 2))
    assert toy.modes_covered(collapsed, ring) == (1, 1.0)
    two = np.concatenate([collapsed, ring.modes[[3]] + 0 * collapsed])
    assert toy.modes_covered(two, ring).modes == 2
    noise = np.random.default_rng(0).uniform(-3, 3, (1000, 2))
    cov = toy.modes_covered(noise, ring)
    assert cov.high_quality < 0.05
    assert toy.modes_covered(noise, ring, radius=3.0).high_quality == 1.0


def test_bad_mixtures_raise():
    with pytest.raises(ValueError, match="summing to 1"):
        toy.mixture_1d(means=(0, 1), weights=(0.5, 0.6))
    with pytest.raises(ValueError, match="positive"):
        toy.ring(std=0.0)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        toy.ring().pdf(np.zeros((3, 3)))


def test_collapse_report_tells_collapse_from_non_convergence():
    ring, rng = toy.ring(), np.random.default_rng(0)
    healthy = toy.collapse_report(ring.sample(4000, seed=0), ring)
    assert healthy.verdict == "healthy" and healthy.modes == 8
    assert healthy.on_mode > 0.97 and healthy.entropy == pytest.approx(3.0, abs=0.01)
    assert healthy.occupied == tuple(range(8))
    one = ring.modes[[2]] + 0.02 * rng.standard_normal((1000, 2))  # all on one mode
    r = toy.collapse_report(one, ring)
    assert r.verdict == "collapse" and r.modes == 1 and r.occupied == (2,)
    assert r.on_mode > 0.97 and r.entropy == 0.0
    two = np.concatenate([one, ring.modes[[5]] + 0.02 * rng.standard_normal((1000, 2))])
    r = toy.collapse_report(two, ring)
    assert (r.verdict, r.occupied) == ("collapse", (2, 5)) and r.entropy == pytest.approx(1.0, abs=0.01)
    # spread off the ring: a blob inside the circle and a wide ring — few samples near a mode
    for off in (0.5 * rng.standard_normal((1000, 2)),
                ring.modes[rng.integers(0, 8, 1000)] * 0.7 + 0.3 * rng.standard_normal((1000, 2))):
        r = toy.collapse_report(off, ring)
        assert r.verdict == "non-convergence" and r.on_mode < 0.1
    four = ring.sample(4000, seed=1)[:, :] * 1.0
    keep = np.isin(np.linalg.norm(four[:, None] - ring.modes[None], axis=-1).argmin(1), [0, 1, 2, 3])
    assert toy.collapse_report(four[keep], ring).verdict == "partial"
    assert toy.collapse_report(np.zeros((0, 2)), ring).verdict == "non-convergence"


def test_wasserstein1_1d_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(500)
    assert toy.wasserstein1_1d(a, a) == 0.0
    assert toy.wasserstein1_1d(a, a + 0.7) == pytest.approx(0.7)   # a shift moves every atom by c
    assert toy.wasserstein1_1d([0.0], [0.0, 1.0]) == pytest.approx(0.5)  # unequal sizes
    assert toy.wasserstein1_1d([0.0, 2.0], [1.0]) == pytest.approx(1.0)
    b = rng.standard_normal(300) * 2 + 1  # unequal sizes agree with equal-size sorting
    big = np.repeat(np.sort(b), 5)
    assert toy.wasserstein1_1d(a, b) == pytest.approx(toy.wasserstein1_1d(np.repeat(a, 3), big))
    # two Gaussians with equal sd: W1 = |mu1 - mu2|
    x, y = rng.normal(0.0, 0.5, 200_000), rng.normal(1.5, 0.5, 200_000)
    assert toy.wasserstein1_1d(x, y) == pytest.approx(1.5, abs=0.01)
    with pytest.raises(ValueError, match="at least one"):
        toy.wasserstein1_1d([], [1.0])
