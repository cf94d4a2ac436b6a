"""Milliseconds per training step of the text-to-image GAN — Chapter 7.

    python benchmarks/t2i_step_time.py                 # cpu preset, 1 warm-up + 5 timed epochs of 50 steps
    python benchmarks/t2i_step_time.py --loss wgan-gp --n-critic 5
    python benchmarks/t2i_step_time.py --model gan     # the label-free GAN (the shipped mini-CLIP's text)
    python benchmarks/t2i_step_time.py --set width=48 jit_compile=true   # any ExperimentConfig field

Times ``GAN.fit`` (the one ``train_step``) on the preset's config (``experimental.py``:
``T2IConfig`` plus spectral norm, TTUR, the step schedule and XLA), data pipeline
included, after one warm-up epoch that pays for tracing. Prints one JSON line; run it
on a quiet machine (the load average is printed with it).
"""

import argparse
import json
import os

import numpy as np

from dalle_edu import device, t2i
from dalle_edu.callbacks import EpochTimer
from dalle_edu.cli import config_overrides
from experimental import ExperimentConfig, build_experimental_gan


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=50, help="steps per timed epoch")
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs (after one warm-up)")
    ap.add_argument("--loss", default=None)
    ap.add_argument("--n-critic", type=int, default=None)
    ap.add_argument("--model", default="gan-labels", choices=("gan-labels", "gan"))
    ap.add_argument("--set", nargs="*", default=[], help="config overrides, key=json-value")
    args = ap.parse_args()
    overrides = {k: v for k, v in (("loss", args.loss), ("n_critic", args.n_critic)) if v is not None}
    overrides.update(config_overrides(args.set))
    try:
        config = ExperimentConfig.for_preset(args.preset, model=args.model, **overrides)
    except ValueError as err:  # e.g. a knob that left the package: lr_decay, r1_gamma, ...
        raise SystemExit(f"--set: {err}") from None
    device.set_seed(config.seed, deterministic=not config.jit_compile)  # XLA needs it off
    if args.model == "gan":  # conditioned on the shipped mini-CLIP's frozen text tower
        from dalle_edu import api

        encoder = api.load_clip().text_encoder
    else:
        encoder = t2i.build_text_encoder(config.embed_dim)
    gan = build_experimental_gan(config)
    ds = t2i.make_dataset(config, encoder).repeat()
    clock = EpochTimer()
    load0 = os.getloadavg()[0]
    gan.fit(ds, epochs=args.epochs + 1, steps_per_epoch=args.steps, verbose=0, callbacks=[clock])
    ms = [1000 * t / args.steps for t in clock.times[1:]]
    print(json.dumps({"preset": args.preset, "model": args.model, **overrides, "ms_per_step": [round(m, 1) for m in ms],
                      "median_ms": round(float(np.median(ms)), 1), "cpus": os.cpu_count(),
                      "load_avg": [round(load0, 2), round(os.getloadavg()[0], 2)]}))


if __name__ == "__main__":
    main()
