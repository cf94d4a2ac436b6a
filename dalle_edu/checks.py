"""Checks before the first step: what ``GAN.fit`` verifies from shapes alone — Chapters 4-7.

A wrong image size, a missing condition or a global batch that does not split over the
replicas would otherwise fail deep inside a traced step with a TensorFlow message; here
each is one line that says what to change. Nothing is read from the data.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["static_shape", "first_io_shape", "shapes_differ", "check_image_shape",
           "check_critic_differentiable", "check_global_batch", "check_data"]


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
        logits, _ = gan.judge(x, cond, training=False)
    if tape.gradient(logits, x) is None:
        raise ValueError(f"loss={gan.loss_name!r} adds a gradient penalty, which needs the "
                         "discriminator's score to be differentiable in its input image; this "
                         "one is not (an integer cast, argmax or stop_gradient on the way?)")


def check_data(gan, x, y=None, batch_size=None):
    """Raise a clear ``ValueError`` if the data's image shape, condition or batch does not fit ``gan``.

    ``x`` is a ``tf.data.Dataset`` (checked from its ``element_spec``, nothing is read),
    an array of images, or anything else (then nothing is checked here). Under a
    strategy of R replicas every global batch must split into R equal parts.
    """
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
    check_image_shape(gan, shape[1:], "the data")
    if gan.conditional and cond is None:
        raise ValueError(f"a conditional={gan.conditional!r} GAN needs (images, conditions) "
                         "data, but the data has images only")
    is_dataset = isinstance(x, tf.data.Dataset)
    check_global_batch(shape[0] if is_dataset else (batch_size or 32),  # Keras's default batch
                       gan.distribute_strategy.num_replicas_in_sync,
                       n_examples=None if is_dataset else shape[0])


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
