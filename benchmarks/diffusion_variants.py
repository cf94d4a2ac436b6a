"""Chapter 13's latent run against one change at a time (Exercises 2 and 3).

    python benchmarks/diffusion_variants.py                  # cpu preset, 1,500 steps
    python benchmarks/diffusion_variants.py --steps 20 -n 16 # a quick check that it runs

Trains the chapter's own run, ``DiffusionConfig.for_preset("cpu", steps=...)`` on the
shipped tokenizer's latents with the shipped mini-CLIP's text tower, and the same run
with one change: ``schedule="linear"`` (Exercise 2) and ``p_uncond=0``, the caption never
dropped (Exercise 3). Each is judged by the geometry check (pixels, no learning) on n
test prompts and n held-out-pair prompts (seed 11), one picture each, at guidance 1 and
3. Writes ``benchmarks/results/diffusion_variants.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from dalle_edu import api, geometry, metrics, t2i  # noqa: E402
from dalle_edu.clip import MiniCLIP  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402
from dalle_edu.image_tokenizer import VQVAE  # noqa: E402

OUT = Path(__file__).parent / "results" / "diffusion_variants.json"
RUNS = Path("runs") / "diffusion_variants"
VARIANTS = {"chapter's run (cosine, p_uncond 0.1)": {}, "linear schedule": {"schedule": "linear"},
            "caption never dropped (p_uncond 0)": {"p_uncond": 0.0}}


def save(n, rows):
    OUT.write_text(json.dumps({"n": n, "rows": rows}, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1_500)
    parser.add_argument("-n", type=int, default=300, help="prompts per split")
    args = parser.parse_args()
    clip = MiniCLIP.load(api.DEFAULT_CLIP, text_only=True)
    tokenizer = VQVAE.load(api.WEIGHTS_DIR / "dalle_cpu" / "tokenizer")
    prompts = {split: shapes.sample(args.n, split, seed=11)[1:]
               for split in ("test", "compositional")}
    rows = []
    for i, (name, change) in enumerate(VARIANTS.items()):
        config = t2i.DiffusionConfig.for_preset("cpu", steps=args.steps, **change)
        out = RUNS / f"variant{i}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        model = t2i.train_diffusion(config, out, verbose=0, clip=clip, tokenizer=tokenizer)
        row = {"run": name, **change, "steps": args.steps,
               "train_s": round(time.perf_counter() - t0)}
        for w in (1.0, 3.0):
            for split, (captions, attrs) in prompts.items():
                pictures = model.generate(captions, seed=0, guidance=w)
                row[f"{split}_w{w:g}"] = round(geometry.fidelity(pictures, attrs)["fidelity"], 4)
        rows.append(row)
        save(args.n, rows)  # after every row: kept if interrupted
        print(f"{name}: " + ", ".join(
            f"{k} {metrics.share_text(v, args.n, with_n=False)}" for k, v in row.items()
            if k.startswith(("test_", "compositional_"))) + f" ({row['train_s']} s)", flush=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
