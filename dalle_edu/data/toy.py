"""Toy densities with exact pdfs — Chapters 1–3 (the GAN game in 1-D, mode collapse in 2-D).

Mixtures of isotropic Gaussians whose density is known in closed form, so a chapter can
plot a generator's samples against the truth and count the modes it found::

    ring = toy.ring()                     # 8 Gaussians on a circle of radius 2
    x = ring.sample(1000, seed=0)         # (1000, 2) float32
    ring.pdf(x), ring.log_pdf(x)          # (1000,) each
    toy.modes_covered(x, ring)            # Coverage(modes=8, high_quality=0.99...)

Numpy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class GaussianMixture:
    """A mixture of isotropic Gaussians in d dimensions.

    means: (k, d) (or (k,) for d = 1); stds: a number or (k,); weights: (k,), summing
    to 1 (default: equal). ``pdf`` and ``log_pdf`` are exact.
    """

    def __init__(self, means, stds, weights=None, name: str = "mixture"):
        means = np.asarray(means, np.float64)
        self.means = means[:, None] if means.ndim == 1 else means          # (k, d)
        k, self.dim = self.means.shape
        self.stds = np.broadcast_to(np.asarray(stds, np.float64), (k,)).copy()  # (k,)
        w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (k,) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1, got {weights}")
        if np.any(self.stds <= 0):
            raise ValueError(f"stds must be positive, got {stds}")
        self.weights = w
        self.name = name

    @property
    def modes(self) -> np.ndarray:
        """The component centres, (k, d)."""
        return self.means

    @property
    def n_modes(self) -> int:
        return len(self.means)

    def __repr__(self):
        return f"GaussianMixture({self.name!r}, modes={self.n_modes}, dim={self.dim})"

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n draws, (n, d) float32; the same seed gives the same samples."""
        rng = np.random.default_rng(seed)
        comp = rng.choice(self.n_modes, size=n, p=self.weights)            # (n,)
        noise = rng.standard_normal((n, self.dim))                          # (n, d)
        return (self.means[comp] + noise * self.stds[comp, None]).astype(np.float32)

    def _points(self, x) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.dim == 1 and (x.ndim == 1 or x.ndim == 0):
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {x.shape}")
        return x

    def log_pdf(self, x) -> np.ndarray:
        """log p(x) = logsumexp_k [log w_k + log N(x; mu_k, s_k^2 I)], (n,)."""
        x = self._points(x)
        sq = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)              # (n, k)
        log_norm = -0.5 * self.dim * np.log(2 * np.pi * self.stds ** 2)     # (k,)
        with np.errstate(divide="ignore"):  # a zero weight is log 0 = -inf, fine
            logs = np.log(self.weights) + log_norm - 0.5 * sq / self.stds ** 2  # (n, k)
        top = logs.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(logs - top).sum(axis=1, keepdims=True)))[:, 0]

    def pdf(self, x) -> np.ndarray:
        """p(x), (n,)."""
        return np.exp(self.log_pdf(x))


def mixture_1d(means=(-2.0, 2.0), stds=0.5, weights=None) -> GaussianMixture:
    """A 1-D mixture (default: two equal bumps at -2 and 2, std 0.5). Chapter 1."""
    return GaussianMixture(np.asarray(means, np.float64), stds, weights, name="mixture_1d")


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """n_modes Gaussians evenly on a circle (the unrolled-GAN benchmark). Chapter 2."""
    angle = 2 * np.pi * np.arange(n_modes) / n_modes
    means = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)   # (k, 2)
    return GaussianMixture(means, std, name="ring")


def grid(k: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """k x k Gaussians on a square grid centred at 0 (the VEEGAN/PacGAN benchmark). Chapter 2."""
    ticks = (np.arange(k) - (k - 1) / 2) * spacing
    means = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 2)
    return GaussianMixture(means, std, name="grid")


class Coverage(NamedTuple):
    modes: int            # modes with enough high-quality samples near them
    high_quality: float   # share of samples within `radius` of some mode


