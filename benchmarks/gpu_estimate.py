"""Time and memory estimates for the text-to-image GAN's ``gpu`` preset, from counted FLOPs — Chapter 7.

    TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/gpu_estimate.py                  # cpu and gpu presets
    TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/gpu_estimate.py --presets cpu    # the cpu preset only

For each preset it builds the model as training does (``t2i.build_gan``, ``t2i.make_dataset``):

1. FLOPs of one training step, counted twice: TF's graph profiler on the traced
   ``gan.train_step`` (every op of the graph as built), and an analytic count of the
   convolutions and Dense layers (2 FLOPs per multiply-add) over the step's passes.
2. The measured CPU step time of ``gan.fit`` here, the achieved GFLOP/s, and this
   machine's float32 matmul peak beside it.
3. Memory: parameters of G, D and EMA G, Adam's two slots per trainable weight, the
   gradients, and the activations kept for backprop, as a peak estimate in MiB.
4. For the gpu preset: time for its ``steps`` on a T4 and an A100 at an ASSUMED achieved
   fraction of peak (EFFICIENCY below; nothing here was run on a GPU).

Prints one JSON object, then a markdown table for the README. Takes a few minutes on 2 cores.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from dalle_edu import device, presets, t2i  # noqa: E402
from dalle_edu.models.dcgan import split_at_features  # noqa: E402

# fp32 peaks (vendor datasheets), FLOP/s. TF enables TF32 on Ampere by default, so the A100
# runs float32 convs/matmuls on tensor cores: its TF32 row is the likelier one.
GPUS = {"T4 (fp32)": 8.1e12, "A100 (fp32)": 19.5e12, "A100 (TF32)": 156e12}
EFFICIENCY = (0.20, 0.40)  # ASSUMPTION: typical achieved fraction of peak for small convs
TIMING = {"cpu": (15, 2), "gpu": (5, 1)}  # (steps per epoch, epochs) timed after a warm-up
MIB = 2.0 ** 20


def profiled_flops(gan, batch):
    """FLOPs of one traced train_step by TF's graph profiler, total and by op type."""
    graph = tf.function(gan.train_step).get_concrete_function(batch).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    opts = builder(builder.float_operation()).with_empty_output().build()
    by_type = tf.compat.v1.profiler.profile(graph, cmd="op", options=opts)
    counted, node = {}, by_type
    while node.children:  # the "op" view is a chain, one op type per level
        node = node.children[0]
        counted[node.name] = int(node.float_ops)
    types = {op.type for op in graph.get_operations()}  # below: arithmetic counted as 0 FLOPs,
    missed = sorted(t for t in types if not counted.get(t) and (
        t.startswith(("FusedBatchNorm", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Softplus", "Exp"))
        or t.endswith(("Call", "While", "If"))) and t != "ExpandDims")  # or hidden in calls
    return int(by_type.total_float_ops), counted, missed, len(graph.get_operations())


def layer_table(model):
    """Per-example multiply-adds of one forward pass, by layer (convs and Dense, nested too)."""
    macs = {}
    for layer in model._flatten_layers(include_self=False):
        if getattr(layer, "kernel", None) is None:
            continue
        n = int(np.prod(layer.kernel.shape))  # k*k*Cin*Cout, or Cin*Cout for Dense
        if isinstance(layer, keras.layers.Conv2DTranspose):  # each INPUT pixel scatters k*k*Cout
            n *= int(np.prod(layer.input.shape[1:3]))
        elif isinstance(layer, keras.layers.Conv2D):  # each OUTPUT pixel gathers k*k*Cin
            n *= int(np.prod(layer.output.shape[1:3]))
        macs[layer.name] = n
    return macs


def _head_layers(gan):
    """Names of D's layers after its features, when the matching-aware pass reuses the real
    images' features (``GAN.judge_real``: a projection D, ``models.split_at_features``)."""
    split = split_at_features(gan.discriminator) if gan.matching_aware else None
    return set() if split is None else {layer.name for layer in split[1].layers}


def d_passes(gan):
    """(pairs D judges, image batches its features see) in one D update: real, fake and
    (matching-aware) real with a neighbour's caption; a projection D's features see the
    real images once (``GAN.judge_real``)."""
    pairs = 3 if gan.matching_aware else 2
    return pairs, (2 if _head_layers(gan) else pairs)


def analytic_flops(gan, batch_size):
    """FLOPs/step from the layer table and the pass count of GAN.train_step (n_critic D updates).

    D update (x n_critic): G forward outside the tape; D forward + backward on the real
    and fake images and, matching-aware, the head alone on the real images' features with
    the neighbours' captions (``d_passes``); with a gradient penalty (``wgan-gp``) also D
    on the interpolates and its input gradient (2 D), both differentiated again for D's
    weights (2 x 2 D): 6 D.
    G update: G forward, D forward on the fake, backward through D (input grads) into G
    (weight and input grads). A backward pass costs 2 forwards (input grad + weight grad).
    TF's Conv2D gradient builds both grads even where one is unused, so the graph holds
    "built"; grappler prunes the unused ones at run time ("executed": no D weight grads in
    the G update, no grads into the data or z).
    """
    g, d = layer_table(gan.generator), layer_table(gan.discriminator)
    G, D = sum(g.values()), sum(d.values())
    head = _head_layers(gan)
    D_head = sum(v for k, v in d.items() if k in head)
    D_feat = D - D_head
    g0 = g["project"]                         # first layers: no input gradient needed
    d0 = d["stem"] if "stem" in d else d["down_0"]
    pairs, d_images = d_passes(gan)
    d_update = d_images * D_feat + pairs * D_head
    gp = 6 * D * bool(gan.loss_pair.gradient_penalty)
    built = gan.n_critic * (G + 3 * d_update + gp) + 3 * G + 3 * D
    executed = gan.n_critic * (G + 3 * d_update - d_images * d0 + gp) + (3 * G - g0) + 2 * D
    return {"G_fwd_MFLOP_per_example": 2 * G / 1e6, "D_fwd_MFLOP_per_example": 2 * D / 1e6,
            "built": 2 * built * batch_size, "executed": 2 * executed * batch_size}


def activation_elements(model):
    """Per-example elements of every layer output (a conditional BatchNorm keeps 2 tensors)."""
    total, largest = 0, 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Reshape, keras.layers.Flatten)):
            continue  # inputs are the data; reshapes are views
        outs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        n = sum(int(np.prod(o.shape[1:])) for o in outs)
        total += n * (2 if "ConditionalBatchNorm" in type(layer).__name__ else 1)
        largest = max(largest, n)
    return total, largest


