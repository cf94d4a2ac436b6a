"""``Config``: one base for every model's config — unknown keys and bad values stopped at the door.

nanoGPT's one config per model, checked the moment it is made::

    @dataclasses.dataclass
    class ClipConfig(configs.Config):
        PRESET_MODEL = "clip"              # its row in presets.MODELS
        steps: int = configs.field(1_200, gt=0)
        text: str = configs.field("bow", choices=("bow", "attention"))

    ClipConfig.for_preset("cpu", steps=600)   # the preset's recipe, overrides on top
    ClipConfig(steps="abc")   # ValueError: ClipConfig.steps must be an integer > 0, got 'abc'

Every field is checked against its annotation (``int``, ``float``, ``bool``, ``str``,
``dict``, ``X | None``) and the bounds given in ``field`` — one line naming the field,
its value and what is allowed, never a traceback from deep inside Keras later. A
misspelt key (``widht=64``) is an error that lists the valid ones. Standard library only
(floor 1).
"""

from __future__ import annotations

import dataclasses
import math
import operator
import types
import typing
from typing import ClassVar

__all__ = ["Config", "field", "from_dict"]

_BOUNDS = {"gt": (">", operator.gt), "ge": (">=", operator.ge), "lt": ("<", operator.lt),
           "le": ("<=", operator.le)}
_TYPES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
          dict: "a dict"}


def field(default=dataclasses.MISSING, *, gt=None, ge=None, lt=None, le=None, choices=None,
          default_factory=dataclasses.MISSING):
    """A dataclass field with the bounds ``Config`` checks: ``field(64, gt=0)``,
    ``field(0.25, ge=0, le=1)``, ``field("hinge", choices=losses.NAMES)``."""
    bounds = {k: v for k, v in dict(gt=gt, ge=ge, lt=lt, le=le).items() if v is not None}
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"bounds": bounds, "choices": choices})


def _kinds(hint):
    """``int | None`` -> ((int,), True): the allowed base types and whether None is."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    args = typing.get_args(hint) if union else (hint,)
    kinds = tuple(typing.get_origin(a) or a for a in args if a is not type(None))
    return kinds, type(None) in args


def _check(cls_name, name, value, hint, meta):
    """The value, converted (an int where a float is asked), or a one-line ``ValueError``."""
    kinds, optional = _kinds(hint)
    if value is None and optional:
        return None
    bounds, choices = meta.get("bounds", {}), meta.get("choices")
    what = " or ".join(_TYPES.get(k, k.__name__) for k in kinds)
    low, high = [(k, b) for k, b in bounds.items() if k in ("gt", "ge")], \
        [(k, b) for k, b in bounds.items() if k in ("lt", "le")]
    if low and high:  # an interval: [0, 1), (0, 1]
        (lk, lo), (hk, hi) = low[0], high[0]
        what += f" in {'[' if lk == 'ge' else '('}{lo}, {hi}{']' if hk == 'le' else ')'}"
    else:
        what += "".join(f" {_BOUNDS[k][0]} {b}" for k, b in bounds.items())
    if choices:
        what = "one of " + ", ".join(map(repr, choices))
    if optional:
        what += " (or null)"
    ok = False
    if bool in kinds:
        ok = isinstance(value, bool)
    if not ok and int in kinds and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok and float in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        ok, value = math.isfinite(value), (float(value) if int not in kinds else value)
    if not ok:
        ok = any(isinstance(value, k) for k in kinds if k not in (bool, int, float))
    ok = ok and (choices is None or value in choices)
    ok = ok and all(_BOUNDS[k][1](value, b) for k, b in bounds.items())
    if not ok:
        raise ValueError(f"{cls_name}.{name} must be {what}, got {value!r}")
    return value


@dataclasses.dataclass
class Config:
    """Base of every config dataclass: checks at construction; presets; dict round trip.

    ``PRESET_MODEL``: the config's row in ``presets.MODELS`` (``for_preset``);
    ``RESUMABLE``: the fields a resumed run may change (``trainer.start_run``).
    """

    PRESET_MODEL: ClassVar[str | None] = None
    RESUMABLE: ClassVar[tuple] = ()

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _check(type(self).__name__, f.name, getattr(self, f.name), hints[f.name],
                           f.metadata)
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_dict(cls, d: dict):
        """``cls(**d)``; unknown keys and bad values -> one-line ``ValueError``."""
        return from_dict(cls, d)

    @classmethod
    def for_preset(cls, name: str | None = None, model: str | None = None, **overrides):
        """Model ``model``'s recipe (default ``PRESET_MODEL``) for preset ``name`` (default:
        the detected one), ``overrides`` on top."""
        from dalle_edu import presets

        preset = presets.get(name) if name is not None else presets.current()
        return cls.from_dict({**preset.models[model or cls.PRESET_MODEL], **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def from_dict(cls, d: dict):
    """``cls(**d)`` for a config dataclass; unknown keys -> one-line ``ValueError``."""
    if not isinstance(d, dict):
        raise ValueError(f"a {cls.__name__} is read from a dict of its fields, got {d!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(names))}")
    return cls(**d)