def modes_covered(samples, mixture: GaussianMixture, radius: float | None = None,
                  min_count: int | None = None) -> Coverage:
    """Count the modes a generator covers — the mode-collapse metric of Chapter 2.

    A sample is high quality when it lies within ``radius`` (default: 3 standard
    deviations of that mode) of its nearest mode. A mode is covered when at least
    ``min_count`` high-quality samples are near it (default: 1% of the samples, at
    least 1). Returns ``Coverage(modes, high_quality)``, which unpacks as a tuple.
    """
    x = mixture._points(samples)
    n = len(x)
    if n == 0:
        return Coverage(0, 0.0)
    dist = np.sqrt(((x[:, None, :] - mixture.means[None]) ** 2).sum(-1))  # (n, k)
    nearest = dist.argmin(axis=1)                                          # (n,)
    radii = 3 * mixture.stds if radius is None else np.full(mixture.n_modes, float(radius))
    good = dist[np.arange(n), nearest] <= radii[nearest]                   # (n,)
    min_count = max(1, int(np.ceil(0.01 * n))) if min_count is None else int(min_count)
    counts = np.bincount(nearest[good], minlength=mixture.n_modes)
    return Coverage(int((counts >= min_count).sum()), float(good.mean()))


class CollapseReport(NamedTuple):
    on_mode: float        # share of samples within 3 sd of their nearest mode
    modes: int            # modes covered (as in ``modes_covered``)
    entropy: float        # entropy (bits) of the on-mode samples' mode histogram
    occupied: tuple       # indices of the covered modes (track them to see hopping)
    verdict: str          # "healthy", "partial", "collapse" or "non-convergence"


def collapse_report(samples, mixture: GaussianMixture, radius: float | None = None,
                    min_count: int | None = None) -> CollapseReport:
    """Tell mode collapse from non-convergence — Chapter 2.

    Collapse: the samples are *good* (most within ``radius``, default 3 sd, of a mode)
    but sit on few modes — high ``on_mode``, few ``modes``, low ``entropy``.
    Non-convergence: the samples are *off* the modes — low ``on_mode`` whatever the
    count. Healthy: high ``on_mode``, every mode covered, entropy near log2(k) bits.
    ``verdict`` applies these rules: on_mode < 0.5 is "non-convergence"; otherwise at
    most k // 4 modes (2 of 8) is "collapse", fewer than k is "partial", else "healthy".
    """
    x = mixture._points(samples)
    n, k = len(x), mixture.n_modes
    if n == 0:
        return CollapseReport(0.0, 0, 0.0, (), "non-convergence")
    dist = np.sqrt(((x[:, None, :] - mixture.means[None]) ** 2).sum(-1))  # (n, k)
    nearest = dist.argmin(axis=1)                                          # (n,)
    radii = 3 * mixture.stds if radius is None else np.full(k, float(radius))
    good = dist[np.arange(n), nearest] <= radii[nearest]                   # (n,)
    min_count = max(1, int(np.ceil(0.01 * n))) if min_count is None else int(min_count)
    counts = np.bincount(nearest[good], minlength=k)                       # (k,)
    occupied = tuple(int(i) for i in np.flatnonzero(counts >= min_count))
    p = counts[counts > 0] / max(1, counts.sum())
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: no "-0.0"
    on_mode = float(good.mean())
    if on_mode < 0.5:
        verdict = "non-convergence"
    elif len(occupied) <= max(1, k // 4):
        verdict = "collapse"
    else:
        verdict = "partial" if len(occupied) < k else "healthy"
    return CollapseReport(on_mode, len(occupied), entropy, occupied, verdict)


def wasserstein1_1d(a, b) -> float:
    """Exact W1 between two 1-D empirical distributions — Chapter 3.

    W1 = integral over x of |F_a(x) - F_b(x)|, the area between the two step CDFs; for
    equal sizes it is mean |sort(a) - sort(b)| (match the i-th smallest with the i-th).
    """
    a = np.sort(np.asarray(a, np.float64).ravel())
    b = np.sort(np.asarray(b, np.float64).ravel())
    if len(a) == 0 or len(b) == 0:
        raise ValueError("wasserstein1_1d needs at least one sample on each side")
    if len(a) == len(b):
        return float(np.abs(a - b).mean())
    xs = np.concatenate([a, b])
    xs.sort()
    fa = np.searchsorted(a, xs[:-1], side="right") / len(a)   # CDFs on each interval
    fb = np.searchsorted(b, xs[:-1], side="right") / len(b)
    return float((np.abs(fa - fb) * np.diff(xs)).sum())
