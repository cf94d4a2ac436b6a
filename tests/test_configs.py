"""Bad config values are stopped at the door: one line naming the field, its value and what is allowed.

Every field of every model's config is tried with a wrong type and, where it has bounds,
with values just outside them — through the API (the config class) and through the
command line (``dalle-edu train --set KEY=VALUE`` and ``--steps``), which must print
one line and exit 2 before anything is trained.
"""

import dataclasses
import typing

import pytest

from dalle_edu import cli, configs
from dalle_edu.clip import ClipConfig
from dalle_edu.models.transformer import TransformerConfig
from dalle_edu.models.vqvae import VQConfig
from dalle_edu.t2i import DalleConfig, DiffusionConfig, T2IConfig

CONFIGS = [T2IConfig, ClipConfig, DalleConfig, DiffusionConfig, VQConfig, TransformerConfig]


def _bad_values(cls):
    """(field, bad value, what the message must say) for every field of ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kinds, optional = configs._kinds(hints[f.name])
        wrong = {bool: "yes", int: "abc", float: "abc", str: 3, dict: 3}[kinds[0]]
        yield f.name, wrong, "must be"
        if int in kinds or float in kinds:
            yield f.name, [1], "must be"  # a list is never a number
        if int in kinds and float not in kinds:
            yield f.name, 2.5, "an integer"
        for bound, limit in f.metadata.get("bounds", {}).items():
            step = 1 if int in kinds and float not in kinds else 1e-3
            outside = {"gt": limit, "ge": limit - step, "lt": limit, "le": limit + step}[bound]
            yield f.name, outside, f"got {outside!r}"
        if f.metadata.get("choices"):
            yield f.name, "nonsense", "one of"
        if not optional and kinds[0] is not dict:
            yield f.name, None, "got None"


CASES = [(cls, *case) for cls in CONFIGS for case in _bad_values(cls)]


@pytest.mark.parametrize("cls, name, value, says", CASES,
                         ids=[f"{c.__name__}.{n}={v!r}" for c, n, v, _ in CASES])
def test_every_field_rejects_a_wrong_type_and_values_out_of_range(cls, name, value, says):
    with pytest.raises(ValueError) as err:
        cls(**{name: value})
    message = str(err.value)
    assert "\n" not in message
    assert f"{cls.__name__}.{name} must be" in message and says in message, message


def test_a_good_config_round_trips_and_unknown_keys_name_the_valid_ones():
    for cls in CONFIGS:
        config = cls()
        assert cls.from_dict(config.to_dict()) == config
        with pytest.raises(ValueError, match=r"unknown .* keys: widht; valid: "):
            cls.from_dict({"widht": 64})


def test_an_int_where_a_float_is_asked_becomes_a_float():
    assert T2IConfig(lr=1).lr == 1.0 and isinstance(T2IConfig(lr=1).lr, float)
    assert DalleConfig(top_k=None).top_k is None  # optional fields take None


def test_the_shipped_recipes_are_valid_configs():
    for preset in ("smoke", "cpu", "gpu"):
        for model in ("gan-labels", "gan"):
            T2IConfig.for_preset(preset, model=model)
        DalleConfig.for_preset(preset).vq_config()
        DiffusionConfig.for_preset(preset).vq_config()
        ClipConfig.for_preset(preset)


@pytest.mark.parametrize("argv, says", [
    (["--set", "steps=abc"], "T2IConfig.steps must be an integer > 0, got 'abc'"),
    (["--set", "lr=-1"], "T2IConfig.lr must be a number > 0, got -1"),
    (["--set", "batch_size=-1"], "T2IConfig.batch_size must be an integer > 0, got -1"),
    (["--set", "width=0"], "T2IConfig.width must be an integer > 0, got 0"),
    (["--set", "ema=1"], "T2IConfig.ema must be a number in [0, 1), got 1"),
    (["--set", "matching_aware=maybe"], "T2IConfig.matching_aware must be true or false"),
    (["--steps", "0"], "T2IConfig.steps must be an integer > 0, got 0"),
    (["--steps", "-5"], "T2IConfig.steps must be an integer > 0, got -5"),
    (["--steps", "700"], "steps must be a multiple of 500"),
    (["--model", "gan", "--set", "contrastive_weight=-1"], "T2IConfig.contrastive_weight must be"),
    (["--model", "dalle", "--set", "heads=0"], "DalleConfig.heads must be an integer > 0, got 0"),
    (["--model", "dalle", "--set", "partial=1.5"], "DalleConfig.partial must be a number in [0, 1], got 1.5"),
    (["--model", "dalle", "--set", "tokenizer={\"decay\": 1}"], "VQConfig.decay must be"),
    (["--model", "clip", "--set", "text=lstm"], "ClipConfig.text must be one of 'bow', 'attention'"),
    (["--model", "diffusion", "--set", "p_uncond=1.5"], "DiffusionConfig.p_uncond must be a number in [0, 1], got 1.5"),
    (["--model", "diffusion", "--set", "schedule=quadratic"], "DiffusionConfig.schedule must be one of 'cosine', 'linear'"),
    (["--model", "diffusion", "--set", "guidance=-1"], "DiffusionConfig.guidance must be a number >= 0, got -1"),
    (["--model", "diffusion", "--set", "sample_steps=0"], "DiffusionConfig.sample_steps must be an integer > 0, got 0"),
    (["--model", "diffusion", "--steps", "0"], "DiffusionConfig.steps must be an integer > 0, got 0"),
])
def test_bad_values_on_the_command_line_are_one_line_errors_before_training(argv, says, capsys,
                                                                              tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--preset", "smoke", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dalle-edu: error: ") and "\n" not in err and says in err, err
    assert not (out / "checkpoints").exists()  # nothing was trained
