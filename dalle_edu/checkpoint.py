"""The checkpoint format: save, find and restore everything a GAN's training step reads — Chapters 4 and 7.

**Exact resumption.** A checkpoint stores generator, discriminator and EMA weights,
both optimizers' state (step counts, Adam moments), the step counter k and the
position of the model's noise stream (its ``SeedGenerator`` state). What it cannot
store is where the *data* iterator was; a resumed ``GAN.fit(dataset, resume_from=directory)``
therefore rebuilds that position by skipping the first k batches of the same
deterministic dataset (a seeded shuffle). On CPU with op determinism
(``device.set_seed``) the resumed run ends with the same bits as one that was never
interrupted::

    device.set_seed(0)
    gan = build_gan(); gan.compile(...)                 # fresh objects, same architecture
    gan.fit(make_dataset(seed=0), epochs=E, resume_from="runs/ckpt",
            callbacks=[callbacks.Checkpoint("runs/ckpt", every_n_steps=200)])

Any other model opts in with ``checkpoint_groups()`` (its weights and optimizer, by
name) and a ``step`` variable: the token transformer of Chapter 12 does, and resumes
the same way (``dalle_edu.t2i.train_dalle(..., resume=True)``).

Checkpoints are ``ckpt-<step>.npz`` files (plain arrays + a JSON manifest of variable
names and shapes), written atomically, the newest ``keep`` kept. The ``Checkpoint``
callback that writes them during ``fit`` lives in ``dalle_edu.callbacks``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import keras

__all__ = ["training_state", "save_checkpoint", "latest_checkpoint", "resume", "WeightsError",
           "load_weights_strict", "save_weights_only", "load_config"]

_CKPT = re.compile(r"^ckpt-(\d+)\.npz$")


def training_state(gan):
    """Every piece of state a training step reads, in a fixed order.

    ``state`` is the step counter, the noise stream's position, then whatever variables
    the model lists in an optional ``extra_state`` (a subclass's own RNG or counter), so
    a new kind of state needs no change here; a checkpoint without it then fails to
    load with the usual "does not fit" message instead of resuming half the state.
    """
    if hasattr(gan, "checkpoint_groups"):  # any other model lists its own (a transformer's)
        return {**gan.checkpoint_groups(), "state": [*getattr(gan, "extra_state", ())]}
    for what in ("g_optimizer", "d_optimizer"):
        if getattr(gan, what, None) is None:
            raise ValueError("compile() the GAN before saving or restoring a checkpoint")
    groups = {
        "generator": gan.generator.weights,
        "discriminator": gan.discriminator.weights,
        "g_optimizer": gan.g_optimizer.variables,
        "d_optimizer": gan.d_optimizer.variables,
        "state": [gan.step, gan.seed_generator.state, *getattr(gan, "extra_state", ())],
    }
    if gan.ema_generator is not None:
        groups["ema_generator"] = gan.ema_generator.weights
    return groups


def _name(v):
    return getattr(v, "path", None) or getattr(v, "name", "?")


def save_checkpoint(gan, directory, keep=3):
    """Write ``directory/ckpt-<step>.npz`` atomically, delete all but the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    step = int(gan.step.numpy())
    arrays, manifest = {}, {}
    for group, variables in training_state(gan).items():
        manifest[group] = []
        for i, v in enumerate(variables):
            a = keras.ops.convert_to_numpy(v)
            arrays[f"{group}/{i:04d}"] = a
            manifest[group].append([_name(v), list(a.shape), str(a.dtype)])
    arrays["manifest"] = np.array(json.dumps(manifest))
    path = directory / f"ckpt-{step:08d}.npz"
    tmp = directory / f".tmp-ckpt-{step:08d}.npz"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)  # a crash mid-write never leaves a half checkpoint under the real name
    for old in sorted(directory.glob("ckpt-*.npz"))[:-keep] if keep else []:
        old.unlink()
    return path


def latest_checkpoint(directory):
    """Path of the highest-step ``ckpt-*.npz`` in ``directory``, or None."""
    directory = Path(directory)
    found = sorted(p for p in directory.glob("ckpt-*.npz") if _CKPT.match(p.name)) if directory.is_dir() else []
    return found[-1] if found else None


