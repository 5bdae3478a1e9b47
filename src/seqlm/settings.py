"""One declaration per setting: a dataclass field carries its default, help, choices and range.

Every command's flags are made from these fields (`add_flags`, nested settings such as
`TrainConfig.model` flattened), TOML files and `config.json` are checked against them, and
`check` validates every value in one place: its type, its range and that it is finite. So a
setting is written once: the CLI reads the flags that were given (`given`), the library
builds the typed config from them, and the code that uses a setting reads its field.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

from seqlm.io import SeqlmError

# Upper bounds shared by several commands: a seed fits the 64 bits every RNG takes, and
# threads beyond a few per core only slow a run down (far beyond, the OS refuses them).
MAX_SEED = 2**63 - 1
MAX_THREADS = min(1024, max(64, 4 * (os.cpu_count() or 1)))


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
    flag: bool = True,
    alias: str | None = None,
    parse: Callable[[str], Any] | None = None,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with what a flag, a file and the validator need to know about it.
    `min`/`max` are inclusive bounds, `above`/`below` exclusive ones; `parse` reads the
    flag's text (and a string in a file) when the value has a notation of its own (1G)."""
    meta = {
        "parse": parse,
        "metavar": metavar,
        "help": help,
        "choices": choices,
        "min": min,
        "max": max,
        "above": above,
        "below": below,
        "flag": flag,
        "alias": alias,
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def optional(field: dataclasses.Field, owner: type) -> bool:
    """Whether the field's type admits None (`int | None`)."""
    return type(None) in typing.get_args(typing.get_type_hints(owner)[field.name])


def base_type(field: dataclasses.Field, owner: type) -> type:
    """int, float, bool, str or list for a field (Optional[...] unwrapped)."""
    hint = typing.get_type_hints(owner)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = args[0]
    return typing.get_origin(hint) or hint


_KIND_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    list: "a list of integers",
    tuple: "a list of numbers",
}


def _name(field: str) -> str:
    """How a setting is named in errors: as in a TOML file and on the command line."""
    return f"setting {field} (--{field.replace('_', '-')})"


def _coerce(name: str, value: Any, kind: type) -> Any:
    """The value as `kind`, accepting only lossless conversions (an int for a float)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (list, tuple) and isinstance(value, list | tuple):
        value = kind(value)
    wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if kind is list and not wrong:
        wrong = not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if wrong:
        raise SeqlmError(f"{_name(name)} must be {_KIND_NAMES[kind]}, got {value!r}")
    return value


def _range(m: dict) -> str:
    """'>= 1', '> 0', 'in [0, 1)', ... from a field's bounds."""
    low = (
        f"[{m['min']}"
        if m["min"] is not None
        else f"({m['above']}"
        if m["above"] is not None
        else None
    )
    high = (
        f"{m['max']}]"
        if m["max"] is not None
        else f"{m['below']})"
        if m["below"] is not None
        else None
    )
    if low and high:
        return f"in {low}, {high}"
    if low:
        return (">= " if low[0] == "[" else "> ") + low[1:]
    return ("<= " if high[-1] == "]" else "< ") + high[:-1]


def check(obj: Any) -> None:
    """Validate (and normalise) every field of a settings dataclass; one-line errors."""
    for f in dataclasses.fields(obj):
        if "help" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        if value is None and optional(f, type(obj)):
            continue
        if f.metadata.get("parse") and isinstance(value, str):
            value = _parsed(f, value)
        value = _coerce(f.name, value, base_type(f, type(obj)))
        setattr(obj, f.name, value)
        m = f.metadata
        if m["choices"] and value not in m["choices"]:
            raise SeqlmError(
                f"{_name(f.name)} must be one of {', '.join(map(str, m['choices']))}, got {value!r}"
            )
        for v in value if isinstance(value, list | tuple) else [value]:
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            if not math.isfinite(v):
                raise SeqlmError(f"{_name(f.name)} must be a finite number, got {v!r}")
            if (
                (m["min"] is not None and v < m["min"])
                or (m["max"] is not None and v > m["max"])
                or (m["above"] is not None and v <= m["above"])
                or (m["below"] is not None and v >= m["below"])
            ):
                raise SeqlmError(f"{_name(f.name)} must be {_range(m)}, got {v!r}")


def from_dict(cls: type, values: dict, where: str) -> Any:
    """Build `cls` from a dict (a TOML table, a config.json section), naming unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k.replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(values) - names)
    if unknown:
        names = ", ".join(n.encode("unicode_escape").decode() for n in unknown)  # one line
        raise SeqlmError(f"{where}: unknown settings {names}")
    obj = cls(**values)
    check(obj)
    return obj


def _parsed(field: dataclasses.Field, text: str) -> Any:
    try:
        return field.metadata["parse"](text)
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise SeqlmError(f"{_name(field.name)}: {e}") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.replace(" ", ",").split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _flag_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` as argparse wants it: a problem is a usage error (one line, exit 2)."""

    def read(text: str) -> Any:
        try:
            return parse(text)
        except SeqlmError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    read.__name__ = parse.__name__
    return read


def flag_fields(cls: type) -> Iterator[tuple[dataclasses.Field, type]]:
    """(field, its owner) for every setting of `cls` that has a flag, nested settings
    (a field whose type is itself a settings dataclass) flattened in place."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            yield from flag_fields(hints[field.name])
        elif field.metadata.get("flag"):
            yield field, cls


def add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per setting of `cls`, from its metadata. Defaults stay None, so that a
    command knows which flags were given (`given`) and layers them over presets and files."""
    for field, owner in flag_fields(cls):
        meta = field.metadata
        kind = base_type(field, owner)
        flags = ["--" + field.name.replace("_", "-")]
        if meta.get("alias"):
            flags.append("--" + meta["alias"])
        default = field.default if field.default is not dataclasses.MISSING else None
        shown = f" (default {default})" if default not in (None, False, "") else ""
        options: dict = {"dest": field.name, "default": None, "help": meta["help"] + shown}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = (
                _flag_type(meta["parse"])
                if meta.get("parse")
                else (_int_list if kind is list else kind)
            )
            if meta.get("choices"):
                options["choices"] = meta["choices"]
            else:
                default_metavar = {int: "N", float: "X", str: "TEXT", list: "N,N"}[kind]
                options["metavar"] = meta.get("metavar") or default_metavar
        parser.add_argument(*flags, **options)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings of `cls` whose flags were given on the command line."""
    values = {f.name: getattr(args, f.name, None) for f, _ in flag_fields(cls)}
    return {k: v for k, v in values.items() if v is not None}


def from_args(cls: type, args: argparse.Namespace) -> Any:
    """A flat settings dataclass from the flags that were given, the rest its defaults."""
    return from_dict(cls, given(args, cls), "flags")
