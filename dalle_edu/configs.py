"""One rule for every config dataclass of the package: unknown keys are an error.

A misspelt key (``widht=64``) silently ignored would train the wrong model; every
``*Config.from_dict`` goes through ``from_dict`` here and names the valid keys.
Standard library only (floor 1).
"""

from __future__ import annotations

import dataclasses


def from_dict(cls, d: dict):
    """``cls(**d)`` for a config dataclass; unknown keys -> one-line ``ValueError``."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(names))}")
    return cls(**d)
