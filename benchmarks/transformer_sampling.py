"""How fast the token transformer draws an image's 64 codes, with and without the KV cache — for the DALL·E chapter (to come).

    python benchmarks/transformer_sampling.py [eager repeats] [compiled repeats]

Width 128, 4 blocks, 4 heads, 16 text + 64 image tokens, batch 8, K = 512 codes, random
weights (speed does not depend on them). Warm: an untimed 8-token call first (it also
settles tf.function's tracing), then the median of the repeats (default 1 eager, 3
compiled; eager is slow and steady). Two ways to run the same ``TokenTransformer.sample``:

* eager — the package as shipped (Keras + numpy, any backend): every op is a Python call;
* compiled — ``model.decode`` wrapped in ``tf.function`` here (``reduce_retracing``, so
  the growing sequence length becomes one traced shape), which removes most of the
  per-op Python cost and leaves the arithmetic the cache saves.

Without the cache step s re-reads all 16 + s positions (O(T^2) token passes per image);
with it each step reads one new token and attends over the cached keys and values.
"""

import statistics
import sys
import time

import numpy as np
import keras
import tensorflow as tf

from dalle_edu import text
from dalle_edu.models import TokenTransformer

REPEATS = {"eager": int(sys.argv[1]) if len(sys.argv) > 1 else 1,
           "compiled": int(sys.argv[2]) if len(sys.argv) > 2 else 3}
BATCH, N_IMAGE = 8, 64
CAPTIONS = ["a big red circle at the top left", "a blue circle", "a small green triangle",
            "a large orange square at the bottom right", "a white diamond in the center",
            "a cyan triangle at the top", "a magenta square", "a yellow circle"]

keras.utils.set_random_seed(0)
model = TokenTransformer(dict(image_vocab=512, text_len=16, image_len=N_IMAGE, width=128,
                              depth=4, heads=4))
text_ids = text.encode(CAPTIONS)  # (8, 16)
print(f"keras {keras.__version__} ({keras.backend.backend()}), {model.count_params():,} parameters, "
      f"batch {BATCH}, {text_ids.shape[1]} text + {N_IMAGE} image tokens")


def timed(use_cache, repeats):
    model.sample(text_ids, 8, top_k=64, seed=0, use_cache=use_cache)  # warm-up
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        model.sample(text_ids, N_IMAGE, top_k=64, seed=i, use_cache=use_cache)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


for mode in ("eager", "compiled"):
    if mode == "compiled":
        model.decode = tf.function(model.decode, reduce_retracing=True)  # instance attribute wins
    ms = {}
    for use_cache in (True, False):
        t = timed(use_cache, REPEATS[mode])
        ms[use_cache] = 1000 * t
        print(f"{mode:8s} {'with' if use_cache else 'without':7s} KV cache: {1000 * t:8.0f} ms per batch of "
              f"{BATCH}, {1000 * t / BATCH:7.1f} ms per image, {1000 * t / N_IMAGE:6.1f} ms per token step")
    print(f"{mode:8s} cache speed-up x{ms[False] / ms[True]:.1f}")
same = np.array_equal(model.sample(text_ids, N_IMAGE, top_k=64, seed=7),
                      model.sample(text_ids, N_IMAGE, top_k=64, seed=7, use_cache=False))
print(f"identical codes with and without the cache (compiled, seed 7): {same}")
