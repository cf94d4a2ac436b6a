"""The GAN objective family, as pure functions on discriminator *logits* — Chapter 1.

Conventions (Goodfellow et al. 2014, with D(x) = sigmoid(logit)):

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]        D maximises, G minimises.

Every function returns a scalar *to be minimised* by the network it is named after:

=================  =========================================  ===========================
name               discriminator loss                         generator loss
=================  =========================================  ===========================
``minimax``        -E[log D(x)] - E[log(1 - D(G(z)))]         E[log(1 - D(G(z)))]
``non-saturating`` same as minimax                            -E[log D(G(z))]
``hinge``          E[relu(1 - r)] + E[relu(1 + f)]            -E[f]
``wgan-gp``        E[f] - E[r] + lambda * GP                  -E[f]
=================  =========================================  ===========================

(r, f = critic outputs on real and generated data). All log-sigmoid terms use the
stable identities log D = -softplus(-l) and log(1 - D) = -softplus(l) on the logit l,
never log(sigmoid(l)), which underflows to log(0) = -inf once |l| is large.
"""

from __future__ import annotations

from collections import namedtuple

import keras
from keras import ops

__all__ = [
    "bce_with_logits", "minimax_d_loss", "minimax_g_loss", "nonsaturating_d_loss",
    "nonsaturating_g_loss", "hinge_d_loss", "hinge_g_loss", "wasserstein_d_loss",
    "wasserstein_g_loss", "gradient_penalty", "r1_penalty", "LossPair", "get", "NAMES",
]


def _shape(x):
    return tuple(getattr(x, "shape", ()))


def _check_same_shape(a, b, what_a: str, what_b: str) -> None:
    """Refuse mismatched shapes instead of letting broadcasting silently average a matrix."""
    sa, sb = _shape(a), _shape(b)
    if len(sa) != len(sb) or any(
        x is not None and y is not None and x != y for x, y in zip(sa, sb)
    ):
        raise ValueError(
            f"{what_a} and {what_b} must have the same shape, got {sa} and {sb}; "
            "a (batch, 1) against a (batch,) tensor would broadcast to (batch, batch). "
            "Reshape one of them first."
        )


def _float(x):
    return ops.convert_to_tensor(x, dtype="float32") if not hasattr(x, "dtype") else ops.cast(x, "float32")


def bce_with_logits(labels, logits):
    """Mean binary cross-entropy -[y log s(l) + (1 - y) log(1 - s(l))], computed stably.

    Equals ``keras.losses.BinaryCrossentropy(from_logits=True)(labels, logits)``,
    but refuses mismatched shapes instead of broadcasting them.
    """
    _check_same_shape(labels, logits, "labels", "logits")
    y, l = _float(labels), _float(logits)
    # -[y log s(l) + (1-y) log(1-s(l))] = y softplus(-l) + (1-y) softplus(l)
    return ops.mean(y * ops.softplus(-l) + (1.0 - y) * ops.softplus(l))


# --- minimax / non-saturating (Goodfellow et al. 2014) -------------------------------

def minimax_d_loss(real_logits, fake_logits):
    """-E[log D(x)] - E[log(1 - D(G(z)))]: the negated value V(D, G) that D maximises."""
    _check_same_shape(real_logits, fake_logits, "real_logits", "fake_logits")
    r, f = _float(real_logits), _float(fake_logits)
    return ops.mean(ops.softplus(-r)) + ops.mean(ops.softplus(f))


def minimax_g_loss(fake_logits):
    """E[log(1 - D(G(z)))]: the generator's half of V(D, G). Saturates when D wins (see Chapter 1)."""
    return -ops.mean(ops.softplus(_float(fake_logits)))


nonsaturating_d_loss = minimax_d_loss  # the discriminator's loss is the same BCE


def nonsaturating_g_loss(fake_logits):
    """-E[log D(G(z))]: same fixed point as minimax, strong gradients early in training."""
    return ops.mean(ops.softplus(-_float(fake_logits)))


# --- hinge (Lim & Ye 2017; Miyato et al. 2018) ---------------------------------------

