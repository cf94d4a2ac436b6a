"""Your turn: the key pieces a student writes, and a checker for each — every chapter.

A chapter's "your turn" cell holds a stub, then hands it to ``check``::

    def d_loss(real_logits, fake_logits):
        raise NotImplementedError  # your turn

    d_loss = exercises.check("d_loss", d_loss)

``check`` calls the function at test points and compares it with the package's version:

* **right**: it prints one line saying so and returns *your* function;
* **wrong**: it raises ``Mismatch`` with one line saying what is wrong — a shape, a value
  at a test point (with the likely slip, when it is a common one), or a gradient;
* **not written yet** (the stub still raises ``NotImplementedError``): it says so and
  returns the package's version, so the chapter runs on.

``PIECES`` lists every piece: its chapter, signature and the package function it must
match. The test points are small and fixed, so a check takes well under a second.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["check", "Mismatch", "PIECES", "Piece", "reference", "gan_step"]


class Mismatch(AssertionError):
    """A student's piece disagrees with the package's; the message says where."""


@dataclass(frozen=True)
class Piece:
    chapter: str
    signature: str
    matches: str  # the package's version, by name
    checker: Callable  # checker(fn) raises Mismatch, returns a one-line note on success


PIECES: dict[str, Piece] = {}


def _piece(name, chapter, signature, matches):
    def register(checker):
        PIECES[name] = Piece(chapter, signature, matches, checker)
        return checker
    return register


def reference(name: str) -> Callable:
    """The package's version of piece ``name``, with the piece's signature."""
    _known(name)
    return _REFERENCES[name]()


def check(name: str, fn: Callable) -> Callable:
    """Check ``fn`` as piece ``name``; return it when right, the package's when unwritten."""
    _known(name)
    piece = PIECES[name]
    if not callable(fn):
        raise TypeError(f"{name}: expected a function {piece.signature}, got {type(fn).__name__}")
    try:
        note = piece.checker(fn)
    except NotImplementedError:
        print(f"{name}: not written yet, so the chapter goes on with the package's "
              f"{piece.matches}. Write it in this cell and run the cell again.")
        return reference(name)
    except Mismatch as e:
        raise Mismatch(str(e)) from None
    except Exception as e:  # noqa: BLE001 — the student's code failed: one line, not a trace
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise Mismatch(f"{name}: your function raised {type(e).__name__}: {first}") from None
    print(f"{name}: right — it matches the package's {piece.matches} ({note}).")
    return fn


def _known(name):
    if name not in PIECES:
        raise KeyError(f"no exercise piece named {name!r}; the pieces are: {', '.join(PIECES)}")


# ------------------------------------------------------------------ comparing helpers

def _np(x) -> np.ndarray:
    from keras import ops
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _tensor(a):
    import tensorflow as tf
    return tf.constant(np.asarray(a, np.float32))


def _fmt(x) -> str:
    x = np.asarray(x, np.float64)
    return f"{float(x):.4g}" if x.size == 1 else np.array2string(x.ravel()[:4], precision=4) + (
        " ..." if x.size > 4 else "")


def _scalar(name, got) -> float:
    g = _np(got)
    if g.size != 1:
        raise Mismatch(f"{name}: expected one number (a mean over the batch), got shape {g.shape}")
    return float(g.reshape(()))


def _same(name, what, got, want, slips=(), rtol=1e-4, atol=1e-5):
    """Raise Mismatch unless got ≈ want; name the slip whose value got matches, if any."""
    got, want = _np(got), np.asarray(want, np.float64)
    if got.shape != want.shape and got.size != want.size:
        raise Mismatch(f"{name}: {what}: expected shape {want.shape}, got {got.shape}")
    got = got.reshape(want.shape)
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        raise Mismatch(f"{name}: {what}: expected {_fmt(want)}, got {_fmt(got)} (not finite)"
                       + "".join(f" — {hint}" for v, hint in slips if v is None))
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return
    for value, hint in slips:
        if value is not None and np.allclose(got, np.asarray(value, np.float64).reshape(want.shape),
                                             rtol=rtol, atol=atol):
            raise Mismatch(f"{name}: {what}: expected {_fmt(want)}, got {_fmt(got)} — {hint}")
    raise Mismatch(f"{name}: {what}: expected {_fmt(want)}, got {_fmt(got)}")


