"""One training step of the token transformer: milliseconds, with and without XLA, and GFLOP/s.

    python benchmarks/transformer_step.py                 # the cpu preset's transformer, batch 64
    python benchmarks/transformer_step.py --preset gpu --batch 16

The FLOPs are counted by hand (6 x parameters x tokens for the dense layers: forward 2,
backward 4; plus the attention products), so the GFLOP/s beside the step time says how
close the step runs to the machine's matmul speed. Random ids; the loss does not matter.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from dalle_edu import t2i  # noqa: E402
from dalle_edu.callbacks import EpochTimer  # noqa: E402
from dalle_edu.models import TokenTransformer  # noqa: E402


def step_flops(cfg, batch) -> float:
    """Training FLOPs of one step: dense weights 6 N T B, attention 6 * 2 * B * T^2 * E per block."""
    dense = cfg.depth * 12 * cfg.width ** 2 + cfg.width * cfg.vocab  # blocks + the output layer
    T = cfg.context
    return 6 * dense * T * batch + cfg.depth * 6 * 2 * batch * T * T * cfg.width


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args(argv)
    config = t2i.DalleConfig.for_preset(args.preset)
    batch = args.batch or config.batch_size
    cfg = config.transformer_config(config.vq_config().codebook_size)
    rng = np.random.default_rng(0)
    ids = np.concatenate([rng.integers(1, cfg.text_vocab, (batch, cfg.text_len)),
                          rng.integers(cfg.text_vocab, cfg.vocab, (batch, cfg.image_len))], 1)
    ds = tf.data.Dataset.from_tensor_slices(ids.astype("int32")).repeat().batch(batch).prefetch(2)
    gflop = step_flops(cfg, batch) / 1e9
    print(f"{args.preset}: width {cfg.width}, {cfg.depth} blocks, context {cfg.context}, "
          f"batch {batch}: {gflop:.1f} GFLOP per step")
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = TokenTransformer(cfg)
        model.compile(keras.optimizers.AdamW(1e-3), jit_compile=jit)  # XLA needs op determinism off
        clock = EpochTimer()  # one fit: epoch 1 traces and warms up, the others are timed
        model.fit(ds, steps_per_epoch=args.steps, epochs=4, verbose=0, callbacks=[clock])
        s = float(np.median(clock.times[1:])) / args.steps
        print(f"XLA {'on ' if jit else 'off'}: {1e3 * s:.0f} ms per step, {gflop / s:.0f} GFLOP/s")
    forward = tf.function(lambda x: model(x, training=False))
    x = tf.constant(ids.astype("int32"))
    forward(x)
    t = time.perf_counter()
    for _ in range(args.steps):
        forward(x)
    print(f"forward alone: {1e3 * (time.perf_counter() - t) / args.steps:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
