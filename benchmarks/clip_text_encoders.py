"""Mini-CLIP: bag-of-words vs order-aware text tower, trained on captions alone (Chapter 9).

Trains one mini-CLIP per text tower with the cpu preset's config and measures, on
renders of test prompts and of held-out colour-shape pairs (1,000 each):
R-precision (the true caption among 99 of other meanings) and zero-shot reading of
each attribute with prompt ensembles. Writes dalle_edu/weights/clip/text_encoders.json (shipped: Chapter 9 reads it).

    .venv/bin/python benchmarks/clip_text_encoders.py            # ~4 min on 2 cores
"""

import json
import time
from pathlib import Path

import numpy as np

from dalle_edu import metrics, text
from dalle_edu.clip import ClipConfig, train_clip
from dalle_edu.data import shapes

OUT = Path(__file__).resolve().parents[1] / "dalle_edu" / "weights" / "clip" / "text_encoders.json"


def judge(clip, n=1_000, seed=5) -> dict:
    row = {"n": n}  # renders a split
    for split in ("test", "compositional"):
        images, captions, attrs = shapes.sample(n, split, seed=seed, partial=0.0)
        groups = [tuple(sorted(text.parse(c).items())) for c in captions]
        row[f"r_precision_{split}"] = metrics.r_precision(
            clip.encode_images(images), clip.encode_text(captions), groups=groups)
        reads = clip.zero_shot(images)
        row[f"zero_shot_{split}"] = {k: float(np.mean([r[k] == a[k] for r, a in zip(reads, attrs)]))
                                     for k in shapes.KEYS}
    return row


def main():
    results = {}
    for kind in ("bow", "attention"):
        config = ClipConfig.for_preset("cpu", text=kind)
        t = time.perf_counter()
        clip = train_clip(config, verbose=0)
        seconds = time.perf_counter() - t
        results[kind] = {"train_seconds": round(seconds, 1), "temperature": clip.temperature,
                         "text_params": clip.text_encoder.count_params(), **judge(clip)}
        print(kind, json.dumps(results[kind]), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
