"""Tests for dalle_edu.losses — every value here is one a student can compute by hand (Chapter 1).

Useful facts for checking the arithmetic in the comments:

    sigmoid(l) = 1 / (1 + e^-l),  softplus(l) = log(1 + e^l)
    log D = log sigmoid(l) = -softplus(-l),  log(1 - D) = -softplus(l)
    softplus(l) - softplus(-l) = l
    softplus(0) = log 2 = 0.693147...
    softplus(1) = log(1 + 2.718282) = log 3.718282 = 1.313262
    softplus(-1) = log(1 + 0.367879) = log 1.367879 = 0.313262
    softplus(-2) = log(1 + 0.135335) = log 1.135335 = 0.126928
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from dalle_edu import losses

LOG2 = math.log(2.0)
SP1, SPM1, SPM2 = 1.3132616875, 0.3132616875, 0.1269280110  # softplus(1), softplus(-1), softplus(-2)


def _np(x):
    return float(keras.ops.convert_to_numpy(x))


def _sigmoid(l):
    return 1.0 / (1.0 + np.exp(-l))


# --- closed-form values --------------------------------------------------------------------


def test_hand_constants_are_right():
    # the constants in the module docstring, from the definition softplus(l) = log(1 + e^l)
    assert SP1 == pytest.approx(math.log1p(math.e))
    assert SPM1 == pytest.approx(math.log1p(math.exp(-1)))
    assert SPM2 == pytest.approx(math.log1p(math.exp(-2)))
    assert SP1 - SPM1 == pytest.approx(1.0)  # softplus(l) - softplus(-l) = l


def test_minimax_d_loss_at_zero_logits_is_2_log_2():
    # l = 0 -> D = sigmoid(0) = 1/2 everywhere: -log(1/2) - log(1 - 1/2) = 2 log 2 = 1.386294
    zeros = np.zeros(8, "float32")
    assert _np(losses.minimax_d_loss(zeros, zeros)) == pytest.approx(2 * LOG2, rel=1e-6)
    # ... which is -V(D, G) at the equilibrium: V = -log 4
    assert _np(losses.minimax_d_loss(zeros, zeros)) == pytest.approx(math.log(4.0), rel=1e-6)


def test_generator_losses_at_zero_logits():
    zeros = np.zeros(5, "float32")
    # minimax G: E[log(1 - D)] = log(1/2) = -log 2 = -0.693147
    assert _np(losses.minimax_g_loss(zeros)) == pytest.approx(-LOG2, rel=1e-6)
    # non-saturating G: -E[log D] = -log(1/2) = log 2 = 0.693147
    assert _np(losses.nonsaturating_g_loss(zeros)) == pytest.approx(LOG2, rel=1e-6)


def test_minimax_d_loss_small_array_by_hand():
    real = np.array([1.0, 0.0], "float32")
    fake = np.array([-1.0, 1.0], "float32")
    # real part: mean softplus(-r) = (softplus(-1) + softplus(0)) / 2 = (0.313262 + 0.693147) / 2 = 0.503204
    # fake part: mean softplus(f)  = (softplus(-1) + softplus(1)) / 2 = (0.313262 + 1.313262) / 2 = 0.813262
    # total = 1.316466
    expected = (SPM1 + LOG2) / 2 + (SPM1 + SP1) / 2
    assert expected == pytest.approx(1.316466, abs=1e-6)
    assert _np(losses.minimax_d_loss(real, fake)) == pytest.approx(expected, rel=1e-6)
    # the non-saturating game trains D with the very same loss
    assert _np(losses.nonsaturating_d_loss(real, fake)) == pytest.approx(expected, rel=1e-6)


def test_generator_losses_small_array_by_hand():
    fake = np.array([-1.0, 0.0, 1.0], "float32")
    # minimax G: -mean softplus(f) = -(0.313262 + 0.693147 + 1.313262) / 3 = -0.773224
    assert _np(losses.minimax_g_loss(fake)) == pytest.approx(-(SPM1 + LOG2 + SP1) / 3, rel=1e-6)
    # non-saturating G: mean softplus(-f) = (1.313262 + 0.693147 + 0.313262) / 3 = 0.773224
    # (the same number: this array is symmetric around 0)
    assert _np(losses.nonsaturating_g_loss(fake)) == pytest.approx((SP1 + LOG2 + SPM1) / 3, rel=1e-6)
    # an asymmetric one tells them apart: f = [2]
    # minimax: -softplus(2) = -(2 + softplus(-2)) = -2.126928; non-saturating: softplus(-2) = 0.126928
    assert _np(losses.minimax_g_loss(np.array([2.0]))) == pytest.approx(-(2 + SPM2), rel=1e-6)
    assert _np(losses.nonsaturating_g_loss(np.array([2.0]))) == pytest.approx(SPM2, rel=1e-5)


def test_losses_match_log_of_sigmoid_for_moderate_logits():
    # where log(sigmoid(l)) is still safe, the softplus forms equal the textbook formulas
    r = np.array([-3.0, -0.5, 0.2, 4.0])
    f = np.array([2.5, -1.0, 0.0, -4.0])
    d_real, d_fake = _sigmoid(r), _sigmoid(f)
    v = np.mean(np.log(d_real)) + np.mean(np.log(1 - d_fake))  # V(D, G)
    assert _np(losses.minimax_d_loss(r, f)) == pytest.approx(-v, rel=1e-5)
    assert _np(losses.minimax_g_loss(f)) == pytest.approx(np.mean(np.log(1 - d_fake)), rel=1e-5)
    assert _np(losses.nonsaturating_g_loss(f)) == pytest.approx(-np.mean(np.log(d_fake)), rel=1e-5)


def test_bce_with_logits_by_hand():
    labels = np.array([1.0, 0.0], "float32")
    logits = np.array([2.0, -1.0], "float32")
    # y=1, l=2:  -log sigmoid(2)      = softplus(-2) = 0.126928
    # y=0, l=-1: -log(1 - sigmoid(-1)) = softplus(-1) = 0.313262
    # mean = 0.220095
    assert _np(losses.bce_with_logits(labels, logits)) == pytest.approx((SPM2 + SPM1) / 2, rel=1e-6)


@pytest.mark.parametrize("shape", [(7,), (4, 1), (3, 5)])
def test_bce_with_logits_matches_keras(shape):
    rng = np.random.default_rng(0)
    labels = rng.uniform(size=shape).astype("float32")  # soft labels too
    logits = rng.normal(scale=3.0, size=shape).astype("float32")
    keras_bce = keras.losses.BinaryCrossentropy(from_logits=True)
    # keras averages over the last axis then the batch; for equal-size rows that is the plain mean
    assert _np(losses.bce_with_logits(labels, logits)) == pytest.approx(_np(keras_bce(labels, logits)), rel=1e-5)


def test_minimax_d_loss_is_bce_on_real_and_fake():
    rng = np.random.default_rng(1)
    r = rng.normal(size=(16, 1)).astype("float32")
    f = rng.normal(size=(16, 1)).astype("float32")
    keras_bce = keras.losses.BinaryCrossentropy(from_logits=True)
    # D's loss = BCE(1, real) + BCE(0, fake): label real as 1, fake as 0
    expected = _np(keras_bce(np.ones_like(r), r)) + _np(keras_bce(np.zeros_like(f), f))
    assert _np(losses.minimax_d_loss(r, f)) == pytest.approx(expected, rel=1e-5)
    # non-saturating G = BCE(1, fake): G pretends its fakes are real
    assert _np(losses.nonsaturating_g_loss(f)) == pytest.approx(_np(keras_bce(np.ones_like(f), f)), rel=1e-5)
    # minimax G = -BCE(0, fake)
    assert _np(losses.minimax_g_loss(f)) == pytest.approx(-_np(keras_bce(np.zeros_like(f), f)), rel=1e-5)


def test_hinge_losses_by_hand():
    real = np.array([2.0, 0.5], "float32")
    fake = np.array([-2.0, 0.0], "float32")
    # real: mean relu(1 - r) = (relu(-1) + relu(0.5)) / 2 = (0 + 0.5) / 2 = 0.25
    # fake: mean relu(1 + f) = (relu(-1) + relu(1)) / 2 = (0 + 1) / 2 = 0.5
    assert _np(losses.hinge_d_loss(real, fake)) == pytest.approx(0.75)
    # G: -mean f = -(-2 + 0) / 2 = 1
    assert _np(losses.hinge_g_loss(fake)) == pytest.approx(1.0)


def test_wasserstein_losses_by_hand():
    real = np.array([1.0, 3.0], "float32")
    fake = np.array([0.0, -2.0], "float32")
    # mean f - mean r = (-1) - 2 = -3: the critic rates real 3 points higher than fake
    assert _np(losses.wasserstein_d_loss(real, fake)) == pytest.approx(-3.0)
    assert _np(losses.wasserstein_g_loss(fake)) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["minimax", "non-saturating", "hinge", "wgan-gp"])
def test_every_loss_returns_a_float32_scalar(name):
    pair = losses.get(name)
    r = np.zeros((4, 1), "float64")  # float64 in, float32 out
    d, g = pair.d_loss(r, r), pair.g_loss(r)
    assert tuple(d.shape) == () and tuple(g.shape) == ()
    assert keras.backend.standardize_dtype(d.dtype) == "float32"
    assert keras.backend.standardize_dtype(g.dtype) == "float32"


# --- numerical stability -------------------------------------------------------------------


def test_large_logits_give_finite_losses_with_the_right_asymptotics():
    big = np.array([100.0], "float32")
    # D confidently right: D(x) = sigmoid(100) ~ 1, D(G(z)) = sigmoid(-100) ~ 0 -> loss ~ 0
    right = _np(losses.minimax_d_loss(big, -big))
    assert math.isfinite(right) and 0.0 <= right < 1e-6
    # D confidently wrong: loss = softplus(100) + softplus(100) ~ 100 + 100
    wrong = _np(losses.minimax_d_loss(-big, big))
    assert wrong == pytest.approx(200.0, rel=1e-6)
    # generator losses: softplus(l) ~ l for large l, ~ e^l ~ 0 for very negative l
    assert _np(losses.minimax_g_loss(big)) == pytest.approx(-100.0, rel=1e-6)
    assert abs(_np(losses.minimax_g_loss(-big))) < 1e-6
    assert _np(losses.nonsaturating_g_loss(-big)) == pytest.approx(100.0, rel=1e-6)
    assert abs(_np(losses.nonsaturating_g_loss(big))) < 1e-6
    assert _np(losses.bce_with_logits(np.array([1.0]), -big)) == pytest.approx(100.0, rel=1e-6)
    # the naive formula is what breaks: float32 sigmoid(100) rounds to exactly 1, log(1 - 1) = -inf
    with np.errstate(divide="ignore"):
        assert np.log(1 - _sigmoid(np.float32(100.0))) == -np.inf


def test_large_logits_give_finite_gradients():
    l = tf.Variable([-100.0, 100.0])
    for loss in (losses.minimax_g_loss, losses.nonsaturating_g_loss):
        with tf.GradientTape() as tape:
            value = loss(l)
        grad = tape.gradient(value, l).numpy()
        assert np.all(np.isfinite(grad)), (loss.__name__, grad)


# --- gradients with respect to the logit (Chapter 1: saturation) ---------------------------


def _grad(loss, logits):
    l = tf.Variable(np.asarray(logits, "float32"))
    with tf.GradientTape() as tape:
        value = loss(l)
    return tape.gradient(value, l).numpy()


def test_minimax_g_gradient_is_minus_sigmoid_over_n():
    l = np.array([-6.0, -2.0, 0.0, 1.5], "float32")
    n = l.size
    # d/dl [-(1/N) sum softplus(l)] = -sigmoid(l) / N; at l=0: -0.5 / 4 = -0.125
    np.testing.assert_allclose(_grad(losses.minimax_g_loss, l), -_sigmoid(l) / n, rtol=1e-5)
    assert _grad(losses.minimax_g_loss, l)[2] == pytest.approx(-0.125)


def test_nonsaturating_g_gradient_is_minus_one_minus_sigmoid_over_n():
    l = np.array([-6.0, -2.0, 0.0, 1.5], "float32")
    n = l.size
    # d/dl [(1/N) sum softplus(-l)] = -sigmoid(-l) / N = -(1 - sigmoid(l)) / N
    np.testing.assert_allclose(_grad(losses.nonsaturating_g_loss, l), -(1 - _sigmoid(l)) / n, rtol=1e-5)


def test_minimax_saturates_where_nonsaturating_does_not():
    # early in training D rejects fakes confidently: l = -6, D(G(z)) = 0.0025
    mm = _grad(losses.minimax_g_loss, [-6.0])[0]
    ns = _grad(losses.nonsaturating_g_loss, [-6.0])[0]
    assert abs(mm) < 0.003  # sigmoid(-6) = 0.002473
    assert abs(ns) > 0.99  # 1 - sigmoid(-6) = 0.997527


# --- shape checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["minimax", "non-saturating", "hinge", "wgan-gp"])
def test_mismatched_shapes_raise_a_clear_error(name):
    d_loss = losses.get(name).d_loss
    with pytest.raises(ValueError, match=r"same shape.*\(4, 1\).*\(4,\)"):
        d_loss(np.zeros((4, 1)), np.zeros(4))


def test_bce_refuses_to_broadcast():
    with pytest.raises(ValueError, match="labels and logits must have the same shape"):
        losses.bce_with_logits(np.ones(4), np.zeros((4, 1)))


def test_gradient_penalty_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="real and fake"):
        losses.gradient_penalty(lambda x: x, np.zeros((2, 3)), np.zeros((2, 4)))


# --- registry -------------------------------------------------------------------------------


def test_registry_names_and_pairs():
    assert set(losses.NAMES) == {"minimax", "non-saturating", "hinge", "wgan-gp"}
    assert losses.get("minimax") == (losses.minimax_d_loss, losses.minimax_g_loss, False)
    assert losses.get("non-saturating").g_loss is losses.nonsaturating_g_loss
    assert losses.get("hinge").d_loss is losses.hinge_d_loss
    wgan = losses.get("wgan-gp")
    assert wgan.d_loss is losses.wasserstein_d_loss and wgan.gradient_penalty is True


@pytest.mark.parametrize("alias", ["NS", "nonsaturating", "non_saturating", " Non-Saturating "])
def test_registry_aliases(alias):
    assert losses.get(alias) is losses.get("non-saturating")


def test_registry_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown GAN loss 'lsgan'") as err:
        losses.get("lsgan")
    for name in losses.NAMES:
        assert name in str(err.value)


# --- gradient penalty -----------------------------------------------------------------------


def _linear_critic(w):
    w = tf.constant(np.asarray(w, "float32").reshape(-1, 1))
    # C(x) = x . w, so grad_x C = w everywhere and ||grad|| = ||w||
    return lambda x: tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), w)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
    real = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    fake = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    gp = _np(losses.gradient_penalty(_linear_critic([0.6, 0.8]), real, fake, seed=0))  # ||w|| = 1
    assert gp == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("w", [[3.0, 4.0], [0.0, 0.5], [1.0, 1.0]])
def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared(w):
    real = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    fake = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    # ||(3, 4)|| = 5 -> (5 - 1)^2 = 16; ||(0, 0.5)|| = 0.5 -> 0.25; ||(1, 1)|| = sqrt 2 -> 0.171573
    expected = (np.linalg.norm(w) - 1.0) ** 2
    gp = _np(losses.gradient_penalty(_linear_critic(w), real, fake, seed=0))
    assert gp == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_on_image_batches_and_keras_critic():
    # (batch, H, W, C) images: the norm is over all pixels of each example
    real = np.random.default_rng(0).normal(size=(4, 2, 2, 1)).astype("float32")
    fake = np.zeros_like(real)
    critic = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)])
    critic.layers[-1].set_weights([np.full((4, 1), 0.5, "float32")])  # ||w|| = sqrt(4 * 0.25) = 1
    assert _np(losses.gradient_penalty(critic, real, fake, seed=0)) == pytest.approx(0.0, abs=1e-10)
    critic.layers[-1].set_weights([np.full((4, 1), 1.0, "float32")])  # ||w|| = 2 -> (2 - 1)^2 = 1
    assert _np(losses.gradient_penalty(critic, real, fake, seed=0)) == pytest.approx(1.0, rel=1e-5)


def test_gradient_penalty_with_a_conditional_critic_closure():
    seen = {}

    def critic(x, y, scale=1.0):
        seen["y"], seen["scale"] = y, scale
        return scale * tf.reduce_sum(x, axis=1, keepdims=True)  # w = (1, 1) * scale

    real, fake = np.ones((3, 2), "float32"), np.zeros((3, 2), "float32")
    gp = _np(losses.gradient_penalty(lambda x: critic(x, "caption", scale=2.0), real, fake, seed=0))
    assert seen == {"y": "caption", "scale": 2.0}
    assert gp == pytest.approx((2.0 * math.sqrt(2.0) - 1.0) ** 2, rel=1e-5)


# --- R1 penalty -----------------------------------------------------------------------------


@pytest.mark.parametrize("w", [[3.0, 4.0], [0.0, 0.5], [0.6, 0.8]])
def test_r1_penalty_of_a_linear_critic_is_its_squared_slope(w):
    # grad_x C = w at every real point: E||grad||^2 = ||w||^2 (25, 0.25, 1), no target norm
    real = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    assert _np(losses.r1_penalty(_linear_critic(w), real)) == pytest.approx(np.dot(w, w), rel=1e-5)


def test_r1_penalty_averages_per_example_squared_norms_over_images():
    # C(x) = sum(x^2) / 2 has grad x: the penalty is the mean over examples of ||x||^2
    real = np.random.default_rng(1).normal(size=(5, 2, 2, 3)).astype("float32")
    critic = lambda x: 0.5 * tf.reduce_sum(x ** 2, axis=[1, 2, 3])  # noqa: E731
    expected = (real.reshape(5, -1) ** 2).sum(1).mean()
    assert _np(losses.r1_penalty(critic, real)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="R1 penalty needs a critic differentiable"):
        losses.r1_penalty(lambda x: tf.stop_gradient(x), real)
