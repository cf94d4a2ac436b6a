"""The fidelity–diversity knob of a GAN: the truncation trick, measured as a curve.

    python benchmarks/truncation_curve.py                   # both shipped GANs, 500 prompts per split
    python benchmarks/truncation_curve.py --model gan -n 200

For each truncation t (None: the full normal; else every |z_i| > t redrawn, Brock et al.
2019; ``TextToImage.generate(truncation=t)``): the geometry check on test prompts and
held-out pairs (pixels, no learning), the strict share, off-palette lit pixels, and two
kinds of variety — within-prompt diversity of prompts that leave size and place free
(``measures.diversity_ratio``, renders = 1) and the spread of one *complete* prompt's
samples (mean pairwise pixel distance of 64 draws of one full caption, where only the
render jitter may vary). ``"gan-labels"`` is drawn with its two-stage sampler off
(``sample_unsaid=False``), so the variety measured is its generator's own.
Writes ``benchmarks/results/truncation_curve.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dalle_edu import api, geometry, measures, text  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402

OUT = Path(__file__).parent / "results" / "truncation_curve.json"
TRUNCATIONS = (None, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3)
FULL = "a big yellow triangle in the center"


def row(model, t, n, labels: bool) -> dict:
    kw = {"truncation": t, **({"sample_unsaid": False} if labels else {})}
    out = {"truncation": t}
    for split in ("test", "compositional"):
        _, captions, _ = shapes.sample(n, split, seed=7)
        wanted = [text.parse(c) for c in captions]
        g = geometry.fidelity(model.generate(captions, seed=0, **kw), wanted)
        out[split] = {k: round(g[k], 3) for k in ("fidelity", "strict", "off_palette", "shape_fit")}
    out["diversity_ratio"] = round(measures.diversity_ratio(measures.from_model(model, **kw)), 3)
    out["spread_full_prompt"] = round(measures.mean_pairwise_distance(
        model.generate([FULL], seed=0, n_per_prompt=64, **kw)), 4)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", nargs="+", default=["gan-labels", "gan"])
    ap.add_argument("-n", type=int, default=500)
    args = ap.parse_args(argv)
    renders = shapes.render([text.parse(FULL)] * 64, seed=0)
    results = {"n": args.n, "full_prompt": FULL,
               "render_spread_full_prompt": round(measures.mean_pairwise_distance(renders), 4),
               "rows": {}}
    if OUT.is_file():  # keep the other models' rows (measured at the same n)
        saved = json.loads(OUT.read_text())
        if saved.get("n") == args.n:
            results["rows"] = {k: v for k, v in saved["rows"].items() if k not in args.model}
    for name in args.model:
        model = api.load_model(name)
        results["rows"][name] = [row(model, t, args.n, name == "gan-labels") for t in TRUNCATIONS]
        print(f"{name}: truncation | geometry test / held-out | strict test | off-palette test | "
              "diversity ratio | spread of one full prompt")
        for r in results["rows"][name]:
            print(f"  {str(r['truncation']):>5} | {r['test']['fidelity']:.3f} / "
                  f"{r['compositional']['fidelity']:.3f} | {r['test']['strict']:.3f} | "
                  f"{r['test']['off_palette']:.3f} | {r['diversity_ratio']:.3f} | "
                  f"{r['spread_full_prompt']:.4f}", flush=True)
    print(f"renders of the full prompt: spread {results['render_spread_full_prompt']}")
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
