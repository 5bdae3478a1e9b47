"""Comparing models on one corpus: train (or reuse) each, score them on one yardstick,
rank them with paired significance (`run`), then the study `seqlm compare` and `seqlm
demo` print: the ranking, the long-range lab and the HTML report (`study`)."""

from seqlm.compare.run import (
    Budget,
    ModelSpec,
    compare,
    format_table,
    model_lock,
    parse_budget,
    parse_models,
)

__all__ = [
    "Budget",
    "ModelSpec",
    "compare",
    "format_table",
    "model_lock",
    "parse_budget",
    "parse_models",
]
