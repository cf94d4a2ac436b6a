"""Temperature and top-k of the token model: fidelity against variety (Chapter 12, Exercise 1).

    python benchmarks/dalle_temperature.py            # the shipped "dalle", 200 prompts a split
    python benchmarks/dalle_temperature.py -n 500

For each temperature T in (0.5, 1, 2) and top-k in (all codes, 8), the shipped token
model draws one image for each of n test prompts and n held-out-pair prompts; the
geometry check reads them (pixels, no learning; share with its 95 % interval), and
``measures.diversity_ratio`` measures the variety of what a prompt leaves free
(renders = 1). Writes ``benchmarks/results/dalle_temperature.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from dalle_edu import api, geometry, measures, metrics  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402

OUT = Path(__file__).parent / "results" / "dalle_temperature.json"
TEMPERATURES = (0.5, 1.0, 2.0)
TOP_K = (None, 8)


def save(n, rows):
    OUT.write_text(json.dumps({"n": n, "model": "dalle (shipped)", "rows": rows}, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=200, help="prompts per split")
    args = parser.parse_args()
    model = api.load_model("dalle")
    prompts = {split: shapes.sample(args.n, split, seed=11)[1:]
               for split in ("test", "compositional")}
    rows = []
    for temperature in TEMPERATURES:
        for top_k in TOP_K:
            t0 = time.perf_counter()
            draw = measures.from_model(model, temperature=temperature, top_k=top_k)
            row = {"temperature": temperature, "top_k": top_k}
            for split, (captions, attrs) in prompts.items():
                pictures = draw(captions, attrs, 0)
                row[split] = round(geometry.fidelity(pictures, attrs)["fidelity"], 4)
            row["diversity"] = round(measures.diversity_ratio(draw), 3)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            save(args.n, rows)  # after every row: kept if interrupted
            print(f"T={temperature} top_k={top_k}: "
                  f"test {metrics.share_text(row['test'], args.n)}, "
                  f"held-out {metrics.share_text(row['compositional'], args.n)}, "
                  f"diversity {row['diversity']:.3f} ({row['seconds']} s)", flush=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
