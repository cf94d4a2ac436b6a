"""Two replicas train what one device trains; bad batches and GPU determinism fail clearly.

Book: "Several devices, precision and XLA". TensorFlow fixes its logical devices when it
starts, so the distributed runs happen in a subprocess — this file run as a script —
that splits the CPU into two logical devices and trains the same GAN (same seed, same
data) for 5 steps on ``/cpu:0`` alone and under ``MirroredStrategy(["/cpu:0", "/cpu:1"])``.
It saves both runs' per-step losses and final weights; the tests compare them.

Tolerances. Splitting a batch changes only the order of float32 sums (two half-batch
means instead of one mean, two gradient halves summed), so per-step losses agree to
2e-7 to 6e-7 relative (asserted: 1e-4). Adam turns that rounding into weight differences
bounded by its step: an Adam update moves a weight by about lr whatever the gradient's
size, and for a gradient that is ~0 the *sign* depends on the summation order. So weights
are compared in units of lr: within lr / 10 for the MLP (measured 2e-7 with lr = 1e-3),
within 2 lr for the text-to-image GAN, whose Adam has beta_1 = 0 (measured 1.2e-4 with
lr = 2e-4; 99.9% of its weights within 5e-5).

The text-to-image G uses BatchNorm, which normalises each replica's 8 examples, not the
16 of the global batch; measured with the shipped per-replica BatchNorm, losses differ by
~3e-4 relative after 5 steps and weights by up to ~8 lr. The test sets
``synchronized=True`` on G's BatchNorm layers in *both* runs (statistics all-reduced over
the replicas), so what it compares is the engine, not BatchNorm's batch size.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import keras
import tensorflow as tf

from dalle_edu import checks, device, pipeline, replicas
from dalle_edu.gan import GAN
from dalle_edu.models import mlp_discriminator, mlp_generator

LOSS_RTOL = 1e-4


# --- the subprocess: one device vs two replicas ------------------------------------------

def _worker(out_dir):
    import contextlib
    import json

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dalle_edu import t2i

    class Losses(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.rows = []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append([float(logs["d_loss"]), float(logs["g_loss"])])

    def mlp_gan():  # no BatchNorm; WGAN-GP with 2 critic steps and EMA: every random draw
        G = mlp_generator(4, (8, 8, 1), (16,), output_activation="tanh")
        D = mlp_discriminator((8, 8, 1), (16,))
        gan = GAN(G, D, 4, ema=0.9, n_critic=2, seed=0)
        gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), loss="wgan-gp")
        return gan

    images = np.random.default_rng(0).uniform(-1, 1, (80, 8, 8, 1)).astype("float32")
    config = t2i.T2IConfig(n_train=256, steps=5, width=8, batch_size=16, latent_dim=16,
                           encoder_steps=30)
    device.set_seed(0)
    # an untrained encoder writes conditions as fixed as a trained one (pretraining costs ~10 s)
    encoder = t2i.build_text_encoder(config.embed_dim)

    def t2i_gan():
        gan = t2i.build_gan(config)
        for layer in gan.generator._flatten_layers():  # see the module docstring
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
        return gan

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    # The data must be one stream for every iterator: under a strategy Keras reads a batch
    # from an iterator of its own before training, and a seeded ``Dataset.shuffle``
    # reshuffles per iterator, so the two-replica run would train in another order than
    # the one-device run. ``shuffled_batches`` is stateless (a new order every pass over
    # the 80 images, the same stream from every iterator); 5 steps cross a pass boundary.
    for name, build, data in [
        ("mlp", mlp_gan, lambda: pipeline.shuffled_batches(images, 16, seed=0)),
        ("t2i", t2i_gan, lambda: t2i.make_dataset(config, encoder)),
    ]:
        for where, strategy in (("one", None), ("two", mirrored)):
            device.set_seed(0)
            with strategy.scope() if strategy else contextlib.nullcontext():
                gan = build()
            log = Losses()
            gan.fit(data(), epochs=1, steps_per_epoch=5, verbose=0, callbacks=[log])
            nets = [gan.generator, gan.discriminator, gan.ema_generator]
            np.savez(Path(out_dir) / f"{name}_{where}.npz", losses=np.array(log.rows),
                     step=int(gan.step.numpy()),
                     rng=keras.ops.convert_to_numpy(gan.seed_generator.state),
                     **{f"w{i:03d}": keras.ops.convert_to_numpy(w)
                        for i, w in enumerate(w for net in nets for w in net.weights)})

    with mirrored.scope():
        gan = mlp_gan()
    try:
        gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(15, drop_remainder=True), verbose=0)
        error = None
    except ValueError as err:
        error = str(err)
    (Path(out_dir) / "errors.json").write_text(json.dumps({"batch_15": error,
                                                           "step": int(gan.step.numpy())}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out, root = tmp_path_factory.mktemp("distribute"), Path(__file__).resolve().parents[1]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, __file__, str(out)], capture_output=True, text=True,
                          env=env, timeout=900, cwd=root)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def _load(out, name):
    with np.load(out / f"{name}.npz") as f:
        return {k: f[k] for k in f.files}


def _compare(out, name, weight_atol):
    one, two = _load(out, f"{name}_one"), _load(out, f"{name}_two")
    assert one["losses"].shape == (5, 2)  # d_loss, g_loss after each of the 5 steps
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=LOSS_RTOL)
    assert int(one["step"]) == int(two["step"]) == 5
    assert np.array_equal(one["rng"], two["rng"])  # both replicas drew as many numbers as one device
    weights = sorted(k for k in one if k.startswith("w"))
    assert weights and weights == sorted(k for k in two if k.startswith("w"))
    for k in weights:
        np.testing.assert_allclose(two[k], one[k], rtol=0, atol=weight_atol, err_msg=k)
    return one, two


def test_mlp_wgan_gp_with_ema_trains_the_same_on_two_replicas(runs):
    _compare(runs, "mlp", weight_atol=1e-3 / 10)  # lr / 10


def test_text_to_image_gan_trains_the_same_on_two_replicas(runs):
    one, two = _compare(runs, "t2i", weight_atol=2 * 2e-4)  # 2 lr
    diff = np.concatenate([np.abs(one[k] - two[k]).ravel() for k in one if k.startswith("w")])
    assert np.quantile(diff, 0.99) < 5e-5  # the bulk agrees far closer than the bound


def test_a_global_batch_that_does_not_split_over_the_replicas_is_a_one_line_error(runs):
    import json

    errors = json.loads((runs / "errors.json").read_text())
    message = errors["batch_15"]
    assert message is not None and "\n" not in message
    assert "global batch of 15" in message and "2 replicas" in message and "14" in message
    assert errors["step"] == 0  # raised before TensorFlow saw a batch


def test_check_global_batch():
    checks.check_global_batch(15, 1)  # one device: anything goes
    checks.check_global_batch(16, 2)
    with pytest.raises(ValueError, match="drop_remainder=True"):
        checks.check_global_batch(None, 2)
    with pytest.raises(ValueError, match="100 examples do not make whole batches of 16"):
        checks.check_global_batch(16, 2, n_examples=100)


def test_replica_helpers_are_the_single_device_code_on_one_device():
    x = np.arange(12, dtype="float32").reshape(6, 2)
    assert replicas.replicas() == 1
    np.testing.assert_array_equal(replicas.roll_rows(x), np.roll(x, 1, axis=0))  # row i gets row i - 1
    assert float(replicas.per_replica_loss(tf.constant(3.0))) == 3.0
    assert replicas.replica_rows(lambda n: tf.range(n), 4).numpy().tolist() == [0, 1, 2, 3]
    replicas.sync_statistics(keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()]))


# --- op determinism that degrades with a clear message ----------------------------------

NO_KERNEL = ("A deterministic GPU implementation of SparseSoftmaxXentWithLogitsOp is not "
             "currently available.\n\t [[{{node sparse_softmax_cross_entropy}}]]")


@pytest.fixture
def deterministic():
    device.set_seed(0)  # op determinism on
    yield
    device.set_seed(0)  # the fallback turns it off: on again for the tests after this one


def _tiny_gan():
    G = mlp_generator(4, (8, 8, 1), (16,), output_activation="tanh")
    D = mlp_discriminator((8, 8, 1), (16,))
    gan = GAN(G, D, 4, seed=0)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


IMAGES = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 1)).astype("float32")


def test_no_deterministic_kernel_at_the_first_step_warns_and_trains_without(monkeypatch, deterministic):
    gan = _tiny_gan()
    before = keras.ops.convert_to_numpy(gan.generator.weights[0])
    real_fit, seen = keras.Model.fit, []

    def fit_once_failing(self, *args, **kwargs):
        seen.append((device.op_determinism_enabled(), keras.ops.convert_to_numpy(self.generator.weights[0])))
        if len(seen) == 1:  # as a GPU kernel would: after part of the step had run
            self.generator.weights[0].assign(np.zeros_like(before))
            raise tf.errors.UnimplementedError(None, None, NO_KERNEL)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit_once_failing)
    with pytest.warns(RuntimeWarning, match="sparse_softmax_cross_entropy has no deterministic"):
        history = gan.fit(IMAGES, batch_size=8, epochs=1, verbose=0)
    assert [on for on, _ in seen] == [True, False] and not device.op_determinism_enabled()
    assert np.array_equal(seen[1][1], before)  # the second try starts from the untouched state
    assert int(gan.step.numpy()) == 2 and np.isfinite(history.history["d_loss"]).all()


def test_no_deterministic_kernel_later_is_a_one_line_error_saying_how_to_resume(monkeypatch, deterministic):
    gan = _tiny_gan()

    def fails_at_step_3(self, *args, **kwargs):
        self.step.assign_add(3)
        raise tf.errors.UnimplementedError(None, None, NO_KERNEL)

    monkeypatch.setattr(keras.Model, "fit", fails_at_step_3)
    with pytest.raises(RuntimeError, match=r"sparse_softmax_cross_entropy .*step 3.*"
                                           r"deterministic=False.*resume_from") as err:
        gan.fit(IMAGES, batch_size=8, verbose=0)
    assert "\n" not in str(err.value) and device.op_determinism_enabled()


def test_other_unimplemented_errors_pass_through(monkeypatch, deterministic):
    gan = _tiny_gan()

    def unrelated(self, *args, **kwargs):
        raise tf.errors.UnimplementedError(None, None, "Conv3D on int8 is not implemented")

    monkeypatch.setattr(keras.Model, "fit", unrelated)
    with pytest.raises(tf.errors.UnimplementedError, match="Conv3D"):
        gan.fit(IMAGES, batch_size=8, verbose=0)
    assert device.op_determinism_enabled()


def test_set_seed_turns_determinism_off_and_on_again(deterministic):
    device.set_seed(0, deterministic=False)
    assert not device.op_determinism_enabled()
    device.set_seed(0)
    assert device.op_determinism_enabled()


if __name__ == "__main__":  # the subprocess of the ``runs`` fixture
    _worker(sys.argv[1])
