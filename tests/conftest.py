"""Test-wide settings. TensorFlow logs noisily on CPU; quiet it here, never in package code."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests size themselves explicitly; an inherited preset must not leak into them.
os.environ.setdefault("DALLE_EDU_PRESET", "smoke")
