"""Checkpoints resume bit-exactly, refuse other architectures, survive NaNs; grids and GIFs."""

import importlib.util

import numpy as np
import pytest
import keras
import tensorflow as tf

from dalle_edu import device
from dalle_edu.callbacks import Checkpoint, NaNGuard, SampleGrid, Snapshots, standard_callbacks
from dalle_edu.checkpoint import latest_checkpoint, resume, save_checkpoint
from dalle_edu.gan import GAN
from dalle_edu.models import dcgan_discriminator, dcgan_generator, mlp_discriminator, mlp_generator

LATENT = 8


def build(width=4, conditional=None, loss="non-saturating", n_critic=1):
    """A fresh tiny 8x8 DCGAN (BatchNorm in G, EMA on): every piece of state a checkpoint holds."""
    device.set_seed(0)
    num_classes = 3 if conditional else None
    G = dcgan_generator(LATENT, image_size=8, channels=1, width=width, num_classes=num_classes)
    D = dcgan_discriminator(8, 1, width, num_classes=num_classes)
    gan = GAN(G, D, LATENT, conditional=conditional, ema=0.9, n_critic=n_critic, seed=1)
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5), loss=loss)
    return gan


def dataset(conditional=None, nan_at=None):
    """64 images, 8 batches an epoch, shuffled with a fixed seed (a new order every epoch)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 8, 8, 1)).astype("float32")
    if nan_at is not None:
        x[nan_at] = np.nan
        return tf.data.Dataset.from_tensor_slices(x).batch(8)
    y = rng.integers(0, 3, 64).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, y) if conditional else x)
    return ds.shuffle(64, seed=3).batch(8)


def state(gan):
    vs = (gan.generator.weights + gan.discriminator.weights + gan.ema_generator.weights
          + gan.g_optimizer.variables + gan.d_optimizer.variables + [gan.step, gan.seed_generator.state])
    return [np.array(v) for v in vs]


class KillAt(keras.callbacks.Callback):
    """Simulates the process dying after step k (no further saves happen)."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step.numpy()) >= self.k:
            self.model.stop_training = True


@pytest.mark.parametrize("conditional, loss, n_critic", [
    (None, "non-saturating", 1),
    ("label", "wgan-gp", 2),  # the GP's interpolation noise must resume too
])
def test_killed_and_resumed_run_equals_uninterrupted_run_bitwise(tmp_path, conditional, loss, n_critic):
    epochs, total = 3, 24  # 8 batches an epoch
    ref = build(conditional=conditional, loss=loss, n_critic=n_critic)
    ref.fit(dataset(conditional), epochs=epochs, verbose=0)
    assert int(ref.step.numpy()) == total

    run = build(conditional=conditional, loss=loss, n_critic=n_critic)
    run.fit(dataset(conditional), epochs=epochs, verbose=0,
            callbacks=[Checkpoint(tmp_path, every_n_steps=5, save_at_end=False), KillAt(13)])
    assert latest_checkpoint(tmp_path).name == "ckpt-00000010.npz"  # mid-epoch: 10 = 8 + 2

    # a "new process": new model objects, new dataset object, reseeded
    resumed = build(conditional=conditional, loss=loss, n_critic=n_critic)
    history = resumed.fit(dataset(conditional), epochs=epochs, verbose=0, resume_from=tmp_path)
    assert int(resumed.step.numpy()) == total
    assert "d_loss" in history.history
    for a, b in zip(state(ref), state(resumed)):
        assert np.array_equal(a, b)


def test_resume_restores_everything_from_a_file(tmp_path):
    gan = build()
    gan.fit(dataset(), epochs=1, verbose=0)
    path = save_checkpoint(gan, tmp_path)
    other = build()
    assert resume(other, path) == 8
    for a, b in zip(state(gan), state(other)):
        assert np.array_equal(a, b)


def test_resuming_another_architecture_names_the_mismatch(tmp_path):
    gan = build(width=4)
    save_checkpoint(gan, tmp_path)
    wider = build(width=8)
    with pytest.raises(ValueError, match=r"does not fit this model: generator variable #0 .* shape"):
        resume(wider, tmp_path)
    no_ema = GAN(wider.generator, wider.discriminator, LATENT)
    no_ema.compile()
    with pytest.raises(ValueError, match="ema_generator"):
        resume(no_ema, tmp_path)