def memory(gan, batch_size):
    """Peak memory estimate (MiB, float32): weights, Adam slots, grads, kept activations."""
    count = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
    p = {"G": count(gan.generator.weights), "D": count(gan.discriminator.weights),
         "EMA_G": count(gan.ema_generator.weights) if gan.ema_generator is not None else 0}
    trainable = count(gan.generator.trainable_weights) + count(gan.discriminator.trainable_weights)
    a_g, big_g = activation_elements(gan.generator)
    a_d, big_d = activation_elements(gan.discriminator)
    # the larger of the two phases: D's features on its image batches (and the interpolates), or G + D
    d_batches = d_passes(gan)[1] + bool(gan.loss_pair.gradient_penalty)
    kept = max(d_batches * a_d, a_g + a_d) * batch_size
    work = 2 * max(big_g, big_d) * batch_size  # gradient buffers in flight during backprop
    mib = {"params_G": 4 * p["G"] / MIB, "params_D": 4 * p["D"] / MIB, "ema_G": 4 * p["EMA_G"] / MIB,
           "adam_slots": 2 * 4 * trainable / MIB, "gradients": 4 * trainable / MIB,
           "activations": 4 * (kept + work) / MIB}
    mib["peak"] = sum(mib.values())
    return {"params": p, "MiB": {k: round(v, 1) for k, v in mib.items()}}


def step_time(gan, ds, name):
    """Median s/step of gan.fit, timed per epoch after a 1-step warm-up, and the cores it got."""
    steps, epochs = TIMING[name]
    times = []
    clock = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: times.append(-time.perf_counter()),
        on_epoch_end=lambda e, logs: times.__setitem__(-1, times[-1] + time.perf_counter()))
    gan.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)  # warm-up: traces train_function
    cpu0, wall0 = time.process_time(), time.perf_counter()
    gan.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    cores = (time.process_time() - cpu0) / (time.perf_counter() - wall0)  # < cpus: others' load
    return float(np.median(times)) / steps, steps * epochs, cores


