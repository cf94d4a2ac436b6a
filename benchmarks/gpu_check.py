"""Check your GPU in 8 minutes: speed with and without mixed precision and XLA, then quality.

    python benchmarks/gpu_check.py                        # gpu preset, 480 s in all -> gpu_check.json
    python benchmarks/gpu_check.py --budget-s 300 --out t4.json
    python benchmarks/gpu_check.py --preset smoke --out /tmp/check.json   # CPU, < 1 min: the code runs

For the shipped model family, the text-to-image GAN with labels
(``T2IConfig.for_preset(preset, model="gan-labels")``), built as ``t2i.train`` builds it:

1. **Speed.** Four variants: float32, mixed_float16, float32 + XLA, mixed_float16 + XLA.
   Each is built and trained for one warm-up chunk of steps (tracing, XLA compilation and
   kernel autotuning are paid there), then timed over a few more chunks. A variant the
   device cannot run is *skipped* with the reason ``device.check_precision`` gives (no
   float16 units on a CPU or an older GPU); any other failure is *recorded* as an error.
2. **Quality.** The fastest variant with finite losses (or ``--train-variant``) trains on
   until 75 % of ``--budget-s`` is spent (at most the preset's ``steps``); its EMA
   generator is then judged: the geometry check on test prompts and held-out colour-shape
   pairs, off-palette pixels, and FID/KID in the shipped mini-CLIP's image space.

Writes one JSON file (book: "Several devices, precision and XLA", section "Check your GPU
in 8 minutes", reads every figure) and prints a short summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import platform
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import dalle_edu  # noqa: E402
from dalle_edu import api, device, geometry, metrics, presets, t2i, text  # noqa: E402
from dalle_edu.callbacks import EpochTimer  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402

VARIANTS = (("float32", "float32", False), ("mixed_float16", "mixed_float16", False),
            ("float32+xla", "float32", True), ("mixed_float16+xla", "mixed_float16", True))
EVAL_SHARE = 0.25    # of the budget, kept for evaluation (it needs far less on a GPU: slack)
SPEED_SHARE = 0.45   # a variant that would start after this share of the budget is skipped


def sizes(preset: str) -> dict:
    """Steps per chunk, timed chunks, phase-2 chunk and prompts per split, per preset."""
    P = presets.get(preset)
    return {"chunk": P.pick(smoke=2, cpu=5, gpu=25),        # steps per timed chunk (and warm-up)
            "chunks": P.pick(smoke=2, cpu=2, gpu=4),        # timed chunks after the warm-up one
            "train_chunk": P.pick(smoke=10, cpu=50, gpu=100),
            # prompts per split; FID needs N > 64 (the mini-CLIP's width), and is biased below 640
            "eval_n": P.pick(smoke=96, cpu=1_000, gpu=2_000)}


def device_info() -> dict:
    """What TensorFlow sees: every physical device, and each GPU's name and compute capability."""
    gpus = []
    for d in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(d)  # {} where TF cannot tell
        cc = details.get("compute_capability")
        gpus.append({"device": d.name, "name": details.get("device_name", "unknown"),
                     "compute_capability": ".".join(map(str, cc)) if cc else None})
    build = tf.sysconfig.get_build_info()
    every = [f"{d.device_type}: {d.name}" for d in tf.config.list_physical_devices()]
    return {"physical_devices": every,
            "gpus": gpus, "cpu_cores": os.cpu_count(), "platform": platform.platform(),
            "cuda_build": build.get("cuda_version"), "cudnn_build": build.get("cudnn_version")}


def analytic_flops_fn():
    """``analytic_flops(gan, batch)`` from benchmarks/gpu_estimate.py (a sibling script), or None."""
    try:
        path = Path(__file__).with_name("gpu_estimate.py")
        spec = importlib.util.spec_from_file_location("gpu_estimate", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.analytic_flops
    except Exception:  # noqa: BLE001 — GFLOP/s is a bonus: without it the check still runs
        return None


def box_downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, S, S, 3) -> uint8 (N, S/f, S/f, 3): each output pixel the mean of an f x f block."""
    if factor == 1:
        return images
    n, s, _, c = images.shape
    blocks = images.reshape(n, s // factor, factor, s // factor, factor, c).astype(np.float32)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


def _error(err: BaseException) -> str:
    """One line: the exception's type and the first line of its message (TF's can be pages)."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first[:300]}"


class _Deadline(keras.callbacks.Callback):
    """Counts training steps; stops at ``max_steps`` or once the clock passes ``deadline``."""

    def __init__(self, deadline: float, max_steps: int):
        super().__init__()
        self.deadline, self.max_steps, self.steps, self.stopped_by = deadline, max_steps, 0, None

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps >= self.max_steps:
            self.stopped_by = "the preset's steps"
        elif time.perf_counter() > self.deadline:
            self.stopped_by = "budget"
        if self.stopped_by is not None:
            self.model.stop_training = True


