"""ms/step of the cpu-preset text-to-image GAN on one device vs MirroredStrategy on two logical CPUs.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/distribute_overhead.py [--steps 100]

Book: "Several devices, precision and XLA". Each setting runs in its own subprocess
(TensorFlow fixes its logical devices when it starts): ``T2IConfig.for_preset("cpu")``,
``build_gan`` (inside ``strategy.scope()`` for two replicas), ``make_dataset``, then one
``fit`` of ``--warmup`` + ``--steps`` steps; the clock runs from the end of the last
warm-up step to the end of the last step. Two logical CPUs share the same cores, so
this measures what MirroredStrategy *costs* (per-replica tracing, splitting the batch,
all-reducing gradients, the replica helpers of ``dalle_edu.replicas``), never a
speed-up. The text encoder is left untrained: its conditions cost the same. Prints one
JSON line; reported in the docs, never a timed assertion in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time


def _worker(replicas, steps, warmup):
    import keras
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dalle_edu import device, t2i

    config = t2i.T2IConfig.for_preset("cpu")
    device.set_seed(config.seed)
    strategy = (tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
                if replicas > 1 else None)
    with strategy.scope() if strategy else contextlib.nullcontext():
        gan = t2i.build_gan(config)
    data = t2i.make_dataset(config, t2i.build_text_encoder(config.embed_dim)).repeat()

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == warmup - 1:
                self.start = time.perf_counter()
            self.end = time.perf_counter()

    clock = Clock()
    gan.fit(data, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[clock])
    return {"ms_per_step": round(1000 * (clock.end - clock.start) / steps, 1),
            "global_batch": config.batch_size, "replicas": replicas}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # replicas, in the subprocess
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.steps, args.warmup)))
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = {}
    for replicas in (1, 2):
        done = subprocess.run([sys.executable, __file__, "--worker", str(replicas), "--steps",
                               str(args.steps), "--warmup", str(args.warmup)],
                              capture_output=True, text=True, env=env, check=True)
        result[f"{replicas}_replica{'s' if replicas > 1 else ''}"] = json.loads(done.stdout.splitlines()[-1])
    one, two = result["1_replica"]["ms_per_step"], result["2_replicas"]["ms_per_step"]
    result["overhead"] = round(two / one, 2)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["cpus"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
