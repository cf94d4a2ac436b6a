"""The token model without its text loss (Chapter 12, Exercise 3).

    python benchmarks/dalle_text_weight.py                  # cpu preset, text_weight 0
    python benchmarks/dalle_text_weight.py --weights 0 0.125

Trains Chapter 12's run, ``DalleConfig.for_preset("cpu", text_weight=w)``: the tokenizer
(``config.vq_config()``, as the chapter trains it), then the transformer; 0.125 (1/8) is
the chapter's own recipe. Each model draws one picture for each of n test prompts and n
held-out-pair prompts (seed 7, as the chapter's table), read by the geometry check.
Writes ``benchmarks/results/dalle_text_weight.json`` after every run and prints a line each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from dalle_edu import geometry, image_tokenizer, metrics, t2i  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402

OUT = Path(__file__).parent / "results" / "dalle_text_weight.json"
RUNS = Path("runs") / "dalle_text_weight"


def save(n, rows):
    OUT.write_text(json.dumps({"n": n, "rows": rows}, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0])
    parser.add_argument("-n", type=int, default=1_000, help="prompts per split")
    args = parser.parse_args()
    base = t2i.DalleConfig.for_preset("cpu")
    tok = image_tokenizer.train_tokenizer(base.vq_config(), verbose=0)
    side = base.vq_config().image_size
    rows = []
    for w in args.weights:
        config = t2i.DalleConfig.for_preset("cpu", text_weight=w)
        out = RUNS / f"text_weight_{w:g}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        model = t2i.train_dalle(config, out, tokenizer=tok, verbose=0)
        row = {"text_weight": w, "steps": config.steps, "train_s": round(time.perf_counter() - t0)}
        for split in ("test", "compositional"):
            _, captions, attrs = shapes.sample(args.n, split, seed=7, size=side)
            g = geometry.fidelity(model.generate(captions, seed=0), attrs)
            row[split], row[f"{split}_strict"] = round(g["fidelity"], 4), round(g["strict"], 4)
        rows.append(row)
        save(args.n, rows)
        print(f"text_weight {w:g}: test {metrics.share_text(row['test'], args.n)}, held-out "
              f"{metrics.share_text(row['compositional'], args.n)} ({row['train_s']} s)", flush=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