def _softplus(x):
    return np.logaddexp(0.0, x)


# ------------------------------------------------------------- Chapter 1: the losses

_R = np.array([[1.5], [-0.5], [2.0], [0.2]])  # real logits (B, 1)
_F = np.array([[-1.0], [0.3], [0.0], [-2.5]])  # fake logits (B, 1)


@_piece("d_loss", "01", "d_loss(real_logits, fake_logits) -> scalar",
        "losses.minimax_d_loss")
def _check_d_loss(fn):
    from dalle_edu import losses
    for r, f in ((_R, _F), (_R[:2] * 3, _F[:2] * 3)):
        want = losses.minimax_d_loss(_tensor(r), _tensor(f))
        got = _scalar("d_loss", fn(_tensor(r), _tensor(f)))
        _same("d_loss", f"at real_logits {_fmt(r)}, fake_logits {_fmt(f)}", got, want, slips=[
            (_softplus(r).mean() + _softplus(-f).mean(), "real and fake swapped: D wants D(x) -> 1"),
            (_softplus(-r).sum() + _softplus(f).sum(), "a sum over the batch; take the mean"),
            (_softplus(-r).mean(), "only the real term: add -E[log(1 - D(G(z)))]"),
            (-_softplus(-r).mean() - _softplus(f).mean(), "the sign: minimise -V, not V"),
            (_softplus(-r).mean() + _softplus(-f).mean(),
             "the fake term is -log(1 - D(G(z))) = softplus(f): D wants D(G(z)) -> 0"),
        ])
    big = np.array([[200.0], [-200.0]])
    want = losses.minimax_d_loss(_tensor(big), _tensor(-big))
    got = _scalar("d_loss", fn(_tensor(big), _tensor(-big)))
    _same("d_loss", "at logits ±200", got, want, slips=[
        (None, "log(sigmoid(l)) underflows to log 0: write log D(x) as -softplus(-l)")])
    return "3 batches, logits up to ±200"


@_piece("g_loss", "01", "g_loss(fake_logits) -> scalar", "losses.nonsaturating_g_loss")
def _check_g_loss(fn):
    from dalle_edu import losses
    for f in (_F, _F[:2] * 4):
        want = losses.nonsaturating_g_loss(_tensor(f))
        got = _scalar("g_loss", fn(_tensor(f)))
        _same("g_loss", f"at fake_logits {_fmt(f)}", got, want, slips=[
            (-_softplus(f).mean(), "that is the minimax loss E[log(1 - D(G(z)))], which "
                                   "saturates; the non-saturating one is -E[log D(G(z))]"),
            (-_softplus(-f).mean(), "the sign: G minimises -E[log D(G(z))]"),
            (_softplus(-f).sum(), "a sum over the batch; take the mean"),
        ])
    f = np.array([[-200.0], [200.0]])
    _same("g_loss", "at fake_logits ±200", _scalar("g_loss", fn(_tensor(f))),
          losses.nonsaturating_g_loss(_tensor(f)), slips=[
              (None, "log(sigmoid(l)) underflows: write -log D as softplus(-l)")])
    return "3 batches, logits up to ±200"


# ------------------------------------------------- Chapter 3: the gradient penalty

def _toy_critic():
    """C(x) = sum_i w_i x_i + c/2 ||x||^2 per example: grad = w + c x, depends on x."""
    import tensorflow as tf
    w = tf.constant(np.linspace(-1.0, 1.5, 6).reshape(1, 2, 3).astype(np.float32))
    return lambda x: tf.reduce_sum(w * x + 0.4 * x * x, axis=[1, 2])[:, None]


@_piece("gradient_penalty", "03", "gradient_penalty(critic, real, fake, eps) -> scalar",
        "losses.gradient_penalty")
