"""The label-free GAN without one of its text terms (Chapter 7, Exercises 1 and 3).

    python benchmarks/t2i_text_terms.py                    # cpu preset, 2,000 steps, seeds 0 and 1
    python benchmarks/t2i_text_terms.py --steps 500 --seeds 0

Trains Chapter 7's run, ``T2IConfig.for_preset("cpu", model="gan", steps=...)`` with the
shipped mini-CLIP, three ways for each seed: the recipe; ``contrastive_weight=0`` (D has
no image-embedding head, Exercise 1); ``matching_aware=False`` (no real-image, wrong-
caption term, Exercise 3). Each EMA generator is judged as the chapter does: one picture
for each of n test prompts and n held-out-pair prompts (seed 7), read by the geometry
check (pixels) and by the shipped probe. Writes ``benchmarks/results/t2i_text_terms.json``
and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from dalle_edu import api, geometry, metrics, t2i, text  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402
from dalle_edu.probe import caption_fidelity  # noqa: E402

OUT = Path(__file__).parent / "results" / "t2i_text_terms.json"
RUNS = Path("runs") / "t2i_text_terms"
SETTINGS = {"recipe": {}, "no contrastive term": {"contrastive_weight": 0.0},
            "no matching-aware term": {"matching_aware": False}}


def judge(model, probe, n) -> dict:
    row = {}
    for split in ("test", "compositional"):
        _, captions, _ = shapes.sample(n, split, seed=7, size=model.image_size)
        wanted = [text.parse(c) for c in captions]
        pictures = model.generate(captions, seed=0)
        row[f"geometry_{split}"] = round(geometry.fidelity(pictures, wanted)["fidelity"], 4)
        row[f"probe_{split}"] = round(caption_fidelity(probe, pictures, wanted)["fidelity"], 4)
    return row


def save(n, rows):
    OUT.write_text(json.dumps({"n": n, "rows": rows}, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("-n", type=int, default=1_000, help="prompts per split")
    args = parser.parse_args()
    clip, probe = api.load_clip(), api.load_probe(32)
    rows = []
    for seed in args.seeds:
        for i, (name, change) in enumerate(SETTINGS.items()):
            config = t2i.T2IConfig.for_preset("cpu", model="gan", steps=args.steps,
                                              seed=seed, **change)
            out = RUNS / f"setting{i}_seed{seed}"
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            model = t2i.train(config, out, clip=clip, verbose=0)
            row = {"setting": name, **change, "seed": seed, "steps": args.steps,
                   "train_s": round(time.perf_counter() - t0), **judge(model, probe, args.n)}
            rows.append(row)
            save(args.n, rows)  # after every row: kept if interrupted
            print(f"{name}, seed {seed}: geometry test "
                  f"{metrics.share_text(row['geometry_test'], args.n)}, held-out "
                  f"{metrics.share_text(row['geometry_compositional'], args.n)}; probe "
                  f"{row['probe_test']:.3f} / {row['probe_compositional']:.3f} "
                  f"({row['train_s']} s)", flush=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
