"""How much of a picture survives the image tokenizer (VQ-VAE) — stage 1 of DALL·E (Chapter 11).

Trains a tokenizer, then reconstructs 500 test renders (and 500 of the compositional
split, colour-shape pairs the tokenizer never saw) through their 8x8 token grids and
reports reconstruction MSE (in [-1, 1]), the geometry check's fidelity of the
reconstructions against their captions' parsed attributes, and codebook usage.

    python benchmarks/vqvae_tokenizer.py                       # the VQConfig defaults
    python benchmarks/vqvae_tokenizer.py --set width=16 steps=900 batch_size=32

Prints only: results go to benchmarks/results from a full cpu-preset run alone.
"""

import argparse
import json
import time

import numpy as np

from dalle_edu import geometry
from dalle_edu.data import shapes
from dalle_edu.images import to_float
from dalle_edu.text import parse
from dalle_edu.image_tokenizer import VQConfig, train_tokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                help="VQConfig overrides, e.g. width=16 steps=900")
ap.add_argument("--n-eval", type=int, default=500)
args = ap.parse_args()
defaults = VQConfig().to_dict()
overrides = {}
for item in args.set:
    key, _, value = item.partition("=")
    overrides[key] = type(defaults.get(key, ""))(value) if key in defaults else value
config = VQConfig.from_dict({**defaults, **overrides})
print("config", json.dumps(config.to_dict()))

t0 = time.perf_counter()
vq = train_tokenizer(config, verbose=2)
train_s = time.perf_counter() - t0
print(f"trained {config.steps} steps in {train_s:.1f} s ({train_s / config.steps:.3f} s/step, "
      "trace included)")

for split in ("test", "compositional"):
    images, captions, _ = shapes.sample(args.n_eval, split, seed=1, size=config.image_size)
    wanted = [parse(c) for c in captions]
    t1 = time.perf_counter()
    recon = vq.reconstruct(images)
    mse = float(((to_float(recon) - to_float(images)) ** 2).mean())
    fid = geometry.fidelity(recon, wanted)
    usage = vq.codebook_usage(images)
    print(f"\n{split}: {args.n_eval} renders, reconstructed in {time.perf_counter() - t1:.1f} s")
    print(f"  recon MSE ([-1, 1])     {mse:.4f}")
    print(f"  fidelity / strict       {fid['fidelity']:.3f} / {fid['strict']:.3f}   "
          f"(renders themselves: {geometry.fidelity(images, wanted)['fidelity']:.3f})")
    print("  per attribute           " + ", ".join(f"{k} {v:.3f}" for k, v in fid["per_attribute"].items()))
    print(f"  shape fit (IoU)         {fid['shape_fit']:.3f}    off-palette {fid['off_palette']:.3f}")
    print(f"  codes: perplexity {usage['perplexity']:.1f}, used {usage['used']}, "
          f"dead {usage['dead']} of {config.codebook_size}; "
          f"revived during training {int(np.asarray(vq.quantizer.revived))}")
