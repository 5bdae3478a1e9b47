"""Evaluation-time methods for a trained recurrent model: a neural cache, dynamic
evaluation and interpolation with an n-gram. Each leaves the trained weights alone and is
tuned on validation (`seqlm.evaltime.tune`), never on test."""

from seqlm.evaltime.cache import CachedLM, cached_log_probs, score_with_features
from seqlm.evaltime.dynamic import dynamic_log_probs
from seqlm.evaltime.interpolate import InterpolatedLM, best_weight

__all__ = [
    "CachedLM",
    "InterpolatedLM",
    "best_weight",
    "cached_log_probs",
    "dynamic_log_probs",
    "score_with_features",
]
