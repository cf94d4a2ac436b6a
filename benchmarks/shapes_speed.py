"""How fast does the captioned-shapes world draw? images/s of ``shapes.sample``, best of 3.

    python benchmarks/shapes_speed.py            # n = 10,000 at 32x32 and 64x64
    python benchmarks/shapes_speed.py --n 50000 --sizes 32

Includes everything ``sample`` does: attributes, rendering and the paraphrased captions.
The spec's target is >= 20,000 images/s at 32x32 on 2 CPU cores.
"""

import argparse
import os
import time

from dalle_edu.data import shapes


def images_per_second(n: int, size: int, repeats: int = 3) -> float:
    shapes.sample(min(n, 256), size=size)  # warm up
    best = float("inf")
    for r in range(repeats):
        start = time.perf_counter()
        shapes.sample(n, split="train", seed=r, size=size)
        best = min(best, time.perf_counter() - start)
    return n / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"shapes.sample, n={args.n:,}, best of {args.repeats}, {os.cpu_count()} CPU cores")
    for size in args.sizes:
        rate = images_per_second(args.n, size, args.repeats)
        print(f"  {size}x{size}: {rate:>10,.0f} images/s")


if __name__ == "__main__":
    main()
