"""Images/s of three ways to train the same DCGAN: ``GAN.fit``, a hand-written
``tf.function`` loop, and the ``predict`` / ``train_on_batch`` loop many tutorials use.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/fit_vs_loops.py [--steps 50]

Same networks (DCGAN 32x32x1), same batch, same non-saturating loss and Adam
settings. Each repeat runs every method for ``--warmup`` untimed steps (tracing,
first allocations) and then ``--steps`` timed ones; methods are interleaved and the
best of ``--repeats`` is kept, because the machine is shared. Besides wall-clock
images/s it prints images per CPU-second of this process, which other jobs on a
shared machine cannot inflate. Reported in the docs; never a timed assertion in tests.

Findings (CPU, 2 cores): fit's graph costs the same CPU as the hand loop (its extra
work — four Mean metrics and a step counter — is a dozen scalar ops); the tutorial
loop pays per call for predict/train_on_batch's Python and data-adapter setup, four
times a step. ``steps_per_execution>1`` does not help on CPU: the in-graph
``while_loop`` costs more than the Python dispatch it saves.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import keras
import tensorflow as tf

from dalle_edu import device
from dalle_edu.gan import GAN
from dalle_edu.losses import nonsaturating_d_loss, nonsaturating_g_loss
from dalle_edu.models import dcgan_discriminator, dcgan_generator


def networks(args):
    device.set_seed(0)
    G = dcgan_generator(args.latent, 32, 1, width=args.width)
    D = dcgan_discriminator(32, 1, width=args.width)
    return G, D


def adam():
    return keras.optimizers.Adam(2e-4, beta_1=0.5)


def dataset(x, batch):
    return (tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True)
            .cache().repeat().prefetch(tf.data.AUTOTUNE))


def _now():
    """(wall seconds, CPU seconds of this process): CPU time is what other jobs on a
    shared machine cannot inflate, wall time what a learner waits."""
    return np.array([time.perf_counter(), time.process_time()])


class _StepClock(keras.callbacks.Callback):
    """Time from the end of step ``warmup`` to the end of the last step, inside one fit() call.

    So fit's fixed per-call cost (iterator setup and teardown) is left out, as it is
    for the loops: in a real run fit() is called once for thousands of steps.
    """

    def __init__(self, warmup):
        super().__init__()
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_end(self, batch, logs=None):
        # TF executes a function call synchronously on CPU: the step has finished here
        if batch + 1 == self.warmup:
            self.start = _now()
        self.end = _now()


def bench_fit(args, x, **compile_kw):
    G, D = networks(args)
    gan = GAN(G, D, args.latent, seed=0)
    gan.compile(adam(), adam(), loss="non-saturating", **compile_kw)
    ds = dataset(x, args.batch)
    spe = compile_kw.get("steps_per_execution", 1)
    warmup = -(-args.warmup // spe) * spe  # whole executions

    def run():
        clock = _StepClock(warmup)
        gan.fit(ds, epochs=1, steps_per_epoch=warmup + args.steps, verbose=0, callbacks=[clock])
        return clock.end - clock.start

    return run


def bench_hand_loop(args, x):
    """The keras-io train_step, written out as a plain tf.function loop (no metrics, no callbacks)."""
    G, D = networks(args)
    g_opt, d_opt = adam(), adam()
    seed = keras.random.SeedGenerator(0)

    @tf.function
    def step(real):
        b = tf.shape(real)[0]
        fake = G(keras.random.normal((b, args.latent), seed=seed), training=True)
        with tf.GradientTape() as tape:
            d_loss = nonsaturating_d_loss(D(real, training=True), D(fake, training=True))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))
        with tf.GradientTape() as tape:
            fake = G(keras.random.normal((b, args.latent), seed=seed), training=True)
            g_loss = nonsaturating_g_loss(D(fake, training=True))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, G.trainable_variables), G.trainable_variables))
        return d_loss, g_loss

    it = iter(dataset(x, args.batch))

    def run():
        for i in range(args.warmup + args.steps):
            if i == args.warmup:
                start = _now()
            out = step(next(it))
        float(out[0])  # wait for the last step
        return _now() - start

    return run


def bench_train_on_batch(args, x):
    """The classic tutorial loop: G.predict, D.train_on_batch twice, combined.train_on_batch."""
    G, D = networks(args)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    D.compile(adam(), bce)
    z_in = keras.Input((args.latent,))
    combined = keras.Model(z_in, D(G(z_in)))
    D.trainable = False  # Keras 3 reads `trainable` when a train function is traced
    combined.compile(adam(), bce)
    rng = np.random.default_rng(0)
    ones, zeros = np.ones((args.batch, 1), "float32"), np.zeros((args.batch, 1), "float32")
    n_batches = len(x) // args.batch
    counter = [0]

    def run():
        for k in range(args.warmup + args.steps):
            if k == args.warmup:
                start = _now()
            i = counter[0] % n_batches
            counter[0] += 1
            real = x[i * args.batch:(i + 1) * args.batch]
            fake = G.predict(rng.standard_normal((args.batch, args.latent)).astype("float32"), verbose=0)
            D.trainable = True
            D.train_on_batch(real, ones)
            D.train_on_batch(fake, zeros)
            D.trainable = False
            combined.train_on_batch(rng.standard_normal((args.batch, args.latent)).astype("float32"), ones)
        return _now() - start

    return run


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--latent", type=int, default=64)
    args = p.parse_args()
    x = np.random.default_rng(0).uniform(-1, 1, (args.batch * 16, 32, 32, 1)).astype("float32")

    runners = {
        "GAN.fit": bench_fit(args, x),
        "GAN.fit, steps_per_execution=8": bench_fit(args, x, steps_per_execution=8),
        "hand tf.function loop": bench_hand_loop(args, x),
        "predict/train_on_batch loop": bench_train_on_batch(args, x),
    }
    best = {name: np.array([np.inf, np.inf]) for name in runners}
    for _ in range(args.repeats):  # interleaved, so load from other jobs hits all methods alike
        for name, run in runners.items():
            best[name] = np.minimum(best[name], run())
    images = args.batch * args.steps
    print(f"DCGAN 32x32x1 width={args.width} latent={args.latent} batch={args.batch}, "
          f"{args.steps} timed steps (best of {args.repeats}), TF {tf.__version__}, "
          f"Keras {keras.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'method':34s} {'images/s':>9s} {'ms/step':>8s} {'images/CPU-s':>13s}")
    for name, (wall, cpu) in best.items():
        print(f"{name:34s} {images / wall:9.0f} {1000 * wall / args.steps:8.1f} {images / cpu:13.0f}")
    hand, tob = best["hand tf.function loop"], best["predict/train_on_batch loop"]
    for name in ("GAN.fit", "GAN.fit, steps_per_execution=8"):
        r_hand, r_tob = hand / best[name], tob / best[name]
        print(f"{name}: {r_hand[0]:.2f}x hand loop (CPU time {r_hand[1]:.2f}x; target >= 0.95), "
              f"{r_tob[0]:.2f}x train_on_batch loop (CPU time {r_tob[1]:.2f}x; target >= 1.5)")


if __name__ == "__main__":
    main()
