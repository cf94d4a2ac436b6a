"""One way every model trains, saves and resumes — the GANs (Chapters 4-7), the token model (Chapter 12).

Two layers, each written once:

* ``fit(model, data, ...)`` — ``keras.Model.fit`` plus exact resumption: a finite
  dataset becomes one stream, a resumed run restores the newest checkpoint (weights,
  optimizers, step k, RNG), skips the first k batches and stops where the uninterrupted
  run stops (``StopAtStep``); if op determinism fails at the first step on a GPU, it
  warns and trains without it (``fit_degrading_determinism``). ``GAN.fit`` is this.
* ``start_run`` / ``train_run`` — a run in a folder: its ``config.json``, what a resumed
  run may change (``config.RESUMABLE``: a GAN at a constant rate may train more steps;
  nothing else may change, for any model), steps per epoch, and the callbacks every run
  has (``Checkpoint``, ``NaNGuard``). ``t2i.train`` and ``t2i.train_dalle`` are these.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import keras
import tensorflow as tf
from keras import ops

from . import callbacks as cbs
from . import device
from .checkpoint import latest_checkpoint, resume, training_state

__all__ = ["STEPS_PER_EPOCH", "StopAtStep", "one_stream", "fit", "fit_degrading_determinism",
           "epochs_for", "warmup_cosine", "read_config", "start_run", "train_run"]

STEPS_PER_EPOCH = 500  # one Keras "epoch": callbacks (checkpoints, evaluation, grids) run this often


class StopAtStep(keras.callbacks.Callback):
    """Ends a resumed ``fit`` exactly at the uninterrupted run's last step."""

    def __init__(self, last_step):
        super().__init__()
        self.last_step = int(last_step)

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step.numpy()) >= self.last_step:
            self.model.stop_training = True