def _check_gradient_penalty(fn):
    from dalle_edu import losses
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 2, 3)) + 1.0
    eps = rng.uniform(size=(5, 1, 1))
    critic = _toy_critic()
    want = losses.gradient_penalty(critic, _tensor(real), _tensor(fake), eps=_tensor(eps))
    got = _scalar("gradient_penalty", fn(critic, _tensor(real), _tensor(fake), _tensor(eps)))
    w = np.linspace(-1.0, 1.5, 6).reshape(1, 2, 3)

    def norms(x):
        return np.sqrt(((w + 0.8 * x) ** 2).reshape(len(x), -1).sum(1))
    x_hat = eps * real + (1 - eps) * fake
    _same("gradient_penalty", "on a critic with gradient w + 0.8 x", got, want, slips=[
        (((norms(real) - 1) ** 2).mean(), "taken at the real images; take it at "
                                          "x_hat = eps * real + (1 - eps) * fake"),
        (((norms(x_hat) ** 2 - 1) ** 2).mean(), "the squared norm; use ||grad||_2 itself"),
        (((np.sqrt((norms(x_hat) ** 2).sum()) - 1) ** 2), "one norm over the whole batch; "
                                                          "take one per example"),
        ((np.maximum(norms(x_hat) - 1, 0) ** 2).mean(), "one-sided: WGAN-GP penalises "
                                                        "norms below 1 too"),
    ])
    return "5 examples of a critic whose gradient depends on x"


# -------------------------------------------------- Chapter 2: the GradientTape step

def gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z_d, z_g):
    """One D update on noise ``z_d``, then one G update on fresh noise ``z_g``.

    The non-saturating losses; G is judged by the *updated* D. Returns (d_loss, g_loss).
    This is ``GAN.train_step`` without what it adds around these lines (conditions,
    several critic steps, penalties, EMA, replicas); Chapter 2 checks they agree.
    """
    import tensorflow as tf
    from dalle_edu import losses
    fake = generator(z_d, training=True)  # outside the tape: no gradient reaches G here
    with tf.GradientTape() as tape:
        d_loss = losses.minimax_d_loss(discriminator(real, training=True),
                                       discriminator(fake, training=True))
    grads = tape.gradient(d_loss, discriminator.trainable_variables)
    d_optimizer.apply_gradients(zip(grads, discriminator.trainable_variables))
    with tf.GradientTape() as tape:
        g_loss = losses.nonsaturating_g_loss(
            discriminator(generator(z_g, training=True), training=True))
    grads = tape.gradient(g_loss, generator.trainable_variables)
    g_optimizer.apply_gradients(zip(grads, generator.trainable_variables))
    return d_loss, g_loss


def _toy_pair():
    import keras
    init = keras.initializers.RandomNormal(stddev=0.5, seed=3)
    g = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer=init,
                                                                bias_initializer="ones")])
    d = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer=init)])
    return g, d


@_piece("gan_step", "02", "gan_step(generator, discriminator, g_optimizer, d_optimizer, "
        "real, z_d, z_g) -> (d_loss, g_loss)", "exercises.gan_step (GAN.train_step's core)")
def _check_gan_step(fn):
    import keras
    rng = np.random.default_rng(4)
    real = _tensor(rng.normal(size=(8, 2)) + 2.0)
    z_d, z_g = _tensor(rng.normal(size=(8, 3))), _tensor(rng.normal(size=(8, 3)))
    runs = []
    for step in (gan_step, fn):
        g, d = _toy_pair()
        before = [np.array(w) for w in g.weights], [np.array(w) for w in d.weights]
        out = step(g, d, keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5), real, z_d, z_g)
        runs.append((before, [np.array(w) for w in g.weights], [np.array(w) for w in d.weights],
                     out))
    (g0, d0), g_want, d_want, (dl, gl) = runs[0]
    _, g_got, d_got, out = runs[1]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Mismatch("gan_step: return the pair (d_loss, g_loss)")
    players = (
        ("D", d0, d_got, d_want, out[0], dl,
         "apply D's gradients to discriminator.trainable_variables with d_optimizer",
         "D's loss is minimax_d_loss(D(real), D(G(z_d))), its gradient taken for D's "
         "variables only"),
        ("G", g0, g_got, g_want, out[1], gl,
         "record G's loss on a GradientTape and apply its gradients to "
         "generator.trainable_variables",
         "G's loss is nonsaturating_g_loss(D(G(z_g))) on the fresh noise, judged by D "
         "*after* its update"),
    )
    for who, start, got, want, loss, want_loss, still, wrong in players:  # D first, as the step
        if all(np.allclose(a, b) for a, b in zip(got, start)):
            raise Mismatch(f"gan_step: {who}'s weights did not move — {still}")
        if any(not np.allclose(a, b, atol=1e-5) for a, b in zip(got, want)):
            raise Mismatch(f"gan_step: {who}'s weights after the step differ from the "
                           f"package's — {wrong}")
        _same("gan_step", f"the returned {who.lower()}_loss", _scalar("gan_step", loss),
              want_loss)
    return "one step of a 3->2 G and a 2->1 D with SGD"


