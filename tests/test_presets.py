import json
import re
from pathlib import Path

import pytest

from dalle_edu import device, presets


def test_every_preset_resolves_by_name():
    for name in presets.NAMES:
        assert presets.get(name).name == name
    assert presets.get(" CPU ").name == "cpu"  # case and spaces tolerated


def test_sizes_follow_the_spec():
    # the shapes world's spec (book/shapes_world.md): 32x32 by default, 64x64 for the gpu preset
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
    monkeypatch.setattr(device, "gpu_available", lambda: True)
    assert presets.detect() == "gpu"
    monkeypatch.setattr(device, "gpu_available", lambda: False)
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

    device.set_seed(7)
    a = np.random.rand(3), keras.random.normal((3,)).numpy()
    device.set_seed(7)
    b = np.random.rand(3), keras.random.normal((3,)).numpy()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_describe_names_preset_and_source(monkeypatch):
    monkeypatch.setenv(presets.ENV_VAR, "smoke")
    line = presets.describe()
    assert line.startswith("preset: smoke (from $DALLE_EDU_PRESET)")


# --- the one home of run sizes: presets.CHAPTERS, read by every notebook ----------------

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _code(path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "code")


def test_every_chapter_has_every_size_for_every_preset():
    assert presets.CHAPTERS, "no chapter sizes"
    for chapter, sizes in presets.CHAPTERS.items():
        assert re.fullmatch(r"\d\d", chapter), f"chapter keys are two digits: {chapter!r}"
        for name, values in sizes.items():
            assert name.isupper(), f"chapter {chapter}: size names are CONSTANTS, got {name!r}"
            assert isinstance(values, tuple) and len(values) == len(presets.NAMES), (
                f"chapter {chapter}, {name}: one value per preset {presets.NAMES}, got {values!r}")
        for name in presets.NAMES:
            H = presets.get(name).chapter(chapter)
            assert H.as_dict() == {k: v[presets.NAMES.index(name)] for k, v in sizes.items()}


def test_chapter_sizes_are_the_preset_s_column():
    H = presets.get("cpu").chapter("06")
    assert H.STEPS == presets.CHAPTERS["06"]["STEPS"][1]
    assert presets.get("smoke").chapter("06").STEPS < H.STEPS <= presets.get("gpu").chapter("06").STEPS


def test_unknown_chapter_or_size_is_a_clear_error():
    p = presets.get("cpu")
    with pytest.raises(ValueError) as err:
        p.chapter("99")
    assert "'99'" in str(err.value) and "06" in str(err.value)  # names the chapters that exist
    H = p.chapter("06")
    with pytest.raises(AttributeError) as err:
        H.STEP  # noqa: B018 (a misspelt size)
    assert "'STEP'" in str(err.value) and "STEPS" in str(err.value)  # lists the real ones


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_take_their_sizes_from_the_table(path):
    code = _code(path)
    assert ".pick(" not in code, (f"{path.name} still calls P.pick(...): move the sizes into "
                                  f"presets.CHAPTERS[{path.name[:2]!r}] and read them with P.chapter")
    chapter = path.name[:2]
    assert f'H = P.chapter("{chapter}")' in code, f"{path.name}: no H = P.chapter({chapter!r})"
    assert chapter in presets.CHAPTERS, f"{path.name}: presets.CHAPTERS has no {chapter!r}"
    used = set(re.findall(r"\bH\.([A-Z][A-Z0-9_]*)\b", code))
    table = set(presets.CHAPTERS[chapter])
    assert used <= table, f"{path.name} reads sizes the table lacks: {sorted(used - table)}"
    assert table <= used, f"presets.CHAPTERS[{chapter!r}] has sizes {path.name} never reads: {sorted(table - used)}"


def test_every_model_recipe_is_a_valid_config_of_its_class():
    """presets.MODELS holds each model's recipe per preset; every one passes its config's
    checks (known fields, types and ranges: configs.Config), so no preset names a field a
    config no longer has."""
    from dalle_edu import configs
    from dalle_edu.clip import ClipConfig
    from dalle_edu.t2i import DalleConfig, DiffusionConfig, T2IConfig

    classes = {"gan-labels": T2IConfig, "gan": T2IConfig, "dalle": DalleConfig,
               "diffusion": DiffusionConfig, "clip": ClipConfig}
    assert set(presets.MODELS) == set(classes)
    for model, cls in classes.items():
        assert issubclass(cls, configs.Config)
        for name in presets.NAMES:
            config = cls.for_preset(name, model=model)
            assert config.to_dict() == {**cls().to_dict(), **presets.MODELS[model][name]}
    assert T2IConfig.for_preset("cpu").to_dict() == T2IConfig.for_preset("cpu", model="gan-labels").to_dict()
    assert T2IConfig.RESUMABLE == ("steps",) and DalleConfig.RESUMABLE == ()
