"""Training on several devices: what ``tf.distribute`` changes inside ``GAN.train_step``.

Book: "Several devices, precision and XLA". Under a strategy, ``train_step`` runs once
per replica, each on its slice of the global batch: B = R * b rows, replica r holding
rows [r b, (r + 1) b) (``experimental_distribute_dataset`` splits a batch in order).
What Keras 3.15 / TF 2.21 do there by themselves, measured (``tests/test_distribute.py``):

* the optimizer *sums* the replicas' gradients, so each replica's mean loss is divided
  by R first (``per_replica_loss``);
* a variable Keras creates (weights, EMA copies, the step counter, a ``SeedGenerator``'s
  state) is a ``MirroredVariable`` with aggregation "none": an ``assign`` in a replica
  updates that replica's own copy. Where every replica assigns the same value (EMA of
  synced weights, ``step + 1``) the copies stay equal; BatchNorm's moving statistics do
  not (``sync_statistics``);
* every replica holds the same RNG state, so ``keras.random.normal((b, ...), seed=gen)``
  gives *every replica the same noise*; ``replica_rows`` draws the global batch's noise
  and keeps this replica's rows, so R replicas draw what one device draws;
* ``ops.roll`` over a batch rolls within the replica; ``roll_rows`` rolls the global batch.

With R = 1 each helper is exactly the single-device code, op for op.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from . import losses

__all__ = ["replicas", "per_replica_loss", "replica_rows", "roll_rows", "gradient_penalty",
           "sync_statistics"]


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
