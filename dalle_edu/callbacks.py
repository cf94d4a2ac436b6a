"""Callbacks for ``GAN.fit``: sample grids, exact checkpoints, a NaN guard — Chapters 4 and 7.

``Checkpoint`` saves the full training state every n steps in the format of
``dalle_edu.checkpoint`` (which also explains how a resumed run repeats the
uninterrupted one bit for bit); ``NaNGuard`` stops a diverged run before it
overwrites the last good checkpoint; ``SampleGrid`` keeps the "watch it learn" grids.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import keras

from . import images
from .checkpoint import latest_checkpoint, save_checkpoint

__all__ = ["SampleGrid", "Snapshots", "make_gif", "Checkpoint", "NaNGuard", "EpochTimer", "standard_callbacks"]


# --- sample grids ---------------------------------------------------------------------

def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def make_gif(frames, path, fps=4, scale=2):
    """Frames (uint8 grids) -> an animated GIF at ``path`` (Pillow); returns the path."""
    return images.save_gif(frames, path, fps=fps, scale=scale)


class Snapshots(keras.callbacks.Callback):
    """Before training and after every epoch: the step, G's samples, D(x) on ``probe``.

    The samples come from the same noise (``seed``) every time, so snapshots compare;
    ``probe`` is an optional (m, dim) array of points where D's probability
    sigma(logit) is kept. Toy data (Chapters 2 and 3): make one "epoch" the number of
    steps between snapshots (``fit(..., steps_per_epoch=every)``).
    """

    def __init__(self, n=2000, probe=None, seed=1):
        super().__init__()
        self.n, self.probe, self.seed = n, probe, seed
        self.steps, self.samples, self.d_probs = [], [], []

    def _snap(self):
        self.steps.append(int(self.model.step.numpy()))
        self.samples.append(self.model.generate(self.n, seed=self.seed))  # (n, dim)
        if self.probe is not None:
            logits = self.model.discriminator(self.probe, training=False)  # (m, 1)
            probs = keras.ops.sigmoid(logits)
            self.d_probs.append(keras.ops.convert_to_numpy(probs)[:, 0])

    def on_train_begin(self, logs=None):
        self._snap()

    def on_epoch_end(self, epoch, logs=None):
        self._snap()


class SampleGrid(keras.callbacks.Callback):
    """Every ``every_n_epochs``, draw the same noise (and conditions) and keep the grid.

    Grids go to ``directory/epoch_NNN.png`` when a directory is given, are shown inline
    in a notebook (``show="auto"``), are kept in ``self.frames``, and become
    ``directory/samples.gif`` at the end of training — the course's "watch it learn" GIFs.
    """

    def __init__(self, n=16, cond=None, noise=None, seed=0, directory=None, nrow=None,
                 every_n_epochs=1, use_ema=True, show="auto", gif=True, fps=4):
        super().__init__()
        self.n, self.cond, self.noise, self.seed = n, cond, noise, seed
        self.directory = Path(directory) if directory else None
        self.nrow, self.every, self.use_ema = nrow, int(every_n_epochs), use_ema
        self.show = _in_notebook() if show == "auto" else bool(show)
        self.gif, self.fps = gif, fps
        self.frames, self.gif_path = [], None

    def on_train_begin(self, logs=None):
        if getattr(self.model, "conditional", None) and self.cond is None:
            raise ValueError("SampleGrid for a conditional GAN needs cond= (one condition per sample)")
        if self.cond is not None and self.noise is None:
            self.n = len(self.cond)
        if self.noise is None:  # fixed for the whole run, so frames are comparable
            rng = np.random.default_rng(self.seed)
            self.noise = rng.standard_normal((self.n, self.model.latent_dim)).astype("float32")

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        grid = images.tile(self.model.generate(self.noise, self.cond, use_ema=self.use_ema), self.nrow)
        self.frames.append(grid)
        if self.directory:
            from PIL import Image

            self.directory.mkdir(parents=True, exist_ok=True)
            Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(
                self.directory / f"epoch_{epoch + 1:03d}.png")
        if self.show:
            from IPython.display import display
            from PIL import Image

            display(Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid))

    def on_train_end(self, logs=None):
        if self.gif and self.directory and self.frames:
            self.gif_path = make_gif(self.frames, self.directory / "samples.gif", fps=self.fps)


# --- checkpoints ----------------------------------------------------------------------

def _finite(logs):
    return all(math.isfinite(float(np.asarray(v))) for v in (logs or {}).values()
               if np.asarray(v).size == 1)


class Checkpoint(keras.callbacks.Callback):
    """Save a full checkpoint every ``every_n_steps`` training steps (and at the end).

    A step whose logged losses are NaN/Inf is never saved, so a diverged run keeps its
    last good checkpoint (see ``NaNGuard``). Resume with ``GAN.fit(..., resume_from=directory)``.
    """

    def __init__(self, directory, every_n_steps=500, keep=3, save_at_end=True):
        super().__init__()
        if int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.directory, self.every, self.keep = Path(directory), int(every_n_steps), keep
        self.save_at_end = save_at_end
        self.last_saved, self._logs = None, None

    def _save(self, logs):
        step = int(self.model.step.numpy())
        if step == 0 or step == self.last_saved:
            return
        if not _finite(logs) or getattr(self.model, "_nan_step", None) is not None:
            return  # never replace a good checkpoint with a diverged state
        save_checkpoint(self.model, self.directory, self.keep)
        self.last_saved = step

    def on_train_begin(self, logs=None):
        self._bucket = int(self.model.step.numpy()) // self.every  # k // n after a resume

    def on_train_batch_end(self, batch, logs=None):
        # with steps_per_execution > 1 this runs every few steps: save on crossing a multiple
        self._logs = logs
        bucket = int(self.model.step.numpy()) // self.every
        if bucket > self._bucket:
            self._bucket = bucket
            self._save(logs)

    def on_train_end(self, logs=None):
        if self.save_at_end:
            self._save(self._logs)


class NaNGuard(keras.callbacks.Callback):
    """Stop training as soon as a logged loss is NaN or Inf, and say so.

    Sets ``model.stop_training`` (so ``fit`` returns normally with its History) and
    marks the model so ``Checkpoint`` will not save the diverged weights.
    """

    def __init__(self, monitor=("d_loss", "g_loss"), checkpoint_dir=None):
        super().__init__()
        self.monitor, self.checkpoint_dir = tuple(monitor), checkpoint_dir
        self.stopped_step, self.message = None, None

    def on_train_begin(self, logs=None):
        self.model._nan_step = None

    def on_train_batch_end(self, batch, logs=None):
        bad = [k for k in self.monitor if k in (logs or {}) and not _finite({k: logs[k]})]
        if not bad or self.stopped_step is not None:
            return
        self.stopped_step = int(self.model.step.numpy())
        self.model._nan_step = self.stopped_step
        self.model.stop_training = True
        kept = latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
        self.message = (
            f"NaNGuard: {', '.join(bad)} became NaN/Inf at step {self.stopped_step}; training "
            "stopped. Try a lower learning rate, another loss, or check the data range."
            + (f" The last good checkpoint is kept: {kept}" if kept else "")
        )
        print("\n" + self.message)


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every ``fit`` epoch in ``self.times`` — the benchmarks' step clock.

    An epoch's end waits for its results, so ``times[i] / steps_per_epoch`` is the time
    of a step; drop ``times[0]``, which pays for tracing.
    """

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t0)