# ---------------------------------------- Chapter 7: hinge + matching-aware D loss

@_piece("matching_d_loss", "07", "matching_d_loss(real_logits, fake_logits, wrong_logits)"
        " -> scalar", "GAN.discriminator_loss with the hinge loss")
def _check_matching_d_loss(fn):
    from dalle_edu import losses
    r, f, w = _R, _F, np.array([[0.5], [-1.5], [1.2], [-0.2]])
    want = 0.5 * (_np(losses.hinge_d_loss(_tensor(r), _tensor(f)))
                  + _np(losses.hinge_d_loss(_tensor(r), _tensor(w))))
    got = _scalar("matching_d_loss", fn(_tensor(r), _tensor(f), _tensor(w)))
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    _same("matching_d_loss", f"at real {_fmt(r)}, fake {_fmt(f)}, wrong {_fmt(w)}", got, want,
          slips=[
              (relu(1 - r).mean() + relu(1 + f).mean() + relu(1 + w).mean(),
               "the two kinds of fake share weight 1: 1/2 [L(real, fake) + L(real, wrong)]"),
              (0.5 * (relu(1 - r).mean() + relu(1 + f).mean() + relu(1 - w).mean()
                      + relu(1 - r).mean()),
               "a real image with the wrong caption counts as *fake*: relu(1 + wrong)"),
              (relu(1 - r).mean() + relu(1 + f).mean(), "the wrong-caption term is missing"),
              (0.5 * (relu(-r).mean() + relu(f).mean() + relu(-r).mean() + relu(w).mean()),
               "the hinge has margin 1: relu(1 - r) and relu(1 + f)"),
          ])
    return "4 real, fake and wrong-caption logits"


# ----------------------------------------------------------------- Chapter 9: InfoNCE

@_piece("info_nce", "09", "info_nce(logits) -> scalar", "clip.info_nce")
def _check_info_nce(fn):
    from dalle_edu import clip
    logits = np.array([[3.0, 0.5, -1.0], [1.0, 2.0, 0.0], [2.5, -0.5, 1.5]])
    want = clip.info_nce(_tensor(logits))
    got = _scalar("info_nce", fn(_tensor(logits)))

    def ce(l):  # rows: cross-entropy with the diagonal as the label
        return (np.log(np.exp(l).sum(1)) - np.diag(l)).mean()
    _same("info_nce", f"on the 3 x 3 logits {_fmt(logits)}", got, want, slips=[
        (ce(logits), "only images -> captions; average it with captions -> images (the transpose)"),
        (ce(logits.T), "only captions -> images; average it with images -> captions"),
        (ce(logits) + ce(logits.T), "the two directions summed; CLIP takes their mean"),
        ((-np.log(np.exp(np.diag(logits)) / np.exp(logits).sum())), "one softmax over the "
                                                                    "whole matrix; it is per row"),
    ])
    return "an asymmetric 3 x 3 logit matrix"


# ----------------------------------------------------------------- Chapter 10: FID

@_piece("fid", "10", "fid(feats_a, feats_b) -> float", "metrics.fid")
def _check_fid(fn):
    from dalle_edu import metrics
    rng = np.random.default_rng(9)
    a = rng.normal(size=(400, 3)) @ np.array([[1.0, 0.3, 0], [0, 0.8, 0.2], [0, 0, 0.5]])
    b = rng.normal(size=(400, 3)) * [0.7, 1.2, 0.9] + [0.5, -0.2, 0.1]
    want = metrics.fid(a, b)
    got = fn(a, b)
    mu1, mu2, c1, c2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    d2 = ((mu1 - mu2) ** 2).sum()
    tr = np.trace(c1) + np.trace(c2)
    _same("fid", "on two 400 x 3 feature sets", _scalar("fid", got), want, rtol=1e-3, slips=[
        (d2 + tr, "the cross term -2 Tr (C1 C2)^(1/2) is missing"),
        (d2 + tr - 2 * np.sqrt(np.abs(c1 @ c2)).trace(), "an elementwise square root; "
                                                       "(C1 C2)^(1/2) is a matrix square root"),
        (want - d2 + np.sqrt(d2),
         "the mean term is the *squared* distance ||mu1 - mu2||^2"),
        (np.sqrt(max(want, 0)), "FID is the squared distance; no square root at the end"),
        (d2, "only the means; the covariances count too"),
    ])
    return "two 400 x 3 feature sets"


