"""Every Chapter 10 measure for the shipped models, real renders and broken generators.

One table a measure must rank correctly (real renders first, every broken generator
below them), FID and KID in two learned feature spaces (the mini-CLIP's image encoder,
64-D, and the probe's last shared layer, 128-D), and DALL·E-style reranking (k
candidates per prompt, the mini-CLIP keeps one) measured by the geometry check. Writes
benchmarks/results/t2i_measures.json and prints the markdown tables of book/benchmarks.md.

    .venv/bin/python benchmarks/t2i_measures.py            # ~4 min on 2 shared cores
    .venv/bin/python benchmarks/t2i_measures.py -n 300     # quicker, noisier
"""

import argparse
import json
import time
import warnings
from pathlib import Path

from dalle_edu import api, measures
from dalle_edu.data import broken

OUT = Path(__file__).parent / "results" / "t2i_measures.json"
COLUMNS = ("geometry_test", "geometry_compositional", "strict_test", "strict_compositional",
           "probe_test", "probe_compositional", "r_precision", "clip_score", "fid_x100",
           "kid_x1000", "fid_probe_x100", "kid_probe_x1000", "precision", "recall",
           "off_palette", "shape_fit", "diversity_ratio")


def table(rows: dict) -> str:
    head = "| generator | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (len(COLUMNS) + 1)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[c]:.3g}" for c in COLUMNS) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1_000)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    clip, probe = api.load_clip(), api.load_probe(32)
    ref = measures.reference_features(clip, args.n, probe=probe)
    gens = {"real renders": measures.real()}
    for name in api.MODELS:
        gens[name] = measures.from_model(api.load_model(name))
    for name in broken.BROKEN:
        gens[name] = measures.from_broken(name)
    rows = {}
    # FID's small-N bias warning: N is the same for every row, so the rows compare; the
    # probe's D = 128 makes it fire at n = 1,000 (< 10·D). Recorded, printed once, kept.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        for name, gen in gens.items():
            t = time.perf_counter()
            r = measures.measure(gen, clip, probe, n=args.n, reference=ref)
            r["fid_x100"] = round(100 * r.pop("fid"), 3)
            r["fid_probe_x100"] = round(100 * r.pop("fid_probe"), 3)
            rows[name] = {**r, "seconds": round(time.perf_counter() - t, 1)}
            print(name, json.dumps(rows[name]), flush=True)
    fid_warnings = sorted({str(w.message) for w in caught if "FID" in str(w.message)})
    for message in fid_warnings:
        print("warning:", message, flush=True)
    rerank = {name: measures.rerank_curve(api.load_model(name), clip, ks=args.ks, n=500)
              for name in api.MODELS}
    for name, curve in rerank.items():
        print(name, json.dumps(curve), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"n": args.n, "fid_warnings": fid_warnings, "measures": rows,
                               "rerank": rerank}, indent=1) + "\n")
    print(table(rows))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