def time_variant(config, jit_compile: bool, ds, chunk: int, chunks: int):
    """Build ``config``'s GAN (XLA or not), train 1 + ``chunks`` chunks of ``chunk`` steps;
    -> (gan, row)."""
    device.set_seed(config.seed, deterministic=False)  # XLA needs op determinism off; all alike
    t0 = time.perf_counter()
    gan = t2i.build_gan(config, jit_compile=jit_compile)
    clock = EpochTimer()
    history = gan.fit(ds, epochs=1 + chunks, steps_per_epoch=chunk, verbose=0, callbacks=[clock])
    ms = [1e3 * t / chunk for t in clock.times[1:]]  # chunk 0 paid for tracing / compiling
    median = float(np.median(ms))
    losses = {k: float(v[-1]) for k, v in history.history.items() if k in ("d_loss", "g_loss")}
    row = {"status": "ok", "ms_per_step": round(median, 2), "steps_per_s": round(1e3 / median, 2),
           "ms_per_step_chunks": [round(m, 2) for m in ms], "steps": chunk * (1 + chunks),
           "warmup_s": round(clock.times[0], 2), "total_s": round(time.perf_counter() - t0, 2),
           "final_losses": {k: round(v, 4) for k, v in losses.items()},
           "losses_finite": all(math.isfinite(v) for v in losses.values())}
    return gan, row


def speed_phase(base, ds, size: dict, deadline: float, flops_fn):
    """Every variant's speed row (ok, skipped or error) and the GANs that trained."""
    rows, gans = [], {}
    for name, precision, jit in VARIANTS:
        row = {"variant": name, "precision": precision, "jit_compile": jit}
        config = dataclasses.replace(base, precision=precision)
        try:
            device.check_precision(precision)  # no float16 units here: skip, with its reason
        except ValueError as err:
            rows.append({**row, "status": "skipped", "reason": str(err)})
            continue
        if time.perf_counter() > deadline:
            rows.append({**row, "status": "skipped", "reason": "out of time: the speed phase may "
                         f"use {SPEED_SHARE:.0%} of --budget-s"})
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                gan, timing = time_variant(config, jit, ds, size["chunk"], size["chunks"])
                gans[name] = gan
                row.update(timing)
            except Exception as err:  # noqa: BLE001 — e.g. XLA missing: recorded, never a crash
                row.update(status="error", error=_error(err))
        said = sorted({str(w.message).splitlines()[0][:200] for w in caught
                       if not issubclass(w.category, DeprecationWarning)})
        rows.append({**row, **({"warnings": said} if said else {})})
    flops = _count_flops(flops_fn, next(iter(gans.values()), None), base.batch_size)
    base_ms = next((r["ms_per_step"] for r in rows
                    if r["variant"] == "float32" and r["status"] == "ok"), None)
    for r in (r for r in rows if r["status"] == "ok"):
        if base_ms:
            r["speedup_vs_float32"] = round(base_ms / r["ms_per_step"], 2)
        if flops:  # the same layers in every variant, so the same FLOPs
            r["gflop_per_s"] = round(flops / (r["ms_per_step"] / 1e3) / 1e9, 1)
    return rows, gans, flops


def _count_flops(flops_fn, gan, batch_size: int):
    """Executed FLOPs of one training step (gpu_estimate's analytic count), or None."""
    if flops_fn is None or gan is None:  # the script is missing, or no variant trained
        return None
    try:
        return float(flops_fn(gan, batch_size)["executed"])
    except Exception:  # noqa: BLE001 — a bonus figure
        return None


def train_phase(gan, deadline: float, max_steps: int, chunk: int, ds) -> dict:
    """Train ``gan`` on until ``deadline`` or ``max_steps``; -> steps, seconds, final losses."""
    stop = _Deadline(deadline, max_steps)
    t0 = time.perf_counter()
    history = gan.fit(ds, epochs=max(1, math.ceil(max_steps / chunk)), steps_per_epoch=chunk,
                      verbose=0, callbacks=[stop])
    seconds = time.perf_counter() - t0
    losses = {k: float(v[-1]) for k, v in history.history.items() if k in ("d_loss", "g_loss")}
    return {"steps": stop.steps, "seconds": round(seconds, 2),
            "steps_per_s": round(stop.steps / seconds, 2),
            "stopped_by": stop.stopped_by,
            "final_losses": {k: round(v, 4) for k, v in losses.items()},
            "losses_finite": all(math.isfinite(v) for v in losses.values())}