# ------------------------------------ Chapters 11 and 12: tokens and attention

@_piece("nearest_code", "11", "nearest_code(flat, codebook) -> (codes, ids)",
        "models.vqvae.nearest_code")
def _check_nearest_code(fn):
    import tensorflow as tf
    rng = np.random.default_rng(10)
    codebook = rng.normal(size=(6, 2)) * 2
    flat = rng.normal(size=(7, 2)) * 2
    d = ((flat[:, None] - codebook[None]) ** 2).sum(-1)
    want = d.argmin(1)
    z = tf.Variable(flat.astype(np.float32))
    with tf.GradientTape() as tape:
        out = fn(z, _tensor(codebook))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Mismatch("nearest_code: return the pair (codes, ids)")
        codes, ids = out
        probe = _tensor(np.arange(14).reshape(7, 2) / 10)
        y = tf.reduce_sum(tf.cast(codes, tf.float32) * probe)
    ids = _np(ids).astype(int).reshape(-1)
    if ids.shape != want.shape:
        raise Mismatch(f"nearest_code: ids: expected shape {want.shape}, got {ids.shape}")
    if not np.array_equal(ids, want):
        hint = (" — argmax picks the farthest code; take argmin" if np.array_equal(ids, d.argmax(1))
                else " — the nearest code minimises ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2"
                if np.array_equal(ids, (flat @ codebook.T).argmax(1)) else "")
        raise Mismatch(f"nearest_code: ids: expected {want.tolist()}, got {ids.tolist()}{hint}")
    _same("nearest_code", "the codes' values", codes, codebook[want], slips=[
        (flat, "these are the encoder outputs: the forward value is the code, codebook[ids]")])
    grad = tape.gradient(y, z)
    if grad is None or np.allclose(_np(grad), 0):
        raise Mismatch("nearest_code: no gradient reaches the encoder output — straight-through:"
                       " codes = flat + stop_gradient(codebook[ids] - flat)")
    _same("nearest_code", "the gradient to flat", grad, _np(probe), slips=[])
    return "7 vectors, 6 codes, and the straight-through gradient"


@_piece("ema_codebook", "11", "ema_codebook(count, summed, flat, ids, decay, epsilon) -> "
        "(count, summed, codebook)", "models.vqvae.ema_codebook")
def _check_ema_codebook(fn):
    from dalle_edu.models import vqvae
    rng = np.random.default_rng(11)
    count = np.array([3.0, 1.0, 0.5, 2.0])
    summed = rng.normal(size=(4, 2)) * count[:, None]
    flat = rng.normal(size=(6, 2))
    ids = np.array([0, 0, 1, 3, 3, 3])
    g, e = 0.9, 1e-3
    args = (_tensor(count), _tensor(summed), _tensor(flat), np.asarray(ids, np.int32), g, e)
    want = [_np(x) for x in vqvae.ema_codebook(*args)]
    got = fn(*args)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise Mismatch("ema_codebook: return (count, summed, codebook)")
    n = np.bincount(ids, minlength=4).astype(float)
    s = np.zeros((4, 2))
    np.add.at(s, ids, flat)
    _same("ema_codebook", "the new counts N", got[0], want[0], slips=[
        ((1 - g) * count + g * n, "decay weighs the *old* value: N <- g N + (1 - g) n"),
        (n, "no moving average: N <- g N + (1 - g) n"),
    ])
    _same("ema_codebook", "the new sums m", got[1], want[1], slips=[
        ((1 - g) * summed + g * s, "decay weighs the old sum: m <- g m + (1 - g) s")])
    new_n, new_m = g * count + (1 - g) * n, g * summed + (1 - g) * s
    with np.errstate(divide="ignore", invalid="ignore"):
        batch_mean = s / n[:, None]
    _same("ema_codebook", "the new codebook", got[2], want[2], rtol=1e-3, slips=[
        (new_m / new_n[:, None], "Laplace smoothing is missing: divide by "
                                 "(N + eps) / (sum N + K eps) * sum N"),
        (np.where(n[:, None] > 0, batch_mean, summed / count[:, None]),
         "the batch mean alone; the code is the moving sum over the moving count"),
    ])
    return "4 codes, 6 vectors, one with no vector this batch"


