"""The machine a run is on: GPU detection, seeds and op determinism, precision, XLA.

Every notebook's Setup cell calls ``device.set_seed(0)``; ``dalle_edu.presets`` picks
run sizes from what ``gpu_available`` sees. Book: "Several devices, precision and XLA".
Standard library at import time; TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import random
import warnings

__all__ = ["gpu_available", "set_seed", "op_determinism_enabled", "disable_op_determinism",
           "PRECISIONS", "check_precision", "precision", "resolve_jit_compile"]


def gpu_available() -> bool:
    """True when TensorFlow sees a GPU. Imports TensorFlow, so it is only called when needed."""
    try:
        import tensorflow as tf
    except ImportError:  # the numpy-only parts of the course work without TF
        return False
    return bool(tf.config.list_physical_devices("GPU"))


def set_seed(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow/Keras, and turn TF op determinism on (or off).

    Op determinism makes a CPU run repeat bit for bit (the exact-resume test relies on
    it). On a GPU it can cost speed, and a few ops have no deterministic GPU kernel:
    ``GAN.fit`` then warns and trains without it (book: "Several devices, precision and
    XLA"). ``deterministic=False`` turns it off, also when an earlier call turned it on.
    """
    random.seed(seed)
    import numpy as np

    np.random.seed(seed)
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        return
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        disable_op_determinism()


def op_determinism_enabled() -> bool:
    """Whether TF op determinism is on (TF 2.21 exposes the query only privately)."""
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())


def disable_op_determinism() -> None:
    """Turn TF op determinism off: ``tf.config.experimental`` (2.21) can only turn it on."""
    from tensorflow.python.framework import config as tf_config

    tf_config.disable_op_determinism()


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(policy: str) -> str:
    """Validate a Keras precision policy against this machine; an impossible one is a ``ValueError``.

    float32 runs everywhere. mixed_bfloat16 needs bf16 units: a CPU (emulated, correct
    but rarely faster), a TPU, or an NVIDIA GPU of compute capability >= 8.0 (A100, L4,
    H100; not Colab's T4). mixed_float16 needs an NVIDIA GPU of compute capability >= 7.0
    (T4, V100 and newer): CPUs have no float16 matrix units. Never a silent fallback.
    """
    if policy not in PRECISIONS:
        raise ValueError(f"unknown precision {policy!r}; valid: {', '.join(PRECISIONS)}")
    if policy == "float32":
        return policy
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    caps = [tf.config.experimental.get_device_details(g).get("compute_capability") for g in gpus]
    caps = [c for c in caps if c]
    need = {"mixed_bfloat16": (8, 0), "mixed_float16": (7, 0)}[policy]
    if gpus:
        if caps and min(caps) < need:
            raise ValueError(f"precision {policy!r} needs a GPU of compute capability >= "
                             f"{need[0]}.{need[1]}; this one is {min(caps)[0]}.{min(caps)[1]}: use "
                             + ("'mixed_float16'" if policy == "mixed_bfloat16" else "'float32'"))
    elif policy == "mixed_float16":
        raise ValueError("precision 'mixed_float16' needs an NVIDIA GPU and none is visible "
                         "(CPUs have no float16 matrix units): use 'float32' or 'mixed_bfloat16'")
    return policy


class precision:
    """``with device.precision("mixed_bfloat16"): G = build()`` — layers built inside use the policy.

    Checked first (``check_precision``); the global Keras policy is restored on exit.
    """

    def __init__(self, policy: str = "float32"):
        self.policy = check_precision(policy)

    def __enter__(self):
        import keras

        self._saved = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.policy)
        return self

    def __exit__(self, *exc):
        import keras

        keras.config.set_dtype_policy(self._saved)
        return False


def resolve_jit_compile(jit_compile):
    """``compile(jit_compile=...)``, said out loud: Keras 3.15 drops XLA while op determinism is on."""
    if jit_compile is True and op_determinism_enabled():
        warnings.warn("jit_compile=True is ignored: Keras does not combine XLA with op determinism, "
                      "which is on; call device.set_seed(seed, deterministic=False) before "
                      "building the GAN to train with XLA", RuntimeWarning, stacklevel=3)
        return False
    return jit_compile
