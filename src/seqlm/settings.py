"""One declaration per setting: a dataclass field carries its default, help, choices and range.

The CLI builds its flags from these fields (`seqlm.cli.common.add_setting_flags`), TOML files
and `config.json` are checked against them, and `check` validates every value in one place:
its type, its range and that it is finite. So a setting is written once, and following
`--hidden` from the flag to the cell is one hop: the flag sets the field, the model reads it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from seqlm.errors import SeqlmError


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    min: float | None = None,
    max: float | None = None,
    below: float | None = None,
    flag: bool = True,
    alias: str | None = None,
) -> Any:
    """A dataclass field with what a flag, a file and the validator need to know about it.
    `min`/`max` are inclusive bounds, `below` an exclusive upper bound."""
    meta = {
        "help": help,
        "choices": choices,
        "min": min,
        "max": max,
        "below": below,
        "flag": flag,
        "alias": alias,
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def base_type(field: dataclasses.Field, owner: type) -> type:
    """int, float, bool, str or list for a field (Optional[...] unwrapped)."""
    hint = typing.get_type_hints(owner)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = args[0]
    return typing.get_origin(hint) or hint


def _coerce(name: str, value: Any, kind: type) -> Any:
    """The value as `kind`, accepting only lossless conversions (an int for a float)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (list, tuple) and isinstance(value, list | tuple):
        value = kind(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SeqlmError(f"setting {name!r} must be {kind.__name__}, got {value!r}")
    if kind is list and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise SeqlmError(f"setting {name!r} must be a list of integers, got {value!r}")
    return value


def check(obj: Any) -> None:
    """Validate (and normalise) every field of a settings dataclass; one-line errors."""
    for f in dataclasses.fields(obj):
        if "help" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        if value is None:
            continue
        value = _coerce(f.name, value, base_type(f, type(obj)))
        setattr(obj, f.name, value)
        m, flag = f.metadata, "--" + f.name.replace("_", "-")
        if m["choices"] and value not in m["choices"]:
            raise SeqlmError(
                f"{flag} must be one of {', '.join(map(str, m['choices']))}, got {value!r}"
            )
        numbers = value if isinstance(value, list) else [value]
        for v in numbers:
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            if not math.isfinite(v):
                raise SeqlmError(f"{flag} must be a finite number, got {v}")
            if m["min"] is not None and v < m["min"]:
                raise SeqlmError(f"{flag} must be at least {m['min']}, got {v}")
            if m["max"] is not None and v > m["max"]:
                raise SeqlmError(f"{flag} must be at most {m['max']}, got {v}")
            if m["below"] is not None and v >= m["below"]:
                raise SeqlmError(f"{flag} must be below {m['below']}, got {v}")


def from_dict(cls: type, values: dict, where: str) -> Any:
    """Build `cls` from a dict (a TOML table, a config.json section), naming unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k.replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SeqlmError(f"{where}: unknown settings {', '.join(unknown)}")
    obj = cls(**values)
    check(obj)
    return obj
