"""Argument checks at the Python API's boundary: a wrong type is a `TypeError` that names
the accepted types, a value out of range a `SeqlmError`, raised before any work, instead
of an error from deep inside numpy or torch (or, worse, a silently wrong answer)."""

from __future__ import annotations

import math
from numbers import Integral, Real

from seqlm.io import SeqlmError


def text(value: object, name: str = "text") -> str:
    """A string, or a list/tuple of sentences (strings), each its own line."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        bad = next((s for s in value if not isinstance(s, str)), None)
        if bad is None:
            return "".join(s if s.endswith("\n") else s + "\n" for s in value)
        raise TypeError(
            f"{name}: every sentence must be a string, not {type(bad).__name__} ({bad!r:.40})"
        )
    raise TypeError(
        f"{name} must be a string or a list/tuple of sentences (strings), "
        f"not {type(value).__name__}"
    )


def string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    return value


def integer(value: object, name: str, low: int | None = None, optional: bool = False) -> int:
    """An int (numpy's too; bool is refused: True is no count) of at least `low`."""
    if value is None and optional:
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, Integral):
        kind = "an integer or None" if optional else "an integer"
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}")
    if low is not None and value < low:
        raise SeqlmError(f"{name} must be >= {low}, got {value}")
    return int(value)


def number(value: object, name: str, optional: bool = False) -> float:
    """A finite real number (ranges are the caller's)."""
    if value is None and optional:
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "a number or None" if optional else "a number"
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise SeqlmError(f"{name} must be a finite number, got {value}")
    return float(value)