def evaluate(model, clip, n: int, seed: int = 0) -> dict:
    """Geometry check on test prompts and held-out pairs; FID/KID of test-prompt images.

    FID and KID compare mini-CLIP features (N, 64) of the model's images with those of
    renders of *other* test prompts; the same two figures for renders of the *same*
    prompts are the floor a perfect model would reach at this N.
    """
    size = model.image_size
    factor = size // clip.config.image_size  # 2 at 64x64: the shipped mini-CLIP reads 32x32
    out = {"n": n}
    for split in ("test", "compositional"):
        renders, captions, _ = shapes.sample(n, split, seed=seed + 7, size=size)
        wanted = [text.parse(c) for c in captions]  # what each caption says
        fake = model.generate(captions, seed=seed)   # uint8 (n, S, S, 3), the EMA generator
        geo = geometry.fidelity(fake, wanted)
        out.update({f"fidelity_{split}": geo["fidelity"], f"strict_{split}": geo["strict"],
                    f"off_palette_{split}": geo["off_palette"], f"shape_fit_{split}": geo["shape_fit"]})
        if split == "test":
            test_fake, test_real = fake, renders
    reference = shapes.sample(n, "test", seed=seed + 8, size=size)[0]  # other test prompts
    ref, fake_f, real_f = (clip.encode_images(box_downsample(x, factor))
                           for x in (reference, test_fake, test_real))
    out["fid"] = metrics.fid(fake_f, ref)
    out["kid_x1000"] = 1_000 * metrics.kid(fake_f, ref, seed=seed)[0]
    out["fid_real_floor"] = metrics.fid(real_f, ref)
    out["kid_real_floor_x1000"] = 1_000 * metrics.kid(real_f, ref, seed=seed)[0]
    out = {k: v if k == "n" else round(float(v), 4) for k, v in out.items()}
    out["feature_space"] = (f"the shipped mini-CLIP's image encoder (64-D, reads "
                            f"{clip.config.image_size}x{clip.config.image_size})"
                            + (f"; {size}x{size} images averaged over {factor}x{factor} blocks "
                               "(box filter) first, renders and samples alike" if factor > 1 else ""))
    return out


def choose(rows, wanted: str):
    """The variant phase 2 trains, and why: ``wanted``, or the fastest one with finite losses."""
    ok = [r for r in rows if r["status"] == "ok" and r["losses_finite"]]
    if wanted != "fastest":
        if any(r["variant"] == wanted for r in ok):
            return wanted, "asked for (--train-variant)"
        raise RuntimeError(f"--train-variant {wanted} did not train in the speed phase")
    if not ok:
        raise RuntimeError("no variant trained with finite losses in the speed phase")
    best = min(ok, key=lambda r: r["ms_per_step"])
    return best["variant"], "the fastest variant with finite losses (most steps in the budget)"


def summary(report: dict) -> str:
    """A few lines for the terminal; the JSON holds everything."""
    gpus = report["device"]["gpus"]
    where = ", ".join(f"{g['name']} (cc {g['compute_capability']})" for g in gpus) or "no GPU (CPU)"
    lines = [f"gpu_check, {report['preset']} preset, on {where}: {report['wall_s']:.0f} s",
             f"{'variant':<20}{'ms/step':>9}{'steps/s':>9}{'GFLOP/s':>9}{'vs fp32':>9}"]
    for r in report["speed"]["variants"]:
        if r["status"] == "ok":
            lines.append(f"{r['variant']:<20}{r['ms_per_step']:>9.1f}{r['steps_per_s']:>9.1f}"
                         f"{r.get('gflop_per_s', float('nan')):>9.0f}"
                         f"{r.get('speedup_vs_float32', float('nan')):>9.2f}")
        else:
            lines.append(f"{r['variant']:<20}{r['status']}: {r.get('reason') or r.get('error')}"[:150])
    tr, ev = report.get("training", {}), report.get("evaluation", {})
    if "steps" in tr:
        lines.append(f"trained {tr['variant']}: {tr['total_steps']} steps ({tr['steps']} after the "
                     f"speed phase, {tr['seconds']:.0f} s, {tr['steps_per_s']:.1f} steps/s)")
    if "fid" in ev:
        lines.append(f"geometry fidelity: test {ev['fidelity_test']:.3f}, held-out pairs "
                     f"{ev['fidelity_compositional']:.3f}; off-palette {ev['off_palette_test']:.1%}")
        lines.append(f"FID {ev['fid']:.4f} (renders: {ev['fid_real_floor']:.4f}), KID x1000 "
                     f"{ev['kid_x1000']:.3f} (renders: {ev['kid_real_floor_x1000']:.3f}), n={ev['n']}")
    for part in ("training", "evaluation"):
        if "error" in report.get(part, {}):
            lines.append(f"{part} failed: {report[part]['error']}")
    return "\n".join(lines)