def hinge_d_loss(real_logits, fake_logits):
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] on raw critic outputs."""
    _check_same_shape(real_logits, fake_logits, "real_logits", "fake_logits")
    r, f = _float(real_logits), _float(fake_logits)
    return ops.mean(ops.relu(1.0 - r)) + ops.mean(ops.relu(1.0 + f))


def hinge_g_loss(fake_logits):
    """-E[D(G(z))]."""
    return -ops.mean(_float(fake_logits))


# --- Wasserstein with gradient penalty (Arjovsky et al. 2017; Gulrajani et al. 2017) --

def wasserstein_d_loss(real_logits, fake_logits):
    """E[C(G(z))] - E[C(x)]: minus the critic's estimate of the Wasserstein-1 distance.

    Add ``gradient_penalty`` (weight 10 in WGAN-GP) to keep the critic 1-Lipschitz.
    """
    _check_same_shape(real_logits, fake_logits, "real_logits", "fake_logits")
    return ops.mean(_float(fake_logits)) - ops.mean(_float(real_logits))


def wasserstein_g_loss(fake_logits):
    """-E[C(G(z))]."""
    return -ops.mean(_float(fake_logits))


def gradient_penalty(critic, real, fake, seed=None, eps=None):
    """WGAN-GP term E[(||grad_x C(x_hat)||_2 - 1)^2], x_hat on lines between real and fake.

    ``critic`` is called as ``critic(x_hat)``; for a conditional critic pass a closure,
    ``lambda x: D([x, y])``. ``seed`` (an int or ``keras.random.SeedGenerator``) draws the
    mixing weights; ``eps`` (B, 1, ..., 1) gives them instead (Chapter 3's exercise).
    Uses ``tf.GradientTape``, so it needs the TensorFlow backend.
    """
    import tensorflow as tf

    _check_same_shape(real, fake, "real", "fake")
    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    if eps is None:
        batch = tf.shape(real)[0]
        eps_shape = tf.concat([[batch], tf.ones([tf.rank(real) - 1], tf.int32)], axis=0)
        eps = keras.random.uniform(eps_shape, seed=seed)
    eps = tf.cast(eps, tf.float32)
    x_hat = eps * real + (1.0 - eps) * fake
    norms = tf.sqrt(_squared_input_gradients(critic, x_hat, "the gradient penalty") + 1e-12)
    return tf.reduce_mean((norms - 1.0) ** 2)


def _squared_input_gradients(critic, x, what: str):
    """||grad_x C(x)||^2 for each example of the float32 batch x: shape (B,)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        out = critic(x)
    grads = tape.gradient(out, x)
    if grads is None:  # e.g. a critic that rounds, casts to int or stops the gradient
        raise ValueError(f"{what} needs a critic differentiable in its input image, but its "
                         "score does not depend on it through differentiable ops")
    return tf.reduce_sum(tf.reshape(grads, [tf.shape(x)[0], -1]) ** 2, axis=1)


def r1_penalty(critic, real):
    """R1 (Mescheder et al. 2018): E[||grad_x C(x)||^2] on *real* images only.

    It pushes D's slope to zero on the data, so D stops reacting to tiny changes of a real
    image; the loss term is ``gamma / 2 * r1_penalty`` (StyleGAN2's weighting). Unlike the
    WGAN-GP term it draws nothing and targets no norm of 1. ``critic`` is called as
    ``critic(x)`` (a closure for a conditional D); needs the TensorFlow backend.
    """
    import tensorflow as tf

    return tf.reduce_mean(_squared_input_gradients(critic, tf.cast(real, tf.float32),
                                                   "the R1 penalty"))


# --- registry -------------------------------------------------------------------------

LossPair = namedtuple("LossPair", ["d_loss", "g_loss", "gradient_penalty"])
"""A discriminator loss, a generator loss, and whether the GP term belongs with them."""

_REGISTRY = {
    "minimax": LossPair(minimax_d_loss, minimax_g_loss, False),
    "non-saturating": LossPair(nonsaturating_d_loss, nonsaturating_g_loss, False),
    "hinge": LossPair(hinge_d_loss, hinge_g_loss, False),
    "wgan-gp": LossPair(wasserstein_d_loss, wasserstein_g_loss, True),
}
NAMES = tuple(_REGISTRY)


def get(name: str) -> LossPair:
    """The loss pair called ``name`` (one of ``NAMES``); unknown names list the valid ones."""
    key = str(name).strip().lower().replace("_", "-")
    key = {"nonsaturating": "non-saturating", "ns": "non-saturating", "wgan": "wgan-gp"}.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"unknown GAN loss {name!r}; valid losses are: {', '.join(NAMES)}")
    return _REGISTRY[key]