def test_resuming_with_another_constant_learning_rate_is_a_clear_error(tmp_path):
    """The optimizers' rate is a variable the checkpoint restores: a new one would be
    silently ignored, so resume refuses it (t2i.train refuses it earlier, from config.json)."""
    gan = build()
    save_checkpoint(gan, tmp_path)
    faster = build()
    faster.compile(keras.optimizers.Adam(4e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
    with pytest.raises(ValueError, match=r"saved with learning rate 0.001 for the g_optimizer.*"
                                         r"asks for 0.004, which would be ignored"):
        resume(faster, tmp_path)
    assert int(faster.step.numpy()) == 0  # checked before anything is assigned
    assert resume(build(), tmp_path) == 0  # the same rate resumes


def test_resume_from_an_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        resume(build(), tmp_path)


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    gan = build()
    guard = NaNGuard(checkpoint_dir=tmp_path)
    ckpt = Checkpoint(tmp_path, every_n_steps=2, keep=10)
    # batch 6 (steps are 1-based) holds a NaN image -> d_loss is NaN at step 6
    history = gan.fit(dataset(nan_at=45), epochs=2, verbose=0, callbacks=[ckpt, guard])
    assert guard.stopped_step == 6
    assert int(gan.step.numpy()) == 6  # stopped at once, not at the end of the epoch
    assert "NaN/Inf at step 6" in capsys.readouterr().out
    assert latest_checkpoint(tmp_path).name == "ckpt-00000004.npz"
    assert len(history.history["d_loss"]) == 1
    good = build()
    resume(good, tmp_path)
    assert all(np.isfinite(w).all() for w in state(good))


def test_sample_grid_writes_frames_and_a_gif(tmp_path):
    gan = build()
    grid = SampleGrid(n=4, directory=tmp_path, show=False, fps=2)
    gan.fit(dataset(), epochs=2, steps_per_epoch=2, verbose=0, callbacks=[grid])
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["epoch_001.png", "epoch_002.png"]
    assert grid.gif_path.exists() and len(grid.frames) == 2
    assert grid.frames[0].shape == (17, 17, 1) and grid.frames[0].dtype == np.uint8  # 2x2 of 8x8, 1px gaps


def test_sample_grid_for_a_conditional_gan_needs_conditions(tmp_path):
    gan = build(conditional="label")
    with pytest.raises(ValueError, match="needs cond="):
        gan.fit(dataset("label"), epochs=1, steps_per_epoch=1, verbose=0, callbacks=[SampleGrid(show=False)])
    grid = SampleGrid(cond=[0, 1, 2], show=False, gif=False)
    gan.fit(dataset("label"), epochs=1, steps_per_epoch=1, verbose=0, callbacks=[grid])
    assert grid.frames[0].shape == (17, 17, 1)  # 3 samples on a 2x2 grid


def test_standard_callbacks_log_csv_and_tensorboard(tmp_path):
    gan = build()
    has_tb = importlib.util.find_spec("tensorboard") is not None  # not a course dependency
    cbs = standard_callbacks(tmp_path, every_n_steps=4, samples=4)
    assert [type(c).__name__ for c in cbs] == [
        "NaNGuard", "Checkpoint", "SampleGrid", "CSVLogger"] + ["TensorBoard"] * has_tb
    gan.fit(dataset(), epochs=1, verbose=0, callbacks=cbs)
    header = (tmp_path / "history.csv").read_text().splitlines()[0]
    assert set(header.split(",")) >= {"epoch", "d_loss", "g_loss", "d_real", "d_fake"}
    assert latest_checkpoint(tmp_path / "checkpoints").name == "ckpt-00000008.npz"
    assert (tmp_path / "samples" / "samples.gif").exists()
    if has_tb:
        assert any((tmp_path / "tensorboard").rglob("events.out.tfevents*"))


def test_extra_state_is_checkpointed_and_its_absence_does_not_fit(tmp_path):
    gan = build()
    gan.fit(dataset(), epochs=1, verbose=0)
    save_checkpoint(gan, tmp_path / "plain")
    gan.extra_state = [keras.Variable(7, dtype="int64", trainable=False, name="extra")]
    path = save_checkpoint(gan, tmp_path / "extra")
    other = build()
    other.extra_state = [keras.Variable(0, dtype="int64", trainable=False, name="extra")]
    assert resume(other, path) == 8 and int(other.extra_state[0].numpy()) == 7
    with pytest.raises(ValueError, match="the state has 2 variables in the checkpoint but 3 in the model"):
        resume(other, tmp_path / "plain")


def test_snapshots_keep_samples_from_the_same_noise_and_d_on_the_probe():
    device.set_seed(0)
    gan = GAN(mlp_generator(2, 2, hidden=(8,)), mlp_discriminator(2, hidden=(8,)), 2, seed=0)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    probe = np.zeros((5, 2), "float32")
    snaps = Snapshots(n=7, probe=probe)
    gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=2, steps_per_epoch=3,
            callbacks=[snaps], verbose=0)
    assert snaps.steps == [0, 3, 6]  # before training, then after each epoch
    assert [np.shape(s) for s in snaps.samples] == [(7, 2)] * 3
    np.testing.assert_allclose(snaps.samples[-1], gan.generate(7, seed=1))  # same noise
    assert not np.allclose(snaps.samples[0], snaps.samples[-1])  # and G moved
    assert [p.shape for p in snaps.d_probs] == [(5,)] * 3
    assert all(((p > 0) & (p < 1)).all() for p in snaps.d_probs)  # probabilities
