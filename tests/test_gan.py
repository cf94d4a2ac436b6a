"""GAN: every loss trains, n_critic and EMA do what they say, GAN-CLS in closed form, clear errors."""

import numpy as np
import pytest
import keras
import tensorflow as tf
from keras import ops

from dalle_edu import device, losses
from dalle_edu.gan import GAN
from dalle_edu.models import dcgan_discriminator, dcgan_generator, mlp_discriminator, mlp_generator

LATENT = 4


def images(n=32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 1)).astype("float32")


def tiny_gan(conditional=None, loss="non-saturating", lr=1e-3, optimizer=keras.optimizers.Adam, **kw):
    """MLP GAN on 8x8x1 'images'; labels (3 classes) or 6-d 'text embeddings' as conditions."""
    device.set_seed(0)
    cond = {"label": dict(num_classes=3), "text": dict(cond_dim=6)}.get(conditional, {})
    G = mlp_generator(LATENT, (8, 8, 1), (16,), output_activation="tanh", **cond)
    D = mlp_discriminator((8, 8, 1), (16,), **cond)
    gan = GAN(G, D, LATENT, conditional=conditional, seed=0, **kw)
    gan.compile(optimizer(lr), optimizer(lr), loss=loss)
    return gan


def conditions(conditional, n=32):
    rng = np.random.default_rng(1)
    if conditional == "label":
        return rng.integers(0, 3, n).astype("int32")
    return rng.standard_normal((n, 6)).astype("float32")