def one_stream(model, x, epochs, steps_per_epoch, initial_epoch, resume_from):
    """The data as one stream, resumed: -> (x, steps_per_epoch, initial_epoch, callbacks).

    A finite dataset is repeated (an epoch is one pass), so "skip the first k batches"
    puts a resumed run where the checkpoint left off.
    """
    callbacks = []
    if isinstance(x, tf.data.Dataset):
        cardinality = int(x.cardinality())
        if cardinality > 0:  # finite: make it one stream, so "skip k batches" is exact
            steps_per_epoch = steps_per_epoch or cardinality
            x = x.repeat()
    if resume_from is not None:
        if not isinstance(x, tf.data.Dataset):
            raise ValueError("fit(resume_from=...) needs a tf.data.Dataset with a seeded "
                             "shuffle, so the data position can be restored by skipping batches")
        if steps_per_epoch is None:
            raise ValueError("fit(resume_from=...) with an endless dataset needs steps_per_epoch")
        if model.steps_per_execution != 1:
            warnings.warn("exact resumption needs steps_per_execution=1; with "
                          f"{model.steps_per_execution} the resumed run may end a few steps late")
        k = resume(model, resume_from)
        x = x.skip(k)
        initial_epoch = max(initial_epoch, k // steps_per_epoch)
        callbacks.append(StopAtStep(epochs * steps_per_epoch))
    return x, steps_per_epoch, initial_epoch, callbacks


def fit(model, x=None, y=None, *, epochs=1, steps_per_epoch=None, callbacks=None,
        initial_epoch=0, resume_from=None, **kwargs):
    """``keras.Model.fit`` on ``model`` plus its data check, one stream and exact resumption.

    ``resume_from=directory`` restores the latest checkpoint there and skips the first k
    batches of ``x``: pass the same, freshly built, deterministically shuffled dataset and
    the same ``epochs`` as the original run, and training stops at the original last step,
    bit-identical to an uninterrupted run (CPU, op determinism on, ``steps_per_execution=1``).
    """
    if hasattr(model, "check_data"):  # a GAN checks shapes and conditions first
        model.check_data(x, y, kwargs.get("batch_size"))
    if isinstance(x, tf.data.Dataset):
        kwargs.setdefault("shuffle", False)  # a dataset shuffles itself (with its seed)
    x, steps_per_epoch, initial_epoch, stop = one_stream(
        model, x, epochs, steps_per_epoch, initial_epoch, resume_from)
    return fit_degrading_determinism(model, lambda: keras.Model.fit(
        model, x, y, epochs=epochs, steps_per_epoch=steps_per_epoch,
        callbacks=[*(callbacks or []), *stop], initial_epoch=initial_epoch, **kwargs))


# --- op determinism on GPUs ------------------------------------------------------------

def _is_determinism_error(err) -> bool:
    return isinstance(err, tf.errors.UnimplementedError) and "determinis" in str(err.message).lower()


def _op_name(err) -> str:
    """The op TF names in its message (``{{node X}}``, "implementation of X"), else its first line."""
    msg = str(err.message)
    found = re.search(r"\{\{node ([^}]+)\}\}", msg) or re.search(r"implementation of (\S+)", msg)
    return found.group(1) if found else msg.strip().splitlines()[0][:200]


def fit_degrading_determinism(model, run):
    """``run()`` (a fit); if op determinism fails before the first step, warn, turn it off, run again.

    Everything a step writes (``checkpoint.training_state``: weights, optimizers, step,
    RNG) is restored before the second try, in case the failing op came after some
    updates. A failure after steps were taken is re-raised as a one-line error saying how
    to resume.
    """
    if not (device.op_determinism_enabled() and getattr(model, "compiled", False)):
        return run()  # nothing to degrade (or not compiled: Keras says so)
    state = [v for group in training_state(model).values() for v in group]
    first, saved = int(model.step.numpy()), [ops.convert_to_numpy(v) for v in state]
    try:
        return run()
    except tf.errors.UnimplementedError as err:
        if not _is_determinism_error(err):
            raise
        op, now = _op_name(err), int(model.step.numpy())
        if now != first:
            raise RuntimeError(
                f"op {op} has no deterministic kernel on this device (step {now}): resume without "
                "determinism, device.set_seed(seed, deterministic=False) then "
                "fit(..., resume_from=checkpoint_dir)") from err
    warnings.warn(
        f"Op determinism is on (device.set_seed), but {op} has no deterministic "
        "implementation on this device, so TensorFlow refused the first step. Training "
        "continues with op determinism turned off: runs with the same seed will now differ "
        "slightly (summation order on the GPU), and resuming is no longer bit-exact. Pass "
        "deterministic=False to device.set_seed to skip this message.", RuntimeWarning, stacklevel=3)
    device.disable_op_determinism()
    for v, a in zip(state, saved):
        v.assign(a)
    model.train_function = None  # traced with determinism on: trace again
    return run()


# --- a run in a folder ------------------------------------------------------------------

def epochs_for(steps: int) -> tuple[int, int]:
    """``steps`` -> (epochs, steps per epoch): Keras epochs of ``STEPS_PER_EPOCH`` steps."""
    per_epoch = min(STEPS_PER_EPOCH, steps)
    if steps % per_epoch:
        raise ValueError(f"steps must be a multiple of {per_epoch} (callbacks run every "
                         f"{per_epoch} steps), got {steps}")
    return steps // per_epoch, per_epoch


def warmup_cosine(lr: float, steps: int, warmup: int, min_lr: float):
    """Linear warm-up over ``min(warmup, steps // 10)`` steps, then cosine decay to ``lr * min_lr``."""
    warmup = min(warmup, steps // 10)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else lr, steps - warmup, alpha=min_lr,
        warmup_target=lr if warmup else None, warmup_steps=warmup)


def read_config(cls, out_dir, config_file: str = "config.json"):
    """The config a run in ``out_dir`` was started with (a one-line error if there is none)."""
    path = Path(out_dir) / config_file
    if not path.is_file():
        raise ValueError(f"--resume: nothing to resume in {out_dir} (no {config_file} there)")
    return cls.from_dict(json.loads(path.read_text()))


def start_run(config, out_dir, resume: bool, config_file: str = "config.json") -> None:
    """The run's folder: a new run writes ``config_file``; a resumed run must match it.

    A resumed run may change only the fields its config lists in ``RESUMABLE`` (a GAN at
    a constant learning rate: ``steps``, since more steps continue it exactly); any other
    change is a one-line ``ValueError`` naming the fields.
    """
    if not resume:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / config_file).write_text(json.dumps(config.to_dict(), indent=1) + "\n")
        return
    new, old = config.to_dict(), read_config(type(config), out_dir, config_file).to_dict()
    changed = sorted(k for k in new if new[k] != old[k] and k not in config.RESUMABLE)
    if changed:
        may = ", ".join(config.RESUMABLE) or "nothing"
        raise ValueError(f"--resume: the run in {out_dir} was started with other settings "
                         f"({', '.join(changed)}); a resumed run may change {may}: resume it "
                         "with the same preset and options, or start a new run")


def train_run(model, data, steps: int, out_dir, resume: bool, callbacks=(), verbose: int = 1,
              checkpoint_every: int = 500, monitor=("d_loss", "g_loss")):
    """Train ``model`` on the endless dataset ``data`` to step ``steps``, checkpointed in
    ``out_dir/checkpoints``; ``resume=True`` continues from the newest checkpoint there
    exactly (a run interrupted before its first checkpoint starts from step 0)."""
    ckpt_dir = Path(out_dir) / "checkpoints"
    epochs, per_epoch = epochs_for(steps)
    found = resume and latest_checkpoint(ckpt_dir) is not None
    if resume and not found and verbose:
        print(f"--resume: no checkpoint in {ckpt_dir} yet; training starts from step 0", flush=True)
    callbacks = [cbs.Checkpoint(ckpt_dir, every_n_steps=checkpoint_every, keep=2),
                 cbs.NaNGuard(monitor=monitor, checkpoint_dir=ckpt_dir), *callbacks]
    return fit(model, data, epochs=epochs, steps_per_epoch=per_epoch, callbacks=callbacks,
               verbose=verbose, resume_from=ckpt_dir if found else None)
