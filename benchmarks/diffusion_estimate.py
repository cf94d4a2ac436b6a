"""Time and memory estimates for the diffusion model's ``gpu`` preset, from counted FLOPs — Chapter 13.

    TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/diffusion_estimate.py

For the cpu and gpu presets it builds the U-Net trainer as ``train_diffusion`` does and
counts the FLOPs of one traced ``DiffusionTrainer.train_step`` with TF's graph profiler
(``gpu_estimate.profiled_flops``: the same count the GAN's estimate uses). The cpu row is
checked against this machine: its measured step time and achieved GFLOP/s. The gpu row
gives minutes for its steps on a T4 and an A100 at the ASSUMED fraction of peak of
``gpu_estimate.EFFICIENCY`` (nothing here runs on a GPU), plus memory: weights, EMA copy,
Adam's two slots and gradients (activations not counted). At 64x64 the gpu preset also
trains its own tokenizer first (``DiffusionConfig.tokenizer``); that stage is not counted.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gpu_estimate import (  # noqa: E402
    EFFICIENCY, GPUS, MIB, matmul_peak, print_gpu_table, profiled_flops)

from dalle_edu import api, device, text  # noqa: E402
from dalle_edu.clip import MiniCLIP  # noqa: E402
from dalle_edu.t2i.diffusion import DiffusionConfig, TextTower  # noqa: E402
from dalle_edu.t2i.diffusion_training import build_trainer  # noqa: E402


def run_preset(name, tower, timed_steps=20):
    config = DiffusionConfig.for_preset(name)
    code_dim = config.vq_config().code_dim if config.space == "latent" else None
    device.set_seed(config.seed)
    model = build_trainer(config, tower, code_dim)
    rng = np.random.default_rng(0)
    batch = (tf.constant(rng.standard_normal((config.batch_size, *config.shape(code_dim))),
                         "float32"),
             tf.constant(text.encode(["a big red circle at the top left"] * config.batch_size)))
    total, by_type, missed, n_ops = profiled_flops(model, batch)
    weights = model.unet.count_params()
    row = {"image_size": config.image_size, "diffused": list(config.shape(code_dim)),
           "batch_size": config.batch_size, "steps": config.steps, "unet_weights": weights,
           "GFLOP_per_step": round(total / 1e9, 2), "graph_ops": n_ops,
           "profiler_zero_flop_op_types": missed,
           # weights + EMA + 2 Adam slots + gradients, float32
           "memory_MiB_without_activations": round(5 * 4 * weights / MIB, 1),
           "FLOP_per_step": total}
    if name == "cpu":
        step = tf.function(model.train_step)
        step(batch)
        t0 = time.perf_counter()
        for _ in range(timed_steps):
            step(batch)
        s = (time.perf_counter() - t0) / timed_steps
        row.update(cpu_s_per_step=round(s, 3), cpu_achieved_GFLOPs=round(total / s / 1e9, 1))
    else:
        row["gpu_estimates"] = {
            gpu: {"ms_per_step": [round(1e3 * total / (peak * e), 1) for e in EFFICIENCY[::-1]],
                  "minutes_total": [round(config.steps * total / (peak * e) / 60, 1)
                                    for e in EFFICIENCY[::-1]]}
            for gpu, peak in GPUS.items()}
    return row


def main():
    tower = TextTower(MiniCLIP.load(api.DEFAULT_CLIP, text_only=True))
    report = {"cpu_matmul_peak_GFLOPs": round(matmul_peak(), 1), "efficiency_assumed": EFFICIENCY,
              "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    for name in ("cpu", "gpu"):
        report[name] = run_preset(name, tower)
    print(json.dumps(report, indent=1))
    g = report["gpu"]
    print_gpu_table(g, f"gpu preset, {g['steps']:,} steps of {g['batch_size']}, "
                       f"{g['GFLOP_per_step']} GFLOP each")


if __name__ == "__main__":
    main()
