"""How batches reach ``GAN.train_step``: checked, as one stream, over several devices.

Book: "Several devices, precision and XLA". Three parts, all of them plumbing around the
one ``train_step`` of ``dalle_edu.gan``:

1. **Several replicas.** Under a ``tf.distribute`` strategy ``train_step`` runs once per
   replica, each on its slice of the global batch: B = R * b rows, replica r holding
   rows [r b, (r + 1) b) (``experimental_distribute_dataset`` splits a batch in order).
   What Keras 3.15 / TF 2.21 do there by themselves, measured (``tests/test_distribute.py``):

   * the optimizer *sums* the replicas' gradients, so each replica's mean loss is
     divided by R first (``per_replica_loss``);
   * a variable Keras creates (weights, EMA copies, the step counter, a
     ``SeedGenerator``'s state) is a ``MirroredVariable`` with aggregation "none": an
     ``assign`` in a replica silently updates that replica's own copy. Where every
     replica assigns the same value (EMA of synced weights, ``step + 1``) the copies stay
     equal; where not, they drift apart: BatchNorm's moving statistics (``sync_statistics``);
   * every replica holds the same RNG state, so ``keras.random.normal((b, ...), seed=gen)``
     gives *every replica the same noise*; ``replica_rows`` draws the global batch's
     noise and keeps this replica's rows, so R replicas draw what one device draws;
   * ``ops.roll`` over a batch rolls within the replica; ``roll_rows`` rolls the global batch.

   With R = 1 each helper is exactly the single-device code, op for op.
2. **Checks before the first step** (image shapes, conditions, a global batch that splits
   over the replicas, a differentiable critic) and **one stream** (``one_stream``: a
   finite dataset repeated, a resumed run's batches skipped).
3. **Op determinism on GPUs** (``fit_degrading_determinism``): it fails at the first step
   when an op has no deterministic GPU kernel; fit then warns and goes on without it.
"""

from __future__ import annotations

import re
import warnings

import keras
import tensorflow as tf
from keras import ops

from . import device, losses
from .checkpoint import _groups as training_state, resume

__all__ = ["replicas", "per_replica_loss", "replica_rows", "roll_rows", "gradient_penalty",
           "sync_statistics", "check_global_batch", "check_image_shape", "check_critic_differentiable",
           "check_data", "one_stream", "fit_degrading_determinism"]