@pytest.mark.parametrize("loss", losses.NAMES)
def test_each_loss_trains_and_reports_metrics(loss):
    gan = tiny_gan(loss=loss)
    history = gan.fit(images(), batch_size=8, epochs=2, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(len(v) == 2 and np.isfinite(v).all() for v in history.history.values())
    assert int(gan.step.numpy()) == 8
    if loss in ("minimax", "non-saturating"):  # D(x) reported as a probability
        assert all(0 < p < 1 for p in history.history["d_real"] + history.history["d_fake"])


@pytest.mark.parametrize("conditional", ["label", "text"])
def test_conditional_training_from_a_dataset(conditional):
    gan = tiny_gan(conditional)
    ds = tf.data.Dataset.from_tensor_slices((images(), conditions(conditional))).batch(8)
    history = gan.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"]).all()
    out = gan.generate(5, cond=conditions(conditional, 5), seed=0)
    assert out.shape == (5, 8, 8, 1) and np.abs(out).max() <= 1


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_discriminator_updates_per_generator_update(n_critic):
    gan = tiny_gan(n_critic=n_critic)
    gan.fit(images(), batch_size=8, epochs=1, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 4
    assert int(gan.d_optimizer.iterations.numpy()) == 4 * n_critic


def test_ema_decay_math_on_one_step():
    device.set_seed(0)  # a DCGAN: BatchNorm statistics are copied, weights averaged
    G = dcgan_generator(LATENT, image_size=8, channels=1, width=4)
    gan = GAN(G, dcgan_discriminator(8, 1, 4), LATENT, ema=0.75, seed=0)
    gan.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    before = [np.array(w) for w in G.weights]
    assert all(np.array_equal(a, np.array(e)) for a, e in zip(before, gan.ema_generator.weights))
    gan.fit(images(8), batch_size=8, epochs=1, verbose=0)  # exactly one step
    for w, w0, e in zip(G.weights, before, gan.ema_generator.weights):
        w1, e1 = np.array(w), np.array(e)
        expected = 0.75 * w0 + 0.25 * w1 if w.trainable else w1
        np.testing.assert_allclose(e1, expected, rtol=0, atol=1e-6)


def test_ema_weights_differ_from_and_lag_the_raw_ones():
    gan = tiny_gan(ema=0.9, lr=1e-2)
    start = [np.array(w) for w in gan.generator.trainable_weights]
    gan.fit(images(), batch_size=8, epochs=3, verbose=0)
    raw = [np.array(w) for w in gan.generator.trainable_weights]
    ema = [np.array(w) for w in gan.ema_generator.weights]
    moved = lambda ws: sum(np.abs(w - s).sum() for w, s in zip(ws, start))  # noqa: E731
    assert not any(np.array_equal(r, e) for r, e in zip(raw, ema))
    assert 0 < moved(ema) < moved(raw)
    z = np.zeros((2, LATENT), "float32")
    assert not np.allclose(gan.generate(z, use_ema=True), gan.generate(z, use_ema=False))


def _d_losses_after_one_frozen_step(conditional, matching_aware):
    gan = tiny_gan(conditional, optimizer=keras.optimizers.SGD, lr=0.0, matching_aware=matching_aware)
    x, c = images(8), conditions(conditional, 8)
    h = gan.fit(x, c, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return gan, x, c, h.history["d_loss"][0]


@pytest.mark.parametrize("conditional", ["text", "label"])
def test_matching_aware_term_follows_reeds_weighting(conditional):
    """GAN-CLS: L = softplus(-r) + 1/2 softplus(f) + 1/2 softplus(w), w = D(real, wrong condition)."""
    gan, x, c, plain = _d_losses_after_one_frozen_step(conditional, False)
    _, _, _, aware = _d_losses_after_one_frozen_step(conditional, True)  # same weights, same noise
    sp = lambda t: np.mean(np.logaddexp(0.0, t))  # noqa: E731  softplus
    r = np.array(gan.discriminator([x, c]))
    w = np.array(gan.discriminator([x, np.roll(c, 1, axis=0)]))
    fake_term = plain - sp(-r)  # the plain loss is softplus(-r) + softplus(f)
    expected = sp(-r) + 0.5 * fake_term + 0.5 * sp(w)
    assert aware != pytest.approx(plain, abs=1e-4)
    assert aware == pytest.approx(expected, abs=1e-5)


def test_discriminator_loss_closed_form_for_hinge():
    gan = tiny_gan("text", loss="hinge", matching_aware=True)
    r, f, w = np.array([[0.5]]), np.array([[-2.0]]), np.array([[0.25]])
    # hinge: relu(1 - r) + 1/2 relu(1 + f) + 1/2 relu(1 + w) = 0.5 + 0 + 0.625
    assert float(gan.discriminator_loss(r, f, w)) == pytest.approx(1.125)


def test_bad_image_shape_is_a_clear_error_naming_both_shapes():
    gan = tiny_gan()
    bad = np.zeros((8, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match=r"\(28, 28, 1\).*generator makes \(8, 8, 1\).*expects \(8, 8, 1\)"):
        gan.fit(bad, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"\(8, 8, 3\)"):
        gan.fit(tf.data.Dataset.from_tensor_slices(np.zeros((8, 8, 8, 3), "float32")).batch(4), verbose=0)


def test_conditional_gan_without_conditions_is_a_clear_error():
    gan = tiny_gan("label")
    with pytest.raises(ValueError, match="needs \\(images, conditions\\)"):
        gan.fit(tf.data.Dataset.from_tensor_slices(images()).batch(8), verbose=0)
    with pytest.raises(ValueError, match="needs cond="):
        gan.generate(4)


def test_constructor_refuses_inconsistent_settings():
    G, D = mlp_generator(LATENT, 2), mlp_discriminator(3)
    with pytest.raises(ValueError, match=r"makes images of shape \(2,\) .* expects \(3,\)"):
        GAN(G, D, LATENT)
    D = mlp_discriminator(2)
    with pytest.raises(ValueError, match="conditional must be"):
        GAN(G, D, LATENT, conditional="caption")
    with pytest.raises(ValueError, match="matching_aware"):
        GAN(G, D, LATENT, matching_aware=True)
    with pytest.raises(ValueError, match="ema"):
        GAN(G, D, LATENT, ema=1.5)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GAN(G, D, LATENT).compile(loss="lsgan")


def test_generate_is_seeded_and_leaves_the_training_rng_alone():
    gan = tiny_gan()
    rng_before = np.array(gan.seed_generator.state)
    a, b = gan.generate(3, seed=7), gan.generate(3, seed=7)
    assert a.shape == (3, 8, 8, 1) and np.array_equal(a, b)
    assert not np.array_equal(a, gan.generate(3, seed=8))
    assert np.array_equal(rng_before, np.array(gan.seed_generator.state))
    with pytest.raises(ValueError, match=r"noise must have shape \(N, 4\)"):
        gan.generate(np.zeros((2, 5)))


def test_training_is_deterministic():
    runs = []
    for _ in range(2):
        gan = tiny_gan(ema=0.9)
        gan.fit(tf.data.Dataset.from_tensor_slices(images()).shuffle(32, seed=0).batch(8),
                epochs=2, verbose=0)
        runs.append([np.array(w) for w in gan.generator.weights + gan.ema_generator.weights])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


class _Offsets(GAN):
    """The hooks a subclass extends train_step through: a constant added to each loss."""

    def extra_d_loss(self, real_extras, cond, extra):
        return 3.0

    def extra_g_loss(self, z, fake, fake_extras, cond, extra):
        return ops.sum(z) * 0.0 + 2.0  # reads the noise it is given: (B, latent_dim)


def test_extra_loss_hooks_add_their_terms_and_default_to_zero():
    """With the learning rate 0 both runs take the same step on the same noise: the losses
    differ by exactly the hooks' terms (the defaults add 0.0)."""
    histories = []
    for cls in (GAN, _Offsets):
        device.set_seed(0)
        G = mlp_generator(LATENT, (8, 8, 1), (16,), output_activation="tanh")
        gan = cls(G, mlp_discriminator((8, 8, 1), (16,)), LATENT, seed=0)
        gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
        histories.append(gan.fit(images(8), batch_size=8, epochs=1, verbose=0, shuffle=False).history)
    plain, offset = histories
    assert offset["d_loss"][0] == pytest.approx(plain["d_loss"][0] + 3.0, abs=1e-5)
    assert offset["g_loss"][0] == pytest.approx(plain["g_loss"][0] + 2.0, abs=1e-5)
    assert GAN.extra_d_loss(None, None, None, None) == 0.0
    assert GAN.extra_g_loss(None, None, None, None, None, None) == 0.0


def test_hooks_call_the_networks_in_float32_and_split_a_second_head():
    device.set_seed(0)
    G = dcgan_generator(LATENT, 8, 3, width=4, cond_dim=6, conditioning="film")
    D = dcgan_discriminator(8, 3, width=4, cond_dim=6, conditioning="projection", aux_outputs=5)
    gan = GAN(G, D, LATENT, conditional="text", seed=0)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    c = rng.standard_normal((4, 6)).astype("float32")
    logits, extras = gan.judge(x, c, training=False)  # D's [logits, aux] split into the pair
    alone_logits, alone_extras = D([x, c], training=False)
    assert logits.shape == (4, 1) and extras.shape == (4, 5) and logits.dtype == "float32"
    np.testing.assert_allclose(np.array(logits), np.array(alone_logits), atol=1e-6)
    np.testing.assert_allclose(np.array(extras), np.array(alone_extras), atol=1e-6)
    z = np.array(gan.noise(4))
    assert z.shape == (4, LATENT) and not np.array_equal(z, np.array(gan.noise(4)))  # a stream
    fake = gan.draw(z, c, training=False)
    assert fake.shape == (4, 8, 8, 3) and fake.dtype == "float32"
    np.testing.assert_allclose(np.array(fake), np.array(G([z, c], training=False)), atol=1e-6)
    assert gan.split_d_output(logits) == (logits, None)  # one head: no extras


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_judge_real_equals_two_calls_of_judge(conditioning):
    """The real images' features are computed once for the right and the neighbours'
    conditions (projection D); a D whose features read the condition gets two whole
    calls. Either way: the numbers of judge(real, cond) and judge(real, rolled cond)."""
    device.set_seed(0)
    G = dcgan_generator(LATENT, 8, 3, width=4, cond_dim=6, conditioning="film")
    D = dcgan_discriminator(8, 3, width=4, cond_dim=6, conditioning=conditioning,
                            aux_outputs=5 if conditioning == "projection" else None)
    gan = GAN(G, D, LATENT, conditional="text", matching_aware=True, seed=0)
    rng = np.random.default_rng(3)
    x = ops.convert_to_tensor(rng.uniform(-1, 1, (5, 8, 8, 3)).astype("float32"))
    c = ops.convert_to_tensor(rng.standard_normal((5, 6)).astype("float32"))  # as in a step
    real_logits, real_extras, wrong_logits = gan.judge_real(x, c)
    logits, extras = gan.judge(x, c)
    wrong, _ = gan.judge(x, ops.roll(c, 1, axis=0))
    np.testing.assert_allclose(np.array(real_logits), np.array(logits), atol=1e-5)
    np.testing.assert_allclose(np.array(wrong_logits), np.array(wrong), atol=1e-5)
    if extras is not None:
        np.testing.assert_allclose(np.array(real_extras), np.array(extras), atol=1e-5)
    assert not np.allclose(np.array(wrong_logits), np.array(real_logits))  # the condition matters
    plain = GAN(G, D, LATENT, conditional="text", matching_aware=False, seed=0)
    assert plain.judge_real(x, c)[2] is None
