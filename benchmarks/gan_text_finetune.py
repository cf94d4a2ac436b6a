"""The label-free GAN's text tower: frozen (model "gan") against fine-tuned with D's loss.

    python benchmarks/gan_text_finetune.py                 # cpu preset, 3,000 steps
    python benchmarks/gan_text_finetune.py --steps 8000    # the shipped run's length
    python benchmarks/gan_text_finetune.py --preset smoke --steps 30 --every 30 --n 32

Trains ``T2IConfig.for_preset(preset, model="gan", text_finetune=True)`` on the shipped
mini-CLIP and evaluates the EMA generator every ``--every`` steps with the geometry
check on ``--n`` prompts per split, the protocol of the frozen run's trajectory in
``benchmarks/results/gan_cpu_training.json`` (300 prompts per split, seed 11), so the
two are read at the same steps. It also reports how far the fine-tuned tower moved:
the cosine between each caption's embedding before and after, and the mini-CLIP's
R-precision with the fine-tuned tower (does it stay a text-image judge?).
Writes ``benchmarks/results/gan_text_finetune.json`` (cpu preset only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402

from dalle_edu import api, geometry, metrics, text  # noqa: E402
from dalle_edu import clip as clip_module  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402
from dalle_edu.t2i import T2IConfig, train  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def geometry_row(model, n: int, seed: int = 11) -> dict:
    """The geometry check of ``model`` on ``n`` prompts of each split (as the frozen log)."""
    row = {}
    for split in ("test", "compositional"):
        _, captions, _ = shapes.sample(n, split, seed=seed)
        wanted = [text.parse(c) for c in captions]
        g = geometry.fidelity(model.generate(captions, seed=seed), wanted)
        row[split] = round(g["fidelity"], 3)
        row[f"{split}_offpal"] = round(g["off_palette"], 3)
        row[f"{split}_per"] = {k: round(v, 2) for k, v in g["per_attribute"].items()}
    return row


class GeometryLog(keras.callbacks.Callback):
    def __init__(self, every: int, n: int):
        super().__init__()
        self.every, self.n, self.rows, self.t0 = every, n, [], time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step.numpy())
        if step % self.every == 0:
            row = {"step": step, "s": round(time.perf_counter() - self.t0),
                   **geometry_row(self.model.sampler, self.n)}
            self.rows.append(row)
            print(json.dumps({k: row[k] for k in ("step", "s", "test", "compositional")}),
                  flush=True)


def tower_drift(clip, tuned, n: int = 1_000) -> dict:
    """How far fine-tuning moved the text tower, and whether it still reads pictures."""
    images, captions, _ = shapes.sample(n, "test", seed=5)
    ids = text.encode(captions)
    before = clip_module.embed_ids(clip.text_encoder, ids)
    after = clip_module.embed_ids(tuned, ids)
    feats = clip.encode_images(images)
    groups = [tuple(sorted(text.parse(c).items())) for c in captions]
    return {"cosine_before_after": round(float((before * after).sum(1).mean()), 4),
            "r_precision_frozen": round(metrics.r_precision(feats, before, groups=groups), 4),
            "r_precision_finetuned": round(metrics.r_precision(feats, after, groups=groups), 4)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--steps", type=int, default=3_000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--out", default=None, help="model folder (default: a temporary one)")
    args = p.parse_args(argv)

    config = T2IConfig.for_preset(args.preset, model="gan", text_finetune=True, steps=args.steps)
    if args.preset == "smoke":  # smoke configs use a smaller mini-CLIP: train one (seconds)
        clip = clip_module.train_clip(clip_module.ClipConfig.from_dict(config.clip), verbose=0)
    else:
        clip = api.load_clip()  # the shipped mini-CLIP: the frozen run's tower at step 0
    log = GeometryLog(args.every, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        t0 = time.perf_counter()
        model = train(config, out, clip=clip, callbacks=[log], verbose=0)
        seconds = time.perf_counter() - t0
        drift = tower_drift(clip, model.encoder)
    frozen = json.loads((RESULTS / "gan_cpu_training.json").read_text())
    frozen_rows = {r["step"]: r for r in frozen["rows"]}
    print(f"\n{'step':>6} {'frozen test':>12} {'tuned test':>11} "
          f"{'frozen held-out':>16} {'tuned held-out':>15}")
    for r in log.rows:
        f = frozen_rows.get(r["step"], {})
        print(f"{r['step']:>6} {f.get('test', float('nan')):>12.3f} {r['test']:>11.3f} "
              f"{f.get('compositional', float('nan')):>16.3f} {r['compositional']:>15.3f}")
    print(f"training {seconds:.0f} s wall; tower: {drift}")
    if args.preset == "cpu":
        result = {"about": "python benchmarks/gan_text_finetune.py --steps "
                           f"{args.steps}: model 'gan' with text_finetune=True (the shipped "
                           "mini-CLIP's text tower updated by D's optimizer), geometry check "
                           f"every {args.every} steps on {args.n} prompts per split (seed 11, "
                           "EMA generator), as gan_cpu_training.json; 's' is wall seconds "
                           "since training began, evaluation included, on a shared machine.",
                  "config": config.to_dict(), "seconds": round(seconds), "tower": drift,
                  "rows": log.rows}
        (RESULTS / "gan_text_finetune.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
