"""One row of the GAN recipe table (results page): train a GAN variant of the cpu preset, judge its pixels.

    python benchmarks/gan_ablation.py --name baseline
    python benchmarks/gan_ablation.py --name sn --set spectral_norm=true
    python benchmarks/gan_ablation.py --name ttur --set d_lr=4e-4 lr=1e-4
    python benchmarks/gan_ablation.py --name short --set steps=4000 --model gan
    python benchmarks/gan_ablation.py --name long --extend baseline --set steps=12000
    python benchmarks/gan_ablation.py --name preset_curve --curve 1

Trains ``ExperimentConfig.for_preset("cpu", model=...)`` (``experimental.py``: the
package's ``T2IConfig`` plus spectral norm, TTUR, the step schedule and XLA) with the
``--set`` overrides into ``runs/ablation/<name>`` (``train`` below: ``t2i.train`` with
``build_experimental_gan``; seconds are wall time, data and text encoder included), then
judges the EMA generator on ``-n`` prompts per split with measures that learn nothing
from this world's labels: the geometry check (test prompts and held-out pairs; strict),
off-palette lit pixels **per colour**, shape fit **per shape** against renders of the
same captions, and FID/KID in the shipped mini-CLIP's image space against renders of
other test prompts. Appends the row to ``benchmarks/results/gan_ablation.json`` (one
entry per ``--name``; cpu preset only: ``--preset smoke`` checks that the code runs).
``--extend NAME`` copies run NAME (one this script trained) and resumes it exactly to
the new ``steps`` (same overrides otherwise): its seconds are those of the extra steps
only. ``--curve 1`` also measures the pixels every 500 steps (400 prompts per split, the
seconds so far beside them): how long a run takes to reach a target, not only where it
ends.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dalle_edu import (api, device, geometry, measures, metrics, presets, t2i,  # noqa: E402
                       text, trainer)
from dalle_edu.cli import config_overrides  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402
from experimental import ExperimentConfig, build_experimental_gan, plain_config  # noqa: E402

OUT = Path(__file__).parent / "results" / "gan_ablation.json"


def pixels(fake, renders, wanted, attrs) -> dict:
    """The pixel measures of one split: geometry, strict, off-palette (pooled and per
    colour) and shape fit (pooled, and per shape as a ratio to renders of the same captions)."""
    g = geometry.fidelity(fake, wanted)
    out = {k: round(g[k], 4) for k in ("fidelity", "strict", "off_palette", "shape_fit")}
    colors = np.array([a["color"] for a in attrs])
    kinds = np.array([a["shape"] for a in attrs])
    out["off_palette_per_color"] = {
        c: round(geometry.fidelity(fake[colors == c], [wanted[i] for i in np.flatnonzero(colors == c)])
                 ["off_palette"], 4) for c in shapes.VALUES["color"] if (colors == c).any()}
    out["shape_fit_vs_renders"] = {}
    for k in shapes.SHAPES:
        idx = np.flatnonzero(kinds == k)
        if len(idx):
            w = [wanted[i] for i in idx]
            fit_fake = geometry.fidelity(fake[idx], w)["shape_fit"]
            fit_real = geometry.fidelity(renders[idx], w)["shape_fit"]
            out["shape_fit_vs_renders"][k] = round(fit_fake / fit_real, 3)
    return out


def judge(model, n: int, seed: int = 0) -> dict:
    out = {}
    for split in ("test", "compositional"):
        renders, captions, attrs = shapes.sample(n, split, seed=seed + 7)
        wanted = [text.parse(c) for c in captions]
        fake = model.generate(captions, seed=seed)
        p = pixels(fake, renders, wanted, attrs)
        out[split] = {k: p[k] for k in ("fidelity", "strict", "off_palette", "shape_fit")}
        if split != "test":
            continue
        out["off_palette_per_color"] = p["off_palette_per_color"]
        out["shape_fit_vs_renders"] = p["shape_fit_vs_renders"]
        clip = api.load_clip()
        ref = clip.encode_images(shapes.sample(n, "test", seed=seed + 8)[0])
        feats = clip.encode_images(fake)
        out["fid"] = round(float(metrics.fid(feats, ref)), 5)
        out["kid_x1000"] = round(1_000 * float(metrics.kid(feats, ref, seed=seed)[0]), 4)
    return out


class Curve(measures.GeometryLog):
    """``GeometryLog`` with every pixel measure of ``pixels`` and the run's seconds so far.

    ``seconds`` in a row counts from ``t_start`` (before the text encoder and the data:
    the whole run, as ``train_s``) and leaves out the time spent measuring (``self.seconds``).
    """

    def __init__(self, t_start: float, every: int = 1, n: int = 400, seed: int = 11):
        super().__init__(every, n=n, seed=seed, verbose=False)
        self.t_start = t_start
        self.renders = {split: shapes.sample(n, split, seed=seed)[0] for split in self.prompts}

    def measure(self, model, step) -> dict:
        t0 = time.perf_counter()
        row = {"step": int(step), "seconds": round(t0 - self.t_start - self.seconds, 1)}
        for split, (captions, attrs) in self.prompts.items():
            wanted = [text.parse(c) for c in captions]
            p = pixels(model.generate(captions, seed=0), self.renders[split], wanted, attrs)
            row[split] = p if split == "test" else {k: p[k] for k in ("fidelity", "strict", "off_palette")}
        row["worst_color"] = max(row["test"]["off_palette_per_color"].values())
        row["worst_fit"] = min(row["test"]["shape_fit_vs_renders"].values())
        self.rows.append(row)
        self.seconds += time.perf_counter() - t0
        print(json.dumps({k: row[k] for k in ("step", "seconds", "worst_color", "worst_fit")}
                         | {s: row[s]["fidelity"] for s in self.prompts}), flush=True)
        return row


def train(config: ExperimentConfig, out_dir: Path, resume: bool, callbacks=()):
    """``t2i.train`` with ``build_experimental_gan``: the frozen text encoder (the attribute
    encoder, pretrained now, or the shipped mini-CLIP's text tower), then the GAN,
    checkpointed and resumable (``trainer``); -> the ``TextToImage`` saved in ``out_dir``."""
    trainer.epochs_for(config.steps)  # a bad step count fails now, not after the encoder
    enc_path = out_dir / "text_encoder.weights.h5"
    if config.text_encoder == "clip":  # the shipped mini-CLIP's text tower, kept with the model
        clip = api.load_clip()
        encoder, config = clip.text_encoder, dataclasses.replace(config, clip=clip.config.to_dict())
    # experiment.json: TextToImage.save writes the plain T2IConfig to config.json
    trainer.start_run(config, out_dir, resume, config_file="experiment.json")
    device.set_seed(config.seed)
    if config.text_encoder == "labels":
        encoder = t2i.build_text_encoder(config.embed_dim)
        if resume:  # the encoder the checkpoints were trained with
            encoder.load_weights(enc_path)
        else:
            encoder = t2i.pretrain_text_encoder(encoder, config.encoder_steps, seed=config.seed)
            encoder.save_weights(enc_path)
    gan = build_experimental_gan(config)
    gan.sampler = t2i.TextToImage(plain_config(config), encoder,
                                  gan.ema_generator or gan.generator)
    trainer.train_run(gan, t2i.make_dataset(config, encoder), config.steps, out_dir, resume,
                      callbacks=callbacks, verbose=2)
    gan.sampler.save(out_dir)
    return gan.sampler


def trained(config) -> dict:
    """What a row was trained with, in full: the cpu preset it overrides changes over time."""
    return {k: v for k, v in config.to_dict().items() if k != "clip"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--model", default="gan-labels", choices=("gan-labels", "gan"))
    ap.add_argument("--preset", default="cpu", choices=presets.NAMES)
    ap.add_argument("--set", nargs="*", default=[], help="config overrides, key=json-value")
    ap.add_argument("-n", type=int, default=1_000)
    ap.add_argument("--extend", metavar="NAME", default=None,
                    help="continue run NAME (a copy of it) to --set steps=N, instead of from scratch")
    ap.add_argument("--curve", type=int, default=0, metavar="EVERY",
                    help="also measure the pixels every EVERY x 500 steps on 400 prompts per "
                         "split (row key 'curve'; the seconds leave the measuring out)")
    args = ap.parse_args(argv)
    overrides = config_overrides(args.set)
    try:
        config = ExperimentConfig.for_preset(args.preset, model=args.model, **overrides)
    except ValueError as err:  # e.g. a knob that left the package: lr_decay, r1_gamma, ...
        raise SystemExit(f"--set: {err}") from None
    out_dir = Path("runs/ablation") / args.name
    start = {}
    if args.extend:  # the earlier run's weights, optimizers, EMA and data position
        source = Path("runs/ablation") / args.extend
        if out_dir.exists():
            raise SystemExit(f"{out_dir} exists: pick a new --name")
        shutil.copytree(source, out_dir)
        start = {"extends": args.extend,
                 "from_step": int(json.loads((source / "experiment.json").read_text())["steps"])}
    t0 = time.perf_counter()
    curve = [Curve(t0, args.curve)] if args.curve else []
    model = train(config, out_dir, resume=bool(args.extend), callbacks=curve)
    seconds = time.perf_counter() - t0 - sum(c.seconds for c in curve)
    row = {"model": args.model, "overrides": overrides, "config": trained(config),
           "steps": config.steps, **start,
           "train_s": round(seconds), "load_avg": round(os.getloadavg()[0], 2),
           **judge(model, args.n)}
    if curve:
        row["curve"] = curve[0].rows
    print(json.dumps(row, indent=1))
    if args.preset != "cpu":
        return 0
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    saved[args.name] = row
    OUT.write_text(json.dumps(saved, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
