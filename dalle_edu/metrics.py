"""Distribution and retrieval measures on feature vectors — Chapter 10 (judging generators).

Every function takes features a network already computed, arrays of shape (N, D); which
network (Inception, a probe, CLIP) is the caller's choice. Numpy only.

* ``frechet_distance`` / ``fid`` — the Fréchet distance between two Gaussians fitted to
  the features (Heusel et al. 2017, "GANs trained by a two time-scale update rule").
  Biased upward at small N: two samples of the *same* distribution score > 0, by an
  amount that shrinks with N (Bińkowski et al. 2018; Chong & Forsyth 2020).
* ``kid`` — kernel inception distance: an unbiased estimate of the squared MMD with the
  cubic polynomial kernel ``k(x, y) = (x·y / D + 1)**3`` (Bińkowski et al. 2018,
  "Demystifying MMD GANs"). Its expected value is 0 for equal distributions at any N.
* ``precision_recall`` — k-NN manifold precision and recall (Kynkäänniemi et al. 2019,
  "Improved precision and recall metric for assessing generative models"): precision is
  how many fakes look real (fidelity), recall how much of the real data the fakes cover
  (diversity). FID folds both into one number; these two keep them apart.
* ``r_precision`` — text-image retrieval with 99 distractor captions (Xu et al. 2018,
  AttnGAN). ``cosine_scores`` / ``clip_score_from_embeddings`` — the CLIP score,
  ``100 * max(cos, 0)`` (Hessel et al. 2021, "CLIPScore").
* ``wilson_interval`` / ``share_text`` / ``tie`` — a share of prompts read right with its
  n and 95 % interval, and whether two shares differ beyond the noise.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

_CHUNK = 4_000_000  # entries of a distance block (32 MB of float64): 5,000 x 5,000 stays light


# ----------------------------------------------------------------------- input checks
def _features(x, name: str) -> np.ndarray:
    """(N, D) finite real features -> float64, else a one-line ValueError."""
    a = np.asarray(x)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.floating)
                               or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a 2-D float array (N, D), got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N samples, D features), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, but holds NaN or inf")
    return a.astype(np.float64)


def _pair(a, b, names=("feats_a", "feats_b")):
    a, b = _features(a, names[0]), _features(b, names[1])
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} need the same feature width D, "
                         f"got {a.shape[1]} and {b.shape[1]}")
    return a, b


# ----------------------------------------------------------------------- FID
def _sqrtm_psd(c: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigh (tiny negatives -> 0)."""
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2). Chapter 10.

    d² = ||mu1 - mu2||² + Tr(C1 + C2 - 2 (C1 C2)^{1/2}). The product C1 C2 is not
    symmetric, but Tr (C1 C2)^{1/2} = Tr (s C2 s)^{1/2} with s = C1^{1/2}, and s C2 s is
    symmetric PSD: its square root comes from eigh, no complex round-off.
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))  # (D,)
    c1, c2 = (np.atleast_2d(np.asarray(c, np.float64)) for c in (cov1, cov2))    # (D, D)
    d = len(mu1)
    if mu1.shape != (d,) or mu2.shape != (d,) or c1.shape != (d, d) or c2.shape != (d, d):
        raise ValueError(f"expected means (D,) and covariances (D, D) of one D, got "
                         f"{mu1.shape}, {c1.shape}, {mu2.shape}, {c2.shape}")
    s = _sqrtm_psd(c1)
    m = s @ c2 @ s                                                   # (D, D), symmetric PSD
    w = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(w, 0, None)).sum()                     # Tr (C1 C2)^{1/2}
    dist = ((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt
    return float(max(dist, 0.0))


def fid(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets. Chapter 10.

    Needs N > D samples in each set (else the covariance is singular: ValueError) and
    warns below 10·D: FID is biased upward at small N, so compare FIDs only at equal N,
    or use ``kid``, which is unbiased.
    """
    a, b = _pair(feats_a, feats_b)
    n, d = min(len(a), len(b)), a.shape[1]
    if n < d + 1:
        raise ValueError(f"FID needs more samples than feature dimensions: got N={n}, D={d}")
    if n < 10 * d:
        warnings.warn(f"FID with N={n} < 10·D={10 * d} samples is biased upward (Bińkowski et "
                      "al. 2018; Chong & Forsyth 2020): compare FIDs only at equal N, or use "
                      "kid(), which is unbiased", UserWarning, stacklevel=2)
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False),
                            b.mean(0), np.cov(b, rowvar=False))


# ----------------------------------------------------------------------- KID
def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(x, y) = (x·y / D + 1)³; x, y (m, D) each."""
    m, d = len(x), x.shape[1]

    def k(a, b):                                                     # (m, m) kernel matrix
        t = a @ b.T / d + 1
        return t * t * t                                             # 20x faster than t ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    # drop the diagonals k(x_i, x_i): they make the plain (V-statistic) estimate biased
    same = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(same - 2 * kxy.mean())


def kid(feats_a, feats_b, n_subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance: (mean, std) of unbiased MMD² over random subsets. Chapter 10.

    Each subset takes ``min(subset_size, N_a, N_b)`` samples from each set without
    replacement. The std is the spread over subsets (0 when a subset is the whole set).
    """
    a, b = _pair(feats_a, feats_b)
    m = min(int(subset_size), len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set (and subset_size >= 2), "
                         f"got N_a={len(a)}, N_b={len(b)}, subset_size={subset_size}")
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    if m == len(a) == len(b):
        n_subsets = 1  # every "subset" is the whole of both sets: one value, computed once
    rng = np.random.default_rng(seed)
    scores = [_mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                             b[rng.choice(len(b), m, replace=False)]) for _ in range(n_subsets)]
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------- precision / recall
def _sq_dists(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, m) squared Euclidean distances, clipped at 0 against round-off."""
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return np.maximum(d2, 0.0)


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """(n,) squared distance from each row to its k-th nearest *other* row, in chunks."""
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, N-1] for N={n} samples, got k={k}")
    step = max(1, _CHUNK // n)
    radii = np.empty(n)
    for start in range(0, n, step):
        d2 = _sq_dists(x[start:start + step], x)                     # (chunk, n)
        rows = np.arange(d2.shape[0])
        d2[rows, rows + start] = np.inf                              # not itself
        radii[start:start + step] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return radii


def _inside_any_ball(points: np.ndarray, centres: np.ndarray, radii2: np.ndarray) -> np.ndarray:
    """(n,) bool: is each point within some ball (centre, radius) — chunked."""
    step = max(1, _CHUNK // len(centres))
    inside = np.empty(len(points), bool)
    for start in range(0, len(points), step):
        d2 = _sq_dists(points[start:start + step], centres)          # (chunk, m)
        inside[start:start + step] = (d2 <= radii2[None, :]).any(1)
    return inside


def precision_recall(real_feats, fake_feats, k: int = 3) -> dict:
    """k-NN precision and recall (Kynkäänniemi et al. 2019). Chapter 10.

    Each real sample gets a ball reaching its k-th nearest real neighbour; their union
    estimates the real manifold. precision = share of fakes inside it. recall = share
    of reals inside the fake manifold (balls from fake-to-fake k-NN radii).
    """
    real, fake = _pair(real_feats, fake_feats, ("real_feats", "fake_feats"))
    precision = _inside_any_ball(fake, real, _knn_radii(real, k)).mean()
    recall = _inside_any_ball(real, fake, _knn_radii(fake, k)).mean()
    return {"precision": float(precision), "recall": float(recall)}


# ----------------------------------------------------------------------- text-image scores
def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cosine_scores(image_emb, text_emb) -> np.ndarray:
    """(N,) cosine between image i and text i. Chapter 10."""
    img, txt = _pair(image_emb, text_emb, ("image_emb", "text_emb"))
    if len(img) != len(txt):
        raise ValueError(f"need one text per image, got {len(img)} images and {len(txt)} texts")
    return (_unit_rows(img) * _unit_rows(txt)).sum(1)


def clip_score_from_embeddings(image_emb, text_emb) -> np.ndarray:
    """(N,) CLIP score ``100 * max(cos, 0)`` (Hessel et al. 2021). Chapter 10."""
    return 100.0 * np.maximum(cosine_scores(image_emb, text_emb), 0.0)


def r_precision(image_emb, text_emb, n_distractors: int = 99, seed: int = 0,
                groups=None) -> float:
    """R-precision (R = 1) of text retrieval, the AttnGAN protocol. Chapter 10.

    For image i, rank its own caption i among itself plus ``n_distractors`` captions drawn
    at random from the others, by cosine similarity; score = share of images whose own
    caption ranks first (a tie counts as a miss). Chance level: 1 / (n_distractors + 1).

    ``groups`` (N,) hashable: captions that *mean the same* (a paraphrase of caption i)
    are never drawn as its distractors. Real captions almost never repeat, so AttnGAN
    needs no such rule; the shapes world has few distinct meanings, and without it a
    perfect model would lose whenever a paraphrase of its caption is drawn.
    """
    img, txt = _pair(image_emb, text_emb, ("image_emb", "text_emb"))
    n = len(img)
    if len(txt) != n:
        raise ValueError(f"need one text per image, got {n} images and {len(txt)} texts")
    if n < n_distractors + 1:
        raise ValueError(f"R-precision with {n_distractors} distractors needs at least "
                         f"{n_distractors + 1} image-text pairs, got {n}")
    img, txt = _unit_rows(img), _unit_rows(txt)
    rng = np.random.default_rng(seed)
    if groups is None:
        # (N, n_distractors) distinct indices != i: draw from range(N - 1), skip over i
        others = np.stack([rng.choice(n - 1, n_distractors, replace=False) for _ in range(n)])
        others += others >= np.arange(n)[:, None]
    else:
        if len(groups) != n:
            raise ValueError(f"groups must have one entry per pair ({n}), got {len(groups)}")
        _, g = np.unique(np.asarray([str(x) for x in groups]), return_inverse=True)
        rows = []
        for i in range(n):
            pool = np.flatnonzero(g != g[i])
            if len(pool) < n_distractors:
                raise ValueError(f"pair {i} has only {len(pool)} captions of another meaning; "
                                 f"{n_distractors} distractors are needed")
            rows.append(rng.choice(pool, n_distractors, replace=False))
        others = np.stack(rows)
    true = (img * txt).sum(1)                                        # (N,)
    hits = 0
    step = max(1, _CHUNK // (n_distractors * img.shape[1]))         # rows per block
    for s in range(0, n, step):
        wrong = np.einsum("nd,nkd->nk", img[s:s + step], txt[others[s:s + step]])  # (n, K)
        hits += int((true[s:s + step, None] > wrong).all(1).sum())
    return hits / n


# ----------------------------------------------------------------------- shares with n
def wilson_interval(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a share of ``n`` trials read right (Wilson 1927).

    Unlike share ± 1.96·sqrt(share(1 − share)/n) it stays inside [0, 1] and is not
    zero-width at 0 or 1: 1,000 of 1,000 right still means "at least 0.996".
    """
    n = int(n)
    if n <= 0 or not 0.0 <= share <= 1.0:
        raise ValueError(f"need 0 <= share <= 1 and n > 0, got share={share}, n={n}")
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def share_text(share: float, n: int, with_n: bool = True) -> str:
    """``0.955 [0.940, 0.966] n=1,000``: a share with its 95 % interval (and its n)."""
    lo, hi = wilson_interval(share, n)
    return f"{share:.3f} [{lo:.3f}, {hi:.3f}]" + (f" n={n:,}" if with_n else "")


def tie(a: tuple[float, int], b: tuple[float, int], z: float = 1.96) -> bool:
    """Whether shares a = (share, n) and b differ by less than the noise.

    True when the 95 % interval of the difference of two independent shares,
    (s_a - s_b) ± z·sqrt(s_a(1 - s_a)/n_a + s_b(1 - s_b)/n_b), holds 0.
    """
    (sa, na), (sb, nb) = a, b
    return abs(sa - sb) <= z * math.sqrt(sa * (1 - sa) / na + sb * (1 - sb) / nb)