def run(args) -> dict:
    """Both phases; -> the report (also when a phase fails: its error is in the report)."""
    t_start = time.perf_counter()
    budget, size = float(args.budget_s), sizes(args.preset)
    overrides = {"n_train": args.n_train} if args.n_train else {}
    base = t2i.T2IConfig.for_preset(args.preset, model="gan-labels", **overrides)
    report = {"check": "benchmarks/gpu_check.py", "preset": args.preset, "budget_s": budget,
              "device": device_info(),
              "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                           "dalle_edu": dalle_edu.__version__, "python": platform.python_version()},
              "config": {k: getattr(base, k) for k in ("image_size", "width", "latent_dim", "batch_size",
                                                        "n_train", "steps", "lr", "loss", "ema")},
              "notes": []}
    notes = report["notes"]
    if not report["device"]["gpus"]:
        notes.append("no GPU visible: every figure is this CPU's")
    if args.preset == "smoke":
        notes.append("smoke preset: checks that the code runs; its figures mean nothing")

    # setup: the frozen attribute encoder and one dataset, shared by every variant
    device.set_seed(base.seed, deterministic=False)
    t = time.perf_counter()
    encoder = t2i.pretrain_text_encoder(t2i.build_text_encoder(base.embed_dim), base.encoder_steps,
                                        seed=base.seed)
    t_enc = time.perf_counter() - t
    ds = t2i.make_dataset(base, encoder).repeat()  # (images (B, S, S, 3), (cond, labels, said))
    report["setup_s"] = {"text_encoder": round(t_enc, 2),
                         "data": round(time.perf_counter() - t - t_enc, 2)}

    # phase 1: speed
    flops_fn = analytic_flops_fn()
    rows, gans, flops = speed_phase(base, ds, size, t_start + SPEED_SHARE * budget, flops_fn)
    report["speed"] = {"warmup_steps": size["chunk"], "timed_steps": size["chunk"] * size["chunks"],
                       "gflop_per_step": round(flops / 1e9, 3) if flops else None, "variants": rows}
    notes.append(f"speed: median ms/step over {size['chunks']} chunks of {size['chunk']} steps of "
                 "GAN.fit (data pipeline included), after one warm-up chunk that pays for tracing, "
                 "XLA compilation and autotuning (warmup_s)")
    notes.append("op determinism off in every variant: XLA needs it off, and the variants then "
                 "compare on equal footing")
    notes.append("GFLOP/s: executed FLOPs per step by benchmarks/gpu_estimate.py's analytic count "
                 "(convolutions and Dense layers, 2 per multiply-add) / the measured step time"
                 if flops else "GFLOP/s left out: the FLOP count (benchmarks/gpu_estimate.py) failed")

    # phase 2: quality
    try:
        name, why = choose(rows, args.train_variant)
        row = next(r for r in rows if r["variant"] == name)
        gan = gans[name]
        trained = train_phase(gan, t_start + (1 - EVAL_SHARE) * budget,
                              max(1, base.steps - row["steps"]), size["train_chunk"], ds)
        report["training"] = {"variant": name, "why": why, **trained,
                              "total_steps": row["steps"] + trained["steps"]}
    except Exception as err:  # noqa: BLE001 — the speed figures are still worth writing
        report["training"] = {"error": _error(err)}
    if "error" not in report["training"]:
        config = dataclasses.replace(base, precision=row["precision"])
        model = t2i.TextToImage(config, encoder, gan.ema_generator or gan.generator)
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                report["evaluation"] = {"generator": "EMA" if gan.ema_generator else "G",
                                        **evaluate(model, api.load_clip(), size["eval_n"], base.seed)}
                report["evaluation"]["seconds"] = round(time.perf_counter() - t, 2)
            except Exception as err:  # noqa: BLE001
                report["evaluation"] = {"error": _error(err)}
        notes += sorted({str(w.message) for w in caught if "FID" in str(w.message)})
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    return report


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="gpu", choices=presets.NAMES)
    ap.add_argument("--out", default="gpu_check.json", help="where the JSON report goes")
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="seconds for everything; 25%% of it is kept for evaluation")
    ap.add_argument("--train-variant", default="fastest", choices=["fastest", *(v[0] for v in VARIANTS)],
                    help="the variant phase 2 trains (default: the fastest with finite losses)")
    ap.add_argument("--n-train", type=int, default=None,
                    help="training images (default: the preset's; 100,000 on gpu, ~1.2 GB of RAM)")
    args = ap.parse_args(argv)
    was_deterministic = device.op_determinism_enabled()
    try:
        report = run(args)
    finally:  # leave the process as found (a test runs this in pytest's process)
        if was_deterministic:
            tf.config.experimental.enable_op_determinism()
        else:
            device.disable_op_determinism()
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(summary(report))
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