def _qkv(t, d, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(t, d)) for _ in range(3)]


@_piece("attention_head", "12", "attention_head(q, k, v) -> (T, d)",
        "models.transformer.causal_attention")
def _check_attention_head(fn):
    from dalle_edu.models import transformer
    q, k, v = _qkv(5, 4, 12)
    want = _np(transformer.causal_attention(_tensor(q), _tensor(k), _tensor(v)))
    got = _np(fn(_tensor(q), _tensor(k), _tensor(v)))
    if got.shape != want.shape:
        raise Mismatch(f"attention_head: expected shape {want.shape} (T, d), got {got.shape}")
    v2 = v.copy()
    v2[-1] += 10.0
    leaked = _np(fn(_tensor(q), _tensor(k), _tensor(v2)))
    if not np.allclose(leaked[:-1], got[:-1], atol=1e-5):
        raise Mismatch("attention_head: changing the last position's value changed earlier "
                       "outputs — position i may only see j <= i (mask the scores, then softmax)")

    def ref(scale):
        s = np.where(np.tri(5, dtype=bool), q @ k.T * scale, -1e9)
        w = np.exp(s - s.max(1, keepdims=True))
        return (w / w.sum(1, keepdims=True)) @ v
    _same("attention_head", "on 5 positions of width 4", got, want, slips=[
        (ref(1.0), "scale the scores by 1 / sqrt(d)"),
        (ref(1 / 4), "scale by 1 / sqrt(d), not 1 / d"),
    ])
    return "5 positions, width 4, and no peeking ahead"


@_piece("kv_step", "12", "kv_step(q, k, v, cache) -> (y, cache)",
        "models.transformer.causal_attention with a KV cache")
def _check_kv_step(fn):
    import tensorflow as tf
    from dalle_edu.models import transformer
    q, k, v = _qkv(5, 4, 13)
    want = _np(transformer.causal_attention(_tensor(q), _tensor(k), _tensor(v)))
    cache = None
    for t in range(5):
        with warnings.catch_warnings():  # Keras warns of a softmax over one key at t = 0
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            out = fn(_tensor(q[t:t + 1]), _tensor(k[t:t + 1]), _tensor(v[t:t + 1]), cache)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Mismatch("kv_step: return (y, cache) with cache = (keys, values) so far")
        y, cache = out
        try:
            keys, values = cache
        except (TypeError, ValueError):
            raise Mismatch("kv_step: the cache must be the pair (keys, values)") from None
        if tuple(tf.shape(keys).numpy()) != (t + 1, 4) or tuple(tf.shape(values).numpy()) != (t + 1, 4):
            raise Mismatch(f"kv_step: after position {t} the cache should hold {t + 1} keys and "
                           f"values of width 4, got shapes {tuple(tf.shape(keys).numpy())} and "
                           f"{tuple(tf.shape(values).numpy())} — append the new k and v")
        alone = v[t:t + 1]
        _same("kv_step", f"the output at position {t}, fed one position at a time",
              y, want[t:t + 1], slips=[(alone, "it attends to the new position alone; "
                                                "attend to every cached key too")])
    return "5 positions fed one at a time equal attention over all 5"


# ------------------------------------------------------- Chapter 13: diffusion

