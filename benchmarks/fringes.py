"""Where a GAN's off-palette pixels are: on the shape's edge or inside, dim or bright.

    python benchmarks/fringes.py                                  # the shipped "gan-labels"
    python benchmarks/fringes.py --weights runs/ablation/final_conv_d_stem

Draws ``-n`` test prompts, finds the lit pixels far from the prompt's colour
(``geometry.color_masks``, the geometry check's own rule), and splits them by place (an
edge pixel has an unlit 4-neighbour) and by brightness (the pixel's largest channel).
Renders of the same captions are measured alike. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dalle_edu import api, geometry  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402

BANDS = ((0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01))  # brightness of a lit pixel


def split(images, colors) -> dict:
    """Off-palette share of lit pixels, the share of those on an edge, and per brightness band."""
    far, lit = geometry.color_masks(images, colors)
    peak = geometry._as_unit(images).max(-1)
    pad = np.pad(lit, ((0, 0), (1, 1), (1, 1)))
    interior = pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1] & pad[:, 1:-1, :-2] & pad[:, 1:-1, 2:]
    edge = lit & ~interior
    out = {"off_palette": round(float(far.sum() / max(lit.sum(), 1)), 4),
           "edge_share_of_lit": round(float(edge.sum() / max(lit.sum(), 1)), 4),
           "edge_share_of_off_palette": round(float((far & edge).sum() / max(far.sum(), 1)), 4),
           "off_palette_by_brightness": {}}
    for lo, hi in BANDS:
        band = lit & (peak >= lo) & (peak < hi)
        out["off_palette_by_brightness"][f"{lo:.1f}-{min(hi, 1.0):.1f}"] = {
            "lit": int(band.sum()), "off_palette": round(float((far & band).sum() / max(band.sum(), 1)), 4)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="a run folder; default: the shipped model")
    ap.add_argument("-n", type=int, default=400)
    args = ap.parse_args()
    model = api.load_model("gan-labels", weights=args.weights)
    renders, captions, attrs = shapes.sample(args.n, "test", seed=7)
    colors = [a["color"] for a in attrs]
    print(json.dumps({"weights": args.weights or "shipped", "n": args.n,
                      "generated": split(model.generate(captions, seed=0), colors),
                      "renders": split(renders, colors)}, indent=1))


if __name__ == "__main__":
    main()