def replicas() -> int:
    """R, the number of replicas in sync (1 outside a strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def _replica_id():
    return tf.distribute.get_replica_context().replica_id_in_sync_group


def per_replica_loss(loss):
    """A replica's mean loss / R: the optimizer sums the R gradients, and then

    sum_r grad (L_r / R) = grad (1/R sum_r L_r) = grad L(global batch)   (equal shards b = B / R),
    the gradient one device computes on the whole batch.
    """
    r = replicas()
    return loss / r if r > 1 else loss


def replica_rows(draw, batch):
    """``draw(n) -> (n, ...)`` for the global batch of R * ``batch`` rows; this replica's (batch, ...).

    Each replica advances its own copy of the same RNG state by the same draws, so the
    draws agree across replicas and the slices are disjoint: replica r gets rows
    [r b, (r + 1) b) of what one device would draw for the global batch. Costs R times the
    random numbers, which are small (noise vectors, per-example weights) next to the networks.
    """
    r = replicas()
    if r == 1:
        return draw(batch)
    start = _replica_id() * batch
    return draw(batch * r)[start:start + batch]  # (R b, ...) -> (b, ...)


def roll_rows(x):
    """``ops.roll(x, 1, axis=0)`` over the global batch: row i gets row i - 1, row 0 the last row.

    Within one replica a roll would pair its first row with its own last row instead of
    the previous replica's. x (b, ...) -> (b, ...); gathers x (small: conditions) from every replica.
    """
    r = replicas()
    if r == 1:
        return ops.roll(x, 1, axis=0)
    b = tf.shape(x)[0]
    everything = tf.distribute.get_replica_context().all_gather(x, axis=0)  # (R b, ...)
    start = _replica_id() * b
    return tf.roll(everything, 1, axis=0)[start:start + b]


def gradient_penalty(critic, real, fake, seed_generator):
    """``losses.gradient_penalty`` with interpolation weights that are this replica's rows of the global draw.

    ``losses.gradient_penalty`` draws eps itself, (b, 1, 1, 1) for the rows it sees —
    under R replicas every replica would draw the same eps. So with R > 1 eps comes from
    ``replica_rows`` and the penalty is evaluated at x_hat = eps real + (1 - eps) fake
    by handing ``losses.gradient_penalty`` x_hat as both ends and a critic that reads x_hat
    exactly: ``x_hat + (x - stop_gradient(x))`` is x_hat in value (x - x = 0) and has
    gradient 1 in x, so grad_x C equals grad C(x_hat). (A ``losses.gradient_penalty(eps=...)``
    argument would make this a plain call.)
    """
    if replicas() == 1:
        return losses.gradient_penalty(critic, real, fake, seed=seed_generator)
    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    ones = [1] * (len(real.shape) - 1)
    eps = replica_rows(lambda n: keras.random.uniform((n, *ones), seed=seed_generator),  # as losses draws it
                       tf.shape(real)[0])  # (b, 1, ..., 1)
    x_hat = eps * real + (1.0 - eps) * fake
    exact = (lambda x: critic(x_hat + (x - tf.stop_gradient(x))))  # noqa: E731
    return losses.gradient_penalty(exact, x_hat, x_hat, seed=0)  # seed=0: leaves the stream alone


def sync_statistics(*models):
    """Average the models' non-trainable float weights (BatchNorm moving mean/var) over replicas.

    Each replica's BatchNorm updates its own copy from its own b examples (see the module
    docstring); averaging the copies after every step keeps them equal, and the moving
    *mean* is then the global batch's (a mean of equal-size means). No-op with R = 1.
    """
    if replicas() == 1:
        return
    weights = [w for m in models for w in m.non_trainable_weights if "float" in str(w.dtype)]
    if weights:
        ctx = tf.distribute.get_replica_context()
        means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [w.value for w in weights])
        for w, m in zip(weights, means):
            w.assign(m)


def check_global_batch(batch, n_replicas, n_examples=None):
    """Every batch must split evenly over the replicas; else a one-line ``ValueError``.

    ``batch``: the global batch (a dataset's static batch size; None if it varies);
    ``n_examples``: for arrays, how many (the last batch must be whole too).
    """
    if n_replicas <= 1:
        return
    r = n_replicas
    if batch is None:
        raise ValueError(f"the data has no fixed batch size, but training on {r} replicas needs "
                         f"one that divides by {r}: batch the dataset with drop_remainder=True")
    if int(batch) % r:
        raise ValueError(f"the data has a global batch of {batch}, which does not split over {r} "
                         f"replicas: use a multiple of {r} (e.g. {max(int(batch) // r, 1) * r})")
    if n_examples is not None and int(n_examples) % int(batch):
        raise ValueError(f"{n_examples} examples do not make whole batches of {batch}; on {r} "
                         "replicas every batch must split evenly: drop the remainder first")


# --- checks before the first step, and the data fit hands to train_step -------------

def static_shape(tensor_or_spec):
    """A tensor's, array's or spec's shape as a tuple with None where unknown (None if it has none)."""
    shape = getattr(tensor_or_spec, "shape", None)
    return None if shape is None else tuple(None if d is None else int(d) for d in shape)


def first_io_shape(model, attr):
    """Per-example shape of a functional model's first input/output, or None if unknown."""
    try:
        return static_shape(getattr(model, attr)[0])[1:]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def shapes_differ(a, b):
    return len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b))


def check_image_shape(gan, data_shape, where):
    """``data_shape`` (per example) must be what G makes and D reads; else a clear ``ValueError``."""
    if gan.image_shape and data_shape is not None and shapes_differ(data_shape, gan.image_shape):
        d_in = first_io_shape(gan.discriminator, "inputs")
        raise ValueError(
            f"{where} has images of shape {tuple(data_shape)} per example, but the generator "
            f"makes {gan.image_shape} and the discriminator expects {d_in}. Resize the data "
            "or build the networks for this shape (image_size=..., channels=...)."
        )


