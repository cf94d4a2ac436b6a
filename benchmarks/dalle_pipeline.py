"""DALL·E, small, end to end, as a first baseline: tokenizer, then transformer, then pictures.

    python benchmarks/dalle_pipeline.py                       # ~35 min on 2 cores
    python benchmarks/dalle_pipeline.py --vq-steps 50 --steps 20 --n-eval 32 --n-train 2000

Not yet a package model (issue 10): this script strings the two tested building blocks
together, the way the coming ``"dalle"`` model will.

1. ``dalle_edu.tokenizer.train_tokenizer``: a VQ-VAE, 32x32 images -> 8x8 codes.
2. Every training image of ``--n-train`` is encoded once; its caption's word ids and its
   64 codes make one sequence of 16 + 64 tokens.
3. ``TokenTransformer.fit`` on those sequences (next-token cross-entropy, DALL·E's 1/8
   text and 7/8 image weights).
4. For ``--n-eval`` test prompts and as many held-out-pair prompts: sample 64 codes
   (temperature, top-k; KV cache; ``decode`` compiled with ``tf.function`` here), decode
   them to pixels and read them with the geometry check (no learning).

Prints every figure; with ``--save`` writes ``benchmarks/results/dalle_pipeline.json``.
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
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from dalle_edu import geometry, presets, text  # noqa: E402
from dalle_edu.data import shapes  # noqa: E402
from dalle_edu.models import TokenTransformer, TransformerConfig, VQConfig  # noqa: E402
from dalle_edu.tokenizer import train_tokenizer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "dalle_pipeline.json"


def judge(images, captions) -> dict:
    g = geometry.fidelity(images, [text.parse(c) for c in captions])
    return {"fidelity": round(g["fidelity"], 3), "strict": round(g["strict"], 3),
            "off_palette": round(g["off_palette"], 3), "shape_fit": round(g["shape_fit"], 3),
            "per": {k: round(v, 3) for k, v in g["per_attribute"].items()}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vq-steps", type=int, default=2_000)
    p.add_argument("--n-train", type=int, default=20_000)
    p.add_argument("--steps", type=int, default=2_000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=16)
    p.add_argument("--n-eval", type=int, default=300)
    p.add_argument("--save", action="store_true")
    args = p.parse_args(argv)
    out = {"args": vars(args)}

    t0 = time.perf_counter()
    vq = train_tokenizer(VQConfig(steps=args.vq_steps), verbose=0)
    out["tokenizer_s"] = round(time.perf_counter() - t0)
    test_imgs, test_caps, _ = shapes.sample(args.n_eval, "test", seed=11)
    out["reconstruction_test"] = judge(vq.reconstruct(test_imgs), test_caps)
    out["codebook"] = {k: round(float(v), 2) for k, v in vq.codebook_usage(test_imgs).items()}
    print("tokenizer", out["tokenizer_s"], "s;", out["reconstruction_test"], out["codebook"],
          flush=True)

    t0 = time.perf_counter()
    imgs, caps, _ = shapes.sample(args.n_train, "train", seed=1, partial=0.25)
    cfg = TransformerConfig(image_vocab=vq.config.codebook_size, width=args.width,
                            depth=args.depth)
    codes = vq.encode(imgs).reshape(len(imgs), -1) + cfg.text_vocab  # (N, 64) joint ids
    seqs = np.concatenate([text.encode(caps), codes], axis=1).astype("int32")  # (N, 80)
    out["tokenize_s"] = round(time.perf_counter() - t0, 1)

    presets.set_seed(0)
    model = TokenTransformer(cfg)
    model.compile(keras.optimizers.Adam(args.lr), jit_compile=False)
    print(f"transformer: {model.count_params():,} parameters; {args.steps} steps of "
          f"{args.batch}", flush=True)
    ds = (tf.data.Dataset.from_tensor_slices(seqs).shuffle(len(seqs), seed=0)
          .repeat().batch(args.batch, drop_remainder=True))
    t0 = time.perf_counter()
    every = max(1, args.steps // 4)
    hist = model.fit(ds, epochs=args.steps // every, steps_per_epoch=every, verbose=2)
    out["transformer_s"] = round(time.perf_counter() - t0)
    out["loss"] = [round(float(v), 4) for v in hist.history["loss"]]

    model.decode = tf.function(model.decode, reduce_retracing=True)  # sampling: compiled
    for split, seed in (("test", 11), ("compositional", 12)):
        _, captions, _ = shapes.sample(args.n_eval, split, seed=seed)
        t0 = time.perf_counter()
        drawn = []
        for i in range(0, len(captions), 50):
            ids = text.encode(captions[i:i + 50])
            codes = model.sample(ids, temperature=args.temperature, top_k=args.top_k, seed=i)
            drawn.append(vq.decode(codes.reshape(-1, 8, 8)))
        ms = 1e3 * (time.perf_counter() - t0) / len(captions)
        out[split] = {**judge(np.concatenate(drawn), captions), "ms_per_image": round(ms, 1)}
        print(split, out[split], flush=True)
    print(json.dumps(out, indent=1))
    if args.save:
        RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