def matmul_peak(n=2048, reps=8):
    """This machine's float32 matmul GFLOP/s: best of `reps` timings of an n x n matmul."""
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    mm = tf.function(lambda: tf.linalg.matmul(a, b))
    mm().numpy()  # warm-up: trace and allocate
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        mm().numpy()  # .numpy() waits for the result
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def run_preset(name):
    config = t2i.T2IConfig.for_preset(name)
    small = t2i.T2IConfig.for_preset(name, n_train=4 * config.batch_size)  # same model, less data
    device.set_seed(config.seed)
    gan = t2i.build_gan(config)
    ds = t2i.make_dataset(small, t2i.build_text_encoder(config.embed_dim))
    batch = next(iter(ds))
    total, by_type, missed, n_ops = profiled_flops(gan, batch)
    ana = analytic_flops(gan, config.batch_size)
    s_step, timed, cores = step_time(gan, ds.repeat(), name)
    top = dict(sorted(by_type.items(), key=lambda kv: -kv[1])[:6])
    return {"image_size": config.image_size, "width": config.width, "batch_size": config.batch_size,
            "steps": config.steps, "graph_ops": n_ops,
            "GFLOP_per_step": {"profiler": round(total / 1e9, 2),
                               "analytic_built": round(ana["built"] / 1e9, 2),
                               "analytic_executed": round(ana["executed"] / 1e9, 2),
                               "profiler_over_analytic_built": round(total / ana["built"], 3)},
            "fwd_MFLOP_per_example": {"G": round(ana["G_fwd_MFLOP_per_example"], 1),
                                      "D": round(ana["D_fwd_MFLOP_per_example"], 1)},
            "profiler_top_op_types_GFLOP": {k: round(v / 1e9, 2) for k, v in top.items()},
            "profiler_zero_flop_op_types": missed,
            "cpu_s_per_step": round(s_step, 3), "cpu_steps_timed": timed,
            "cpu_cores_used": round(cores, 2),
            "cpu_achieved_GFLOPs": round(total / s_step / 1e9, 1),
            "memory": memory(gan, config.batch_size), "FLOP_per_step": total}


def gpu_estimates(r):
    """ms/step and minutes for the preset's steps at EFFICIENCY of each GPU's peak (compute only)."""
    out = {}
    for gpu, peak in GPUS.items():
        s = [r["FLOP_per_step"] / (peak * e) for e in EFFICIENCY[::-1]]  # fast (40 %) .. slow (20 %)
        out[gpu] = {"ms_per_step": [round(1e3 * x, 1) for x in s],
                    "minutes_total": [round(r["steps"] * x / 60, 1) for x in s]}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["cpu", "gpu"], choices=presets.NAMES)
    args = ap.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    peak = matmul_peak()
    report = {"tf": tf.__version__, "keras": keras.__version__, "cpus": os.cpu_count(),
              "cpu_matmul_peak_GFLOPs": round(peak, 1), "efficiency_assumed": EFFICIENCY}
    for name in args.presets:
        r = run_preset(name)
        r["cpu_fraction_of_matmul_peak"] = round(r["cpu_achieved_GFLOPs"] / peak, 3)
        if name == "gpu":
            r["gpu_estimates"] = gpu_estimates(r)
        report[name] = r
    report["load_avg"] = {"start": load, "end": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(report, indent=1))

    print("\n| preset | image, batch | GFLOP/step | CPU here: s/step, GFLOP/s | est. peak memory |")
    print("| --- | --- | --- | --- | --- |")
    for n in args.presets:
        r = report[n]
        print(f"| {n} | {r['image_size']}², {r['batch_size']} | {r['GFLOP_per_step']['profiler']} | "
              f"{r['cpu_s_per_step']}, {r['cpu_achieved_GFLOPs']} | {r['memory']['MiB']['peak']:.0f} MiB |")
    if "gpu" in report:  # compute-only estimates at the ASSUMED efficiency
        g = report["gpu"]
        print_gpu_table(g, f"gpu preset, {g['steps']:,} steps")


def print_gpu_table(row, what):
    """The markdown table of a preset's ``gpu_estimates``: ms a step and total minutes per GPU."""
    print(f"\n| GPU ({what}) | ms/step at 40–20 % of peak | total (min) |")
    print("| --- | --- | --- |")
    for gpu, e in row["gpu_estimates"].items():
        ms, mins = e["ms_per_step"], e["minutes_total"]
        print(f"| {gpu} | {ms[0]:.0f}–{ms[1]:.0f} | {mins[0]:.0f}–{mins[1]:.0f} |")


if __name__ == "__main__":
    main()
