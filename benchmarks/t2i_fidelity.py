"""Caption fidelity of the text-to-image GAN against training wall time — Chapter 7.

    python benchmarks/t2i_fidelity.py                       # the cpu preset, as shipped
    python benchmarks/t2i_fidelity.py --no-aux --steps 4000 # an ablation (see --help)
    python benchmarks/t2i_fidelity.py --encoders            # text-encoder ablation only

Prints one JSON row per evaluation (step, training seconds — evaluation excluded —,
fidelity on the test and compositional splits, ...) and the final table. With
``--out`` the trained model is kept (the shipped one is ``--out dalle_edu/weights/t2i_cpu``
minus its checkpoints/ folder).
"""

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np

from dalle_edu import api, measures, t2i, text
from dalle_edu.data import shapes


def encoder_ablation(seeds=(0, 1, 2)):
    """Linear bag-of-words (the package's) vs the same bag with an MLP, on held-out pairs."""
    import keras
    from keras import layers

    def mlp_encoder():
        ids = keras.Input((text.MAX_TOKENS,), dtype="int32")
        v = layers.Embedding(len(text.VOCAB), 32, mask_zero=True)(ids)
        h = layers.Dense(128, activation="relu")(layers.GlobalAveragePooling1D()(v))
        return keras.Model(ids, {k: layers.Dense(len(vals), name=k)(h) for k, vals in t2i.HEADS.items()})

    _, caps, attrs, ment = shapes.sample(4000, "compositional", seed=5, partial=0.5,
                                         return_mentioned=True)
    target = t2i.attribute_targets(attrs, ment)
    for name, build in (("sum + linear heads (package)", lambda: t2i.build_text_encoder(32)),
                        ("mean + MLP heads", mlp_encoder)):
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            enc = t2i.pretrain_text_encoder(build(), seed=seed)
            out = enc.predict(text.encode(caps), verbose=0)
            acc = {k: round(float(np.mean(np.argmax(out[k], -1) == target[k])), 3) for k in t2i.HEADS}
            print(json.dumps({"encoder": name, "seed": seed, "compositional_captions": acc}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--no-aux", action="store_true", help="drop the auxiliary classifier")
    ap.add_argument("--no-matching-aware", action="store_true")
    ap.add_argument("--eval-every", type=int, default=2, help="evaluate every N x 500 steps")
    ap.add_argument("--out", default=None, help="keep the trained model in this folder")
    ap.add_argument("--encoders", action="store_true", help="run the text-encoder ablation only")
    args = ap.parse_args()
    if args.encoders:
        return encoder_ablation()

    overrides = {}
    if args.steps:
        overrides["steps"] = args.steps
    if args.no_aux:
        overrides["aux_weight"] = 0.0
    if args.no_matching_aware:
        overrides["matching_aware"] = False
    config = t2i.T2IConfig.for_preset(args.preset, **overrides)
    print(json.dumps({"config": config.to_dict(), "cpus": os.cpu_count(),
                      "load_avg_at_start": os.getloadavg()[0]}))
    probe = api.load_probe(config.image_size)
    out = args.out or tempfile.mkdtemp(prefix="t2i_bench_")
    t0 = time.perf_counter()
    log = measures.FidelityLog(probe, every_n_epochs=args.eval_every, n=500)
    model = t2i.train(config, out, verbose=0, callbacks=[log])
    total = time.perf_counter() - t0
    rows = log.rows
    final = measures.evaluate_model(model, probe, n=1000)
    print(json.dumps({"final": final, "train_seconds": rows[-1]["train_seconds"] if rows else None,
                      "wall_seconds_incl_eval": round(total), "load_avg_at_end": os.getloadavg()[0]}))
    print("\n| step | train s | test | compositional | purity (far) | positions of 9 | diversity ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['step']} | {r['train_seconds']:.0f} | {r['test']:.3f} | {r['compositional']:.3f} "
              f"| {r['purity_far']:.3f} | {r['positions_of_9']} | {r['diversity_ratio']:.2f} |")
    if args.out:
        shutil.rmtree(os.path.join(out, "checkpoints"), ignore_errors=True)
    else:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
