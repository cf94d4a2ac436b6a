import pytest

from dalle_edu import presets


def test_every_preset_resolves_by_name():
    for name in presets.NAMES:
        assert presets.get(name).name == name
    assert presets.get(" CPU ").name == "cpu"  # case and spaces tolerated


def test_sizes_follow_the_spec():
    # SHAPES_WORLD.md: 32x32 by default, 64x64 for the gpu preset
    assert presets.get("smoke").image_size == 32
    assert presets.get("cpu").image_size == 32
    assert presets.get("gpu").image_size == 64


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        presets.get("laptop")
    msg = str(err.value)
    assert "'laptop'" in msg
    for name in presets.NAMES:
        assert name in msg


def test_environment_variable_selects_the_preset(monkeypatch):
    monkeypatch.setenv(presets.ENV_VAR, "gpu")
    assert presets.current().name == "gpu"
    monkeypatch.setenv(presets.ENV_VAR, "nonsense")
    with pytest.raises(ValueError, match="valid presets"):
        presets.current()


def test_detection_without_the_variable(monkeypatch):
    monkeypatch.delenv(presets.ENV_VAR, raising=False)
    monkeypatch.setattr(presets, "gpu_available", lambda: True)
    assert presets.detect() == "gpu"
    monkeypatch.setattr(presets, "gpu_available", lambda: False)
    assert presets.detect() == "cpu"


def test_pick_needs_every_preset():
    p = presets.get("cpu")
    assert p.pick(smoke=1, cpu=2, gpu=3) == 2
    with pytest.raises(ValueError, match="missing: gpu"):
        p.pick(smoke=1, cpu=2)
    with pytest.raises(ValueError, match="unknown: laptop"):
        p.pick(smoke=1, cpu=2, gpu=3, laptop=4)


def test_set_seed_makes_numpy_and_keras_repeat():
    import keras
    import numpy as np

    presets.set_seed(7)
    a = np.random.rand(3), keras.random.normal((3,)).numpy()
    presets.set_seed(7)
    b = np.random.rand(3), keras.random.normal((3,)).numpy()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_describe_names_preset_and_source(monkeypatch):
    monkeypatch.setenv(presets.ENV_VAR, "smoke")
    line = presets.describe()
    assert line.startswith("preset: smoke (from $DALLE_EDU_PRESET)")
