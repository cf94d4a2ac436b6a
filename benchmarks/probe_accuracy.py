"""Exact-match accuracy of the attribute probe on real images — the yardstick of Chapter 7.

    python benchmarks/probe_accuracy.py            # train, report (about 30 s on 2 cores)
    python benchmarks/probe_accuracy.py --save     # ...and write the probe shipped in the package
"""

import argparse
import time

from dalle_edu import api
from dalle_edu.probe import train_probe
from dalle_edu.data import shapes

ap = argparse.ArgumentParser()
ap.add_argument("--size", type=int, default=32)
ap.add_argument("--save", action="store_true")
args = ap.parse_args()
t0 = time.perf_counter()
probe = train_probe(size=args.size)
print(f"trained in {time.perf_counter() - t0:.1f} s")
for split in ("test", "compositional"):
    images, _, attrs = shapes.sample(4000, split, seed=1, size=args.size)
    print(f"{split:<14} exact-match {probe.exact_match(images, attrs):.4f} on 4,000 real images")
if args.save:
    api.WEIGHTS_DIR.mkdir(exist_ok=True)
    probe.model.save_weights(api.DEFAULT_PROBE)
    print(f"saved {api.DEFAULT_PROBE}")
