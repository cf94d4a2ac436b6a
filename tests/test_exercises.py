"""dalle_edu.exercises: each checker passes the package's version and names typical slips."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from dalle_edu import exercises, losses
from dalle_edu.exercises import Mismatch

sp = ops.softplus
relu = ops.relu


def _eps_real(critic, real, fake, eps):  # penalty taken at the real images
    with tf.GradientTape() as tape:
        tape.watch(real)
        out = critic(real)
    g = tape.gradient(out, real)
    return tf.reduce_mean((tf.norm(tf.reshape(g, [len(real), -1]), axis=1) - 1) ** 2)


def _gp_squared(critic, real, fake, eps):  # squared norm
    x = eps * real + (1 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = critic(x)
    g = tape.gradient(out, x)
    return tf.reduce_mean((tf.reduce_sum(tf.reshape(g, [len(x), -1]) ** 2, axis=1) - 1) ** 2)


def _step_g_before_d(g, d, g_opt, d_opt, real, z, z_g):  # G judged by D *before* its update
    with tf.GradientTape() as dt, tf.GradientTape() as gt:
        d_loss = losses.minimax_d_loss(d(real), d(g(z)))
        g_loss = losses.nonsaturating_g_loss(d(g(z_g)))
    d_opt.apply_gradients(zip(dt.gradient(d_loss, d.trainable_variables), d.trainable_variables))
    g_opt.apply_gradients(zip(gt.gradient(g_loss, g.trainable_variables), g.trainable_variables))
    return d_loss, g_loss


def _step_no_g(g, d, g_opt, d_opt, real, z, z_g):  # forgets G's update
    with tf.GradientTape() as tape:
        d_loss = losses.minimax_d_loss(d(real), d(g(z)))
    d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
    return d_loss, losses.nonsaturating_g_loss(d(g(z)))


def _step_d_on_both(g, d, g_opt, d_opt, real, z, z_g):  # D's loss with real and fake swapped
    with tf.GradientTape() as tape:
        d_loss = losses.minimax_d_loss(d(g(z)), d(real))
    d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
    with tf.GradientTape() as tape:
        g_loss = losses.nonsaturating_g_loss(d(g(z_g)))
    g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
    return d_loss, g_loss


def _step_same_noise(g, d, g_opt, d_opt, real, z, z_g):  # G reuses D's noise
    return exercises.gan_step(g, d, g_opt, d_opt, real, z, z)


def _vq_no_st(flat, codebook):
    d = tf.reduce_sum((flat[:, None] - codebook[None]) ** 2, -1)
    ids = tf.argmin(d, axis=1)
    return tf.gather(codebook, ids), ids


def _vq_argmax(flat, codebook):
    d = tf.reduce_sum((flat[:, None] - codebook[None]) ** 2, -1)
    ids = tf.argmax(d, axis=1)
    q = tf.gather(codebook, ids)
    return flat + tf.stop_gradient(q - flat), ids


def _ema_swapped(count, summed, flat, ids, g, e):
    onehot = tf.one_hot(ids, 4)
    n, s = tf.reduce_sum(onehot, 0), tf.transpose(onehot) @ flat
    count, summed = (1 - g) * count + g * n, (1 - g) * summed + g * s
    total = tf.reduce_sum(count)
    return count, summed, summed / ((count + e) / (total + 4 * e) * total)[:, None]


def _ema_unsmoothed(count, summed, flat, ids, g, e):
    onehot = tf.one_hot(ids, 4)
    n, s = tf.reduce_sum(onehot, 0), tf.transpose(onehot) @ flat
    count, summed = g * count + (1 - g) * n, g * summed + (1 - g) * s
    return count, summed, summed / count[:, None]


def _attn(mask=True, scale=True):
    def head(q, k, v):
        s = q @ tf.transpose(k) / (np.sqrt(q.shape[-1]) if scale else 1.0)
        if mask:
            s = tf.where(np.tri(q.shape[0], dtype=bool), s, -1e9)
        return tf.nn.softmax(s, axis=-1) @ v
    return head


def _kv_no_append(q, k, v, cache):
    return _attn()(q, k, v), (k, v)


def _kv_alone(q, k, v, cache):
    if cache is not None:
        k_all, v_all = tf.concat([cache[0], k], 0), tf.concat([cache[1], v], 0)
    else:
        k_all, v_all = k, v
    return v, (k_all, v_all)


def _fid_no_cross(a, b):
    return (((a.mean(0) - b.mean(0)) ** 2).sum()
            + np.trace(np.cov(a, rowvar=False)) + np.trace(np.cov(b, rowvar=False)))


def _fid_sqrt(a, b):
    from dalle_edu import metrics
    return np.sqrt(metrics.fid(a, b))


def _ddim_x0(x_t, v, ab_t, ab_s):
    return np.sqrt(ab_t) * x_t - np.sqrt(1 - ab_t) * v


def _ddim_noroot(x_t, v, ab_t, ab_s):
    x0, eps = np.sqrt(ab_t) * x_t - np.sqrt(1 - ab_t) * v, np.sqrt(1 - ab_t) * x_t + np.sqrt(ab_t) * v
    return ab_s * x0 + (1 - ab_s) * eps


def _ab(ab):
    return tf.reshape(ab, (-1, 1, 1, 1))


# (piece, wrong function, what the message must say)
WRONG = [
    ("d_loss", lambda r, f: tf.reduce_mean(sp(r)) + tf.reduce_mean(sp(-f)), "swapped"),
    ("d_loss", lambda r, f: tf.reduce_sum(sp(-r)) + tf.reduce_sum(sp(f)), "sum over the batch"),
    ("d_loss", lambda r, f: -tf.reduce_mean(tf.math.log(tf.sigmoid(r)))
     - tf.reduce_mean(tf.math.log(1 - tf.sigmoid(f))), "underflows"),
    ("g_loss", lambda f: -tf.reduce_mean(sp(f)), "minimax"),
    ("g_loss", lambda f: -tf.reduce_mean(sp(-f)), "the sign"),
    ("g_loss", lambda f: -tf.reduce_mean(tf.math.log(tf.sigmoid(f))), "underflows"),
    ("gradient_penalty", _eps_real, "taken at the real images"),
    ("gradient_penalty", _gp_squared, "squared norm"),
    ("gan_step", _step_g_before_d, "*after* its update"),
    ("gan_step", _step_no_g, "G's weights did not move"),
    ("gan_step", _step_d_on_both, "D's weights after the step differ"),
    ("gan_step", _step_same_noise, "on the fresh noise"),
    ("matching_d_loss", lambda r, f, w: tf.reduce_mean(relu(1 - r)) + tf.reduce_mean(relu(1 + f))
     + tf.reduce_mean(relu(1 + w)), "share weight 1"),
    ("matching_d_loss", lambda r, f, w: losses.hinge_d_loss(r, f), "wrong-caption term is missing"),
    ("matching_d_loss", lambda r, f, w: 0.5 * (losses.hinge_d_loss(r, f) + tf.reduce_mean(
        relu(1 - r)) + tf.reduce_mean(relu(1 - w))), "counts as *fake*"),
    ("info_nce", lambda l: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.range(3), l)), "only images -> captions"),
    ("info_nce", lambda l: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.range(3), l)) + tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.range(3), tf.transpose(l))), "summed"),
    ("fid", _fid_no_cross, "cross term"),
    ("fid", _fid_sqrt, "no square root"),
    ("nearest_code", _vq_no_st, "straight-through"),
    ("nearest_code", _vq_argmax, "argmax"),
    ("ema_codebook", _ema_swapped, "decay weighs the *old* value"),
    ("ema_codebook", _ema_unsmoothed, "Laplace smoothing"),
    ("attention_head", _attn(mask=False), "may only see j <= i"),
    ("attention_head", _attn(scale=False), "1 / sqrt(d)"),
    ("kv_step", _kv_no_append, "append the new k and v"),
    ("kv_step", _kv_alone, "attends to the new position alone"),
    ("q_sample", lambda x0, ab, eps: _ab(ab) * x0 + (1 - _ab(ab)) * eps, "square roots"),
    ("q_sample", lambda x0, ab, eps: tf.sqrt(1 - _ab(ab)) * x0 + tf.sqrt(_ab(ab)) * eps,
     "swapped"),
    ("ddim_step", _ddim_x0, "that is x0_hat"),
    ("ddim_step", _ddim_noroot, "square roots"),
]


@pytest.mark.parametrize("name", list(exercises.PIECES))
def test_the_package_version_passes_its_own_checker(name, capsys):
    fn = exercises.reference(name)
    assert exercises.check(name, fn) is fn
    assert capsys.readouterr().out.startswith(f"{name}: right")


@pytest.mark.parametrize("name, wrong, says", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in
                                                         enumerate(WRONG)])
def test_a_typical_slip_is_caught_with_its_message(name, wrong, says):
    with pytest.raises(Mismatch, match=None) as caught:
        exercises.check(name, wrong)
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    assert says in message, message


def test_every_piece_has_at_least_two_slips_and_ten_pieces_exist():
    assert len(exercises.PIECES) >= 10
    for name in exercises.PIECES:
        assert sum(n == name for n, _, _ in WRONG) >= 2, name


def test_an_unwritten_stub_hands_back_the_package_version(capsys):
    def d_loss(real_logits, fake_logits):
        raise NotImplementedError  # your turn

    assert exercises.check("d_loss", d_loss) is losses.minimax_d_loss
    assert "not written yet" in capsys.readouterr().out


def test_a_student_error_is_one_line_and_unknown_pieces_are_named():
    with pytest.raises(Mismatch, match=r"^info_nce: your function raised ZeroDivisionError"):
        exercises.check("info_nce", lambda logits: 1 / 0)
    with pytest.raises(Mismatch, match="expected one number"):
        exercises.check("info_nce", lambda logits: logits)
    with pytest.raises(KeyError, match="d_loss"):
        exercises.check("d_los", lambda: 0)
    with pytest.raises(TypeError, match="expected a function"):
        exercises.check("d_loss", 3)


def test_the_exercise_gan_step_is_the_training_step_the_gan_class_takes():
    """exercises.gan_step and GAN.train_step move G and D alike (no EMA, one critic step)."""
    import keras
    from dalle_edu import GAN

    rng = np.random.default_rng(0)
    real = rng.normal(size=(8, 2)).astype("float32")
    z, z2 = rng.normal(size=(2, 8, 3)).astype("float32")
    g1, d1 = exercises._toy_pair()
    exercises.gan_step(g1, d1, keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5),
                       tf.constant(real), tf.constant(z), tf.constant(z2))
    g2, d2 = exercises._toy_pair()
    gan = GAN(g2, d2, latent_dim=3)
    gan.compile(keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5), loss="non-saturating")
    zs = iter([z, z2])
    gan.noise = lambda batch: tf.constant(next(zs))  # D's noise, then G's
    gan.train_step(tf.constant(real))
    for a, b in zip(g1.weights + d1.weights, g2.weights + d2.weights):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-5)