def resume(gan, path):
    """Restore a checkpoint (a ``.npz`` file, or a directory: its latest) into ``gan``; returns step k.

    Everything is checked before anything is assigned: a checkpoint of another
    architecture raises ``ValueError`` naming the first variable that differs, and so does
    an optimizer compiled with another constant learning rate than the one saved (its
    ``learning_rate`` is a variable the checkpoint restores: the new rate would be ignored).
    """
    path = Path(path)
    file = latest_checkpoint(path) if path.is_dir() else path
    if file is None or not file.exists():
        raise FileNotFoundError(f"no checkpoint (ckpt-*.npz) found at {path}")
    groups = training_state(gan)
    with np.load(file) as data:
        manifest = json.loads(str(data["manifest"]))
        if set(manifest) != set(groups):
            only_ckpt, only_model = sorted(set(manifest) - set(groups)), sorted(set(groups) - set(manifest))
            raise ValueError(f"checkpoint {file} does not fit this model: parts only in the checkpoint "
                             f"{only_ckpt}, only in the model {only_model} (EMA on in one and off in the other?)")
        for group, variables in groups.items():
            saved = manifest[group]
            if len(saved) != len(variables):
                raise ValueError(f"checkpoint {file} does not fit this model: the {group} has "
                                 f"{len(saved)} variables in the checkpoint but {len(variables)} in the model")
            for i, (v, (name, shape, _)) in enumerate(zip(variables, saved)):
                if tuple(shape) != tuple(v.shape):
                    raise ValueError(
                        f"checkpoint {file} does not fit this model: {group} variable #{i} is "
                        f"'{name}' with shape {tuple(shape)} in the checkpoint but '{_name(v)}' "
                        f"with shape {tuple(v.shape)} in the model")
                if name.endswith("learning_rate"):
                    was, now = float(data[f"{group}/{i:04d}"]), float(np.asarray(v))
                    if not np.isclose(was, now, rtol=1e-6, atol=0.0):
                        raise ValueError(
                            f"checkpoint {file} was saved with learning rate {was:g} for the "
                            f"{group}, and a resumed run restores it: this one asks for "
                            f"{now:g}, which would be ignored; train a new run to change it")
        for group, variables in groups.items():
            for i, v in enumerate(variables):
                v.assign(data[f"{group}/{i:04d}"])
    return int(gan.step.numpy())


class WeightsError(ValueError):
    """A weights folder or file that is missing, corrupt, or for another architecture."""


def load_weights_strict(model, path):
    """``model.load_weights(path)``, but every mismatch is a one-line ``WeightsError``."""
    import warnings

    try:
        with warnings.catch_warnings():
            # Keras only *warns* when part of a file fits no layer and then keeps fresh
            # random weights there; a half-loaded model must be an error.
            warnings.simplefilter("error", UserWarning)
            model.load_weights(path)
    except (ValueError, KeyError, UserWarning) as err:
        raise WeightsError(f"{path} does not fit this architecture ({model.name}): "
                           f"{str(err).splitlines()[0][:200]}") from None
    except OSError as err:
        raise WeightsError(f"{path} is not a readable weights file (corrupt or truncated): "
                           f"{str(err).splitlines()[0][:200]}") from None


def save_weights_only(model, path, fresh):
    """``model.save_weights(path)`` without the optimizer: a compiled Keras model also writes
    its optimizer's moments (twice the weights again for Adam). ``fresh()`` builds an
    uncompiled model of the same architecture, which takes a copy of the weights."""
    if getattr(model, "optimizer", None) is not None:
        copy = fresh()
        copy.set_weights(model.get_weights())
        model = copy
    model.save_weights(path)


def load_config(cls, path, what: str = "config"):
    """A saved config (``cls.from_dict`` of the JSON at ``path``); a bad one is a one-line ``WeightsError``."""
    try:
        return cls.from_dict(json.loads(Path(path).read_text()))
    except (ValueError, TypeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise WeightsError(f"corrupt {what} in {path}: {msg}") from None
