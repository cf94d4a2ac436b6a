"""Where a text-to-image GAN step spends its time, part by part (results page, Speed).

    python benchmarks/t2i_profile.py                  # the shipped "gan-labels" recipe, cpu preset
    python benchmarks/t2i_profile.py --model gan      # the label-free GAN

Two kinds of figures, each the median of several timed runs after a warm-up:

* **parts alone**, each compiled with ``tf.function``: the input pipeline (one batch),
  G forward, D forward on one batch and on three batches concatenated, and the EMA update;
* **the whole step** (``GAN.fit``) and the same step with one part switched off (the
  matching-aware pass, EMA, the auxiliary or contrastive head), so the difference is
  what that part costs inside the real step.

FLOPs per step come from ``benchmarks/gpu_estimate.py``'s count ("executed"), and the
machine's float32 matmul speed from its ``matmul_peak``: GFLOP/s achieved beside it.
Prints one table and writes ``benchmarks/results/t2i_profile.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dalle_edu import device, t2i  # noqa: E402
from dalle_edu.callbacks import EpochTimer  # noqa: E402

OUT = Path(__file__).parent / "results" / "t2i_profile.json"
_spec = importlib.util.spec_from_file_location("gpu_estimate", Path(__file__).parent / "gpu_estimate.py")
gpu_estimate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_estimate)


def encoder_for(config, model):
    if model == "gan":  # the shipped mini-CLIP's frozen text tower
        from dalle_edu import api

        return api.load_clip().text_encoder
    return t2i.build_text_encoder(config.embed_dim)


def step_ms(config, encoder, steps=40, epochs=3, ema=True, **overrides) -> float:
    """Median ms per step of ``GAN.fit`` over ``epochs`` timed epochs (one warm-up first),
    on ``config`` with ``overrides``; ``ema=False``: the step without its EMA update."""
    config = dataclasses.replace(config, **overrides)
    device.set_seed(config.seed)
    gan = t2i.build_gan(config)
    if not ema:
        gan.ema_generator = None  # GAN.update_ema then has nothing to update
    ds = t2i.make_dataset(config, encoder).repeat()
    clock = EpochTimer()
    gan.fit(ds, epochs=epochs + 1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    return 1e3 * float(np.median(clock.times[1:])) / steps


def timed(fn, reps=30) -> float:
    fn()  # trace
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return 1e3 * float(np.median(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gan-labels", choices=("gan-labels", "gan"))
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    config = t2i.T2IConfig.for_preset(args.preset, model=args.model)
    encoder = encoder_for(config, args.model)
    B = config.batch_size

    # --- parts alone ------------------------------------------------------------------
    device.set_seed(config.seed)
    gan = t2i.build_gan(config)
    it = iter(t2i.make_dataset(config, encoder).repeat())
    real, y = next(it)
    cond = y[0] if isinstance(y, tuple) else y
    z = tf.random.normal((B, config.latent_dim))
    G, D = gan.generator, gan.discriminator
    g_fwd = tf.function(lambda: G([z, cond], training=True))
    d_fwd = tf.function(lambda: D([real, cond], training=True))
    real3, cond3 = tf.concat([real] * 3, 0), tf.concat([cond] * 3, 0)
    d_fwd3 = tf.function(lambda: D([real3, cond3], training=True))
    ema = tf.function(gan.update_ema) if gan.ema_generator is not None else None
    parts = {
        "input pipeline, one batch": timed(lambda: next(it)),
        "G forward": timed(g_fwd),
        "D forward, one batch": timed(d_fwd),
        "D forward, 3 batches in one call": timed(d_fwd3),
        "EMA update": timed(ema) if ema else 0.0,
    }

    # --- the whole step, and without each part -------------------------------------------
    whole = step_ms(config, encoder, args.steps)
    off = {"matching-aware pass": dict(matching_aware=False), "EMA": dict(ema=False)}
    if config.aux_weight:
        off["auxiliary head (TAC-GAN)"] = dict(aux_weight=0.0)
    if config.contrastive_weight:
        off["contrastive head (XMC-GAN)"] = dict(contrastive_weight=0.0)
    without = {name: step_ms(config, encoder, args.steps, **kw) for name, kw in off.items()}

    flops = gpu_estimate.analytic_flops(gan, B)["executed"]
    peak = gpu_estimate.matmul_peak()
    report = {"model": args.model, "preset": args.preset, "batch": B, "cpus": os.cpu_count(),
              "step_ms": round(whole, 1), "parts_alone_ms": {k: round(v, 2) for k, v in parts.items()},
              "step_without_ms": {k: round(v, 1) for k, v in without.items()},
              "gflop_per_step": round(flops / 1e9, 2),
              "achieved_gflops": round(flops / 1e9 / (whole / 1e3), 1),
              "matmul_peak_gflops": round(peak, 1), "load_avg": round(os.getloadavg()[0], 2)}
    print(f"{args.model}, {args.preset} preset, batch {B}: one step {whole:.1f} ms")
    for name, ms in parts.items():
        print(f"  alone: {name:34} {ms:7.2f} ms  ({100 * ms / whole:4.1f} % of a step)")
    for name, ms in without.items():
        print(f"  step without {name:28} {ms:7.1f} ms  (the part: {whole - ms:+.1f} ms)")
    print(f"  {report['gflop_per_step']} GFLOP per step -> {report['achieved_gflops']} GFLOP/s; "
          f"float32 matmul peak here {report['matmul_peak_gflops']} GFLOP/s")
    OUT.parent.mkdir(exist_ok=True)
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    saved[f"{args.model}/{args.preset}"] = report
    OUT.write_text(json.dumps(saved, indent=1) + "\n")


if __name__ == "__main__":
    main()
