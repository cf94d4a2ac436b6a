"""The token model "dalle" of a preset, trained and judged end to end — Chapter 12's targets.

    python benchmarks/dalle_pipeline.py --preset cpu --out runs/dalle --save   # ~13 min on 2 cores
    python benchmarks/dalle_pipeline.py --weights dalle_edu/weights/dalle_cpu  # judge a trained one
    python benchmarks/dalle_pipeline.py --preset smoke --out /tmp/d --n-eval 32

1. ``dalle_edu.t2i.train_dalle``: stage 1 (the VQ-VAE tokenizer), stage 2 (the
   transformer), each timed (or ``--weights``: a trained model, no training).
2. The tokenizer alone: reconstructions of ``--n-eval`` test renders read by the
   geometry check, pixel error, codebook use.
3. Samples for ``--n-eval`` test prompts and as many held-out-pair prompts, read by the
   geometry check (pixels, no learning) at the config's sampling settings and a few
   others (temperature, top-k).
4. Sampling speed: 8 images, warm, with the KV cache and compiled ``decode`` (what
   ``generate`` does) against the full recompute without cache.

Prints every figure; ``--save`` writes ``benchmarks/results/dalle_pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dalle_edu import geometry, images, t2i, text  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "dalle_pipeline.json"
SAMPLING = ((1.0, None), (1.0, 32), (1.0, 8), (0.7, None), (1.0, 1))  # (temperature, top_k)


def judge(pictures, captions) -> dict:
    g = geometry.fidelity(pictures, [text.parse(c) for c in captions])
    return {"fidelity": round(g["fidelity"], 3), "strict": round(g["strict"], 3),
            "off_palette": round(g["off_palette"], 4), "shape_fit": round(g["shape_fit"], 3),
            "per": {k: round(v, 3) for k, v in g["per_attribute"].items()}}


def per_image_ms(fn, n_images, repeats=3) -> float:
    fn()  # warm: traces the compiled decode
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return round(1e3 * (time.perf_counter() - t) / repeats / n_images, 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--out", default="runs/dalle")
    p.add_argument("--weights", default=None, help="judge this trained model instead of training")
    p.add_argument("--n-eval", type=int, default=500)
    p.add_argument("--save", action="store_true")
    args = p.parse_args(argv)
    out = {"args": vars(args)}

    if args.weights:
        model = t2i.Dalle.load(args.weights)
    else:
        config = t2i.DalleConfig.for_preset(args.preset)
        t0 = time.perf_counter()
        tok = t2i.dalle_training.train_tokenizer(config.vq_config(), verbose=2)
        out["tokenizer_s"] = round(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model = t2i.train_dalle(config, args.out, verbose=2, tokenizer=tok)
        out["transformer_s"] = round(time.perf_counter() - t0)  # includes encoding the data
        out["total_min"] = round((out["tokenizer_s"] + out["transformer_s"]) / 60, 1)
        print("trained:", {k: out[k] for k in ("tokenizer_s", "transformer_s", "total_min")}, flush=True)
    out["config"] = model.config.to_dict()
    out["parameters"] = int(model.transformer.count_params())

    renders, captions, _ = shapes.sample(args.n_eval, "test", seed=11, size=model.image_size)
    rec = model.tokenizer.reconstruct(renders)
    out["reconstruction"] = {**judge(rec, captions),
                             "mse": round(float(np.mean((images.to_float(rec) - images.to_float(renders)) ** 2)), 4),
                             **{k: round(float(v), 1) for k, v in model.tokenizer.codebook_usage(renders).items()}}
    print("reconstruction", out["reconstruction"], flush=True)

    out["samples"] = []
    for temperature, top_k in SAMPLING:
        row = {"temperature": temperature, "top_k": top_k}
        for split, seed in (("test", 11), ("compositional", 12)):
            _, caps, _ = shapes.sample(args.n_eval, split, seed=seed, size=model.image_size)
            t0 = time.perf_counter()
            drawn = np.concatenate([model.generate(caps[i:i + 100], seed=i, temperature=temperature, top_k=top_k)
                                    for i in range(0, len(caps), 100)])
            row[split] = {**judge(drawn, caps),
                          "ms_per_image": round(1e3 * (time.perf_counter() - t0) / len(caps), 1)}
        out["samples"].append(row)
        print(row, flush=True)

    eight = ["a big red circle at the top left", "a small blue square", "a green triangle",
             "a white diamond at the bottom", "a yellow circle in the center", "a cyan square",
             "an orange triangle at the right", "a magenta diamond"]
    ids = np.stack([pp.ids for pp in text.prompts(eight)])
    out["eight_images_ms"] = {
        "cached_compiled": per_image_ms(lambda: model.generate(eight, seed=0), 8) * 8,
        "cached_eager": per_image_ms(lambda: model.transformer.sample(ids, top_k=model.config.top_k), 8, 1) * 8,
        "no_cache_eager": per_image_ms(
            lambda: model.transformer.sample(ids, top_k=model.config.top_k, use_cache=False), 8, 1) * 8,
    }
    print("8 images, ms:", out["eight_images_ms"], flush=True)
    print(json.dumps(out, indent=1))
    if args.save:
        RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