def standard_callbacks(log_dir, every_n_steps=500, samples=16, sample_cond=None, keep=3,
                       tensorboard="auto", csv=True, seed=0):
    """The course's usual set: NaNGuard, Checkpoint, SampleGrid, CSVLogger, TensorBoard.

    Layout under ``log_dir``: ``checkpoints/``, ``samples/`` (PNGs and GIF),
    ``history.csv``, ``tensorboard/``. ``samples=0`` turns sample grids off.
    TensorBoard logs need the ``tensorboard`` package: ``"auto"`` adds them when it
    is installed, ``True`` insists.
    """
    if tensorboard == "auto":
        import importlib.util

        tensorboard = importlib.util.find_spec("tensorboard") is not None
    elif tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ImportError("TensorBoard logs need `pip install tensorboard` (or tensorboard=False)")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = log_dir / "checkpoints"
    cbs = [NaNGuard(checkpoint_dir=ckpt_dir), Checkpoint(ckpt_dir, every_n_steps, keep=keep)]
    if samples:
        cbs.append(SampleGrid(samples, cond=sample_cond, seed=seed, directory=log_dir / "samples"))
    if csv:
        cbs.append(keras.callbacks.CSVLogger(str(log_dir / "history.csv")))
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(str(log_dir / "tensorboard"), write_graph=False))
    return cbs
