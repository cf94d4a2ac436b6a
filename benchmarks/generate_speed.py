"""How fast the shipped model draws — Chapter 7.

    python benchmarks/generate_speed.py

Warm: ``dalle_edu.generate`` for 8 prompts, median of 30 calls after one warm-up call
(target <= 50 ms on a CPU). Cold: a fresh ``dalle-edu generate`` process, end to end,
and where that time goes (importing TensorFlow, building and loading the model, tracing
the first call).
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = ["a big red circle at the top left", "a blue circle", "a small green triangle",
           "a large orange square at the bottom right", "a white diamond in the center",
           "a cyan triangle at the top", "a magenta square", "a yellow circle, small, bottom left"]

t0 = time.perf_counter()
import tensorflow  # noqa: E402,F401

t_tf = time.perf_counter() - t0
from dalle_edu import api  # noqa: E402

t0 = time.perf_counter()
model = api.load_model("gan-labels")
t_load = time.perf_counter() - t0
t0 = time.perf_counter()
api.generate(PROMPTS, seed=0, model="gan-labels")
t_first = time.perf_counter() - t0
times = []
for i in range(30):
    t0 = time.perf_counter()
    api.generate(PROMPTS, seed=i, model="gan-labels")
    times.append(time.perf_counter() - t0)
print(f"warm generate, 8 images: median {1000 * statistics.median(times):.1f} ms, "
      f"best {1000 * min(times):.1f} ms (target <= 50 ms)")
print(f"in-process cold start: import tensorflow {t_tf:.2f} s, build + load weights {t_load:.2f} s, "
      f"first call (trace) {t_first:.2f} s")

exe = Path(sys.executable).with_name("dalle-edu")
with tempfile.TemporaryDirectory() as d:
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "generate", PROMPTS[0], "-n", "8", "-o", f"{d}/g.png"],
                       check=True, capture_output=True)
        runs.append(time.perf_counter() - t0)
print(f"cold `dalle-edu generate ... -n 8`: best of 3 {min(runs):.2f} s, median {statistics.median(runs):.2f} s")
