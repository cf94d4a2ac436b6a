"""The GPU check users run on Colab (``benchmarks/gpu_check.py``) runs here under the smoke
preset, on the CPU, so that it cannot rot. Book: "Several devices, precision and XLA",
section "Check your GPU in 8 minutes". Figures are not asserted, only that they exist,
are finite and lie in their ranges.
"""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dalle_edu import device

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _numbers(x, path="report"):
    """Every number in a JSON value, with where it sits: [(path, number)]."""
    if isinstance(x, dict):
        return [n for k, v in x.items() for n in _numbers(v, f"{path}.{k}")]
    if isinstance(x, list):
        return [n for i, v in enumerate(x) for n in _numbers(v, f"{path}[{i}]")]
    return [(path, x)] if isinstance(x, (int, float)) and not isinstance(x, bool) else []


def test_box_downsample_is_the_mean_of_each_block(gpu_check):
    # one 4x4 image, channels alike: each 2x2 block averages to its four values' mean
    x = np.array([[0, 2, 10, 10], [4, 6, 10, 10], [0, 0, 255, 255], [0, 1, 255, 255]], np.uint8)
    images = np.repeat(x[None, :, :, None], 3, axis=3)                          # (1, 4, 4, 3)
    small = gpu_check.box_downsample(images, 2)                                 # (1, 2, 2, 3)
    assert small.dtype == np.uint8 and small.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(small[0, :, :, 0], [[3, 10], [0, 255]])      # 0.25 rounds to 0
    assert gpu_check.box_downsample(images, 1) is images


def test_smoke_run_writes_a_complete_finite_report(gpu_check, tmp_path):
    deterministic = device.op_determinism_enabled()
    out = tmp_path / "check.json"
    returned = gpu_check.main(["--preset", "smoke", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report == json.loads(json.dumps(returned))
    assert device.op_determinism_enabled() == deterministic  # the process is left as found

    for key in ("preset", "budget_s", "device", "versions", "config", "setup_s", "speed",
                "training", "evaluation", "wall_s", "notes"):
        assert key in report, key
    assert report["preset"] == "smoke" and report["versions"]["tensorflow"]
    assert report["device"]["physical_devices"] and report["notes"]
    bad = [(where, v) for where, v in _numbers(report) if not math.isfinite(v)]
    assert not bad, bad

    # phase 1: every variant either timed (ms/step > 0) or skipped / failed with a reason
    rows = report["speed"]["variants"]
    assert [r["variant"] for r in rows] == [v[0] for v in gpu_check.VARIANTS]
    for r in rows:
        assert r["status"] in ("ok", "skipped", "error"), r
        if r["status"] == "ok":
            assert r["ms_per_step"] > 0 and r["steps"] > 0 and r["losses_finite"]
            assert r["steps_per_s"] == pytest.approx(1e3 / r["ms_per_step"], rel=0.01)
            assert r["gflop_per_s"] > 0
        else:
            assert (r.get("reason") or r.get("error")), r
    assert rows[0]["status"] == "ok"  # float32 runs everywhere
    if not report["device"]["gpus"]:  # no float16 units on a CPU: skipped, saying why
        assert all(r["status"] == "skipped" and "GPU" in r["reason"]
                   for r in rows if r["precision"] == "mixed_float16")
    assert report["speed"]["gflop_per_step"] > 0

    # phase 2: trained (smoke: up to the preset's 30 steps), then judged
    tr, ev = report["training"], report["evaluation"]
    timed = next(r for r in rows if r["variant"] == tr["variant"])
    assert tr["steps"] > 0 and tr["total_steps"] == timed["steps"] + tr["steps"]
    assert tr["total_steps"] <= report["config"]["steps"] and tr["losses_finite"]
    assert ev["n"] == gpu_check.sizes("smoke")["eval_n"] and ev["generator"] == "EMA"
    for split in ("test", "compositional"):
        for name in ("fidelity", "strict", "off_palette", "shape_fit"):
            assert 0.0 <= ev[f"{name}_{split}"] <= 1.0, (name, split)
    assert ev["fid"] >= 0 and ev["fid_real_floor"] >= 0
    assert ev["fid"] > ev["fid_real_floor"]  # 30 steps draw worse than the renderer does
    assert "mini-CLIP" in ev["feature_space"]
    assert report["wall_s"] > 0  # ~20 s here; never a timed assertion (ARCHITECTURE.md)