@_piece("q_sample", "13", "q_sample(x0, ab, eps) -> x_t", "diffusion.q_sample")
def _check_q_sample(fn):
    from dalle_edu import diffusion
    rng = np.random.default_rng(14)
    x0, eps = rng.uniform(-1, 1, size=(3, 2, 2, 1)), rng.normal(size=(3, 2, 2, 1))
    ab = np.array([0.9, 0.5, 0.05])
    want = diffusion.q_sample(_tensor(x0), _tensor(ab), _tensor(eps))
    got = fn(_tensor(x0), _tensor(ab), _tensor(eps))
    a = ab[:, None, None, None]
    _same("q_sample", "at alpha_bar 0.9, 0.5, 0.05", got, want, slips=[
        (a * x0 + (1 - a) * eps, "the square roots: sqrt(ab) x0 + sqrt(1 - ab) eps"),
        (np.sqrt(1 - a) * x0 + np.sqrt(a) * eps, "x0 and eps swapped: ab near 1 is almost clean"),
    ])
    return "3 images at three noise levels"


@_piece("ddim_step", "13", "ddim_step(x_t, v, ab_t, ab_s) -> x_s", "diffusion.ddim_step")
def _check_ddim_step(fn):
    from dalle_edu import diffusion
    rng = np.random.default_rng(15)
    x_t, v = rng.normal(size=(2, 2, 2, 1)), rng.normal(size=(2, 2, 2, 1))
    ab_t, ab_s = 0.3, 0.6
    want = diffusion.ddim_step(_tensor(x_t), _tensor(v), ab_t, ab_s)
    got = fn(_tensor(x_t), _tensor(v), ab_t, ab_s)
    a, s = math.sqrt(ab_t), math.sqrt(1 - ab_t)
    x0, eps = a * x_t - s * v, s * x_t + a * v
    _same("ddim_step", "from alpha_bar 0.3 to 0.6", got, want, slips=[
        (x0, "that is x0_hat; step to x_s = sqrt(ab_s) x0_hat + sqrt(1 - ab_s) eps_hat"),
        (math.sqrt(ab_s) * eps + math.sqrt(1 - ab_s) * x0, "x0_hat and eps_hat swapped"),
        (ab_s * x0 + (1 - ab_s) * eps, "the square roots of ab_s and 1 - ab_s"),
        (math.sqrt(ab_s) * (a * x_t + s * v) + math.sqrt(1 - ab_s) * (s * x_t - a * v),
         "the signs of v: x0_hat = sqrt(ab) x_t - sqrt(1 - ab) v"),
    ])
    return "a step from alpha_bar 0.3 to 0.6"


# ------------------------------------------------ the package's versions, by piece

def _ref_d_loss():
    from dalle_edu import losses
    return losses.minimax_d_loss


def _ref_g_loss():
    from dalle_edu import losses
    return losses.nonsaturating_g_loss


def _ref_gradient_penalty():
    from dalle_edu import losses
    return lambda critic, real, fake, eps: losses.gradient_penalty(critic, real, fake, eps=eps)


def _ref_matching_d_loss():
    from dalle_edu import losses
    return lambda r, f, w: 0.5 * (losses.hinge_d_loss(r, f) + losses.hinge_d_loss(r, w))


def _ref_info_nce():
    from dalle_edu import clip
    return clip.info_nce


def _ref_fid():
    from dalle_edu import metrics
    return metrics.fid


def _ref_vq(name):
    def get():
        from dalle_edu.models import vqvae
        return getattr(vqvae, name)
    return get


def _ref_attention():
    from dalle_edu.models import transformer
    return transformer.causal_attention


def _ref_kv_step():
    from keras import ops
    from dalle_edu.models import transformer

    def kv_step(q, k, v, cache):
        if cache is not None:
            k, v = ops.concatenate([cache[0], k], axis=0), ops.concatenate([cache[1], v], axis=0)
        return transformer.causal_attention(q, k, v), (k, v)
    return kv_step


def _ref_diffusion(name):
    def get():
        from dalle_edu import diffusion
        return getattr(diffusion, name)
    return get


_REFERENCES = {
    "d_loss": _ref_d_loss, "g_loss": _ref_g_loss, "gradient_penalty": _ref_gradient_penalty,
    "gan_step": lambda: gan_step, "matching_d_loss": _ref_matching_d_loss,
    "info_nce": _ref_info_nce, "fid": _ref_fid, "nearest_code": _ref_vq("nearest_code"),
    "ema_codebook": _ref_vq("ema_codebook"), "attention_head": _ref_attention,
    "kv_step": _ref_kv_step, "q_sample": _ref_diffusion("q_sample"),
    "ddim_step": _ref_diffusion("ddim_step"),
}