def check_critic_differentiable(gan):
    """The gradient penalty needs dD/dx; say so at compile time if D's score does not depend on x smoothly."""
    specs = getattr(gan.discriminator, "inputs", None)
    if not specs or any(d is None for d in static_shape(specs[0])[1:]):
        return  # unknown input shape: losses.gradient_penalty checks again when training
    x = tf.random.stateless_normal((2, *static_shape(specs[0])[1:]), seed=(1, 2))
    cond = None
    if gan.conditional and len(specs) > 1:
        shape = (2, *(d or 1 for d in static_shape(specs[1])[1:]))
        cond = tf.zeros(shape, specs[1].dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits, _ = gan._D_logits(x, cond, training=False)
    if tape.gradient(logits, x) is None:
        raise ValueError(f"loss={gan.loss_name!r} adds a gradient penalty, which needs the "
                         "discriminator's score to be differentiable in its input image; this "
                         "one is not (an integer cast, argmax or stop_gradient on the way?)")


def check_data(gan, x, y=None, batch_size=None):
    """``GAN.check_data``: image shape, condition and global batch, from shapes only (nothing is read)."""
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if isinstance(spec, (tuple, list)):
            images, cond = spec[0], (spec[1] if len(spec) > 1 else None)
        else:
            images, cond = spec, None
    elif hasattr(x, "shape"):
        images, cond = x, y
    else:
        return
    shape = static_shape(images)
    if shape is None:
        return
    gan._check_image_shape(shape[1:], "the data")
    if gan.conditional and cond is None:
        raise ValueError(f"a conditional={gan.conditional!r} GAN needs (images, conditions) "
                         "data, but the data has images only")
    is_dataset = isinstance(x, tf.data.Dataset)
    check_global_batch(shape[0] if is_dataset else (batch_size or 32),  # Keras's default batch
                       gan.distribute_strategy.num_replicas_in_sync,
                       n_examples=None if is_dataset else shape[0])


class StopAtStep(keras.callbacks.Callback):
    """Ends a resumed ``fit`` exactly at the uninterrupted run's last step."""

    def __init__(self, last_step):
        super().__init__()
        self.last_step = int(last_step)

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step.numpy()) >= self.last_step:
            self.model.stop_training = True


def one_stream(gan, x, epochs, steps_per_epoch, initial_epoch, resume_from):
    """``GAN.fit``'s data as one stream, resumed: -> (x, steps_per_epoch, initial_epoch, callbacks).

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
        if gan.steps_per_execution != 1:
            warnings.warn("exact resumption needs steps_per_execution=1; with "
                          f"{gan.steps_per_execution} the resumed run may end a few steps late")
        k = resume(gan, resume_from)
        x = x.skip(k)
        initial_epoch = max(initial_epoch, k // steps_per_epoch)
        callbacks.append(StopAtStep(epochs * steps_per_epoch))
    return x, steps_per_epoch, initial_epoch, callbacks


# --- op determinism on GPUs ------------------------------------------------------------

def _is_determinism_error(err) -> bool:
    return isinstance(err, tf.errors.UnimplementedError) and "determinis" in str(err.message).lower()


def _op_name(err) -> str:
    """The op TF names in its message (``{{node X}}``, "implementation of X"), else its first line."""
    msg = str(err.message)
    found = re.search(r"\{\{node ([^}]+)\}\}", msg) or re.search(r"implementation of (\S+)", msg)
    return found.group(1) if found else msg.strip().splitlines()[0][:200]


def fit_degrading_determinism(gan, fit):
    """Run ``fit()``; if op determinism fails before the first step, warn, turn it off and run again.

    Everything a step writes (``checkpoint``'s list: weights, optimizers, step, RNG) is
    restored before the second try, in case the failing op came after some updates. A
    failure after steps were taken is re-raised as a one-line error saying how to resume.
    """
    if not (device.op_determinism_enabled() and getattr(gan, "compiled", False)):
        return fit()  # nothing to degrade (or not compiled: Keras says so)
    state = [v for group in training_state(gan).values() for v in group]
    first, saved = int(gan.step.numpy()), [ops.convert_to_numpy(v) for v in state]
    try:
        return fit()
    except tf.errors.UnimplementedError as err:
        if not _is_determinism_error(err):
            raise
        op, now = _op_name(err), int(gan.step.numpy())
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
    gan.train_function = None  # traced with determinism on: trace again
    return fit()
