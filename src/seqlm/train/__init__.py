"""Training recurrent LMs: settings, the truncated-BPTT loop, resumable checkpoints."""

import importlib

_NAMES = {
    "PRESETS": "seqlm.train.config",
    "TrainConfig": "seqlm.train.config",
    "make_config": "seqlm.train.config",
    "resume_config": "seqlm.train.resumable",
    "TrainResult": "seqlm.train.run",
    "train": "seqlm.train.run",
    "Trainer": "seqlm.train.trainer",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> object:
    """Each name imported from its module on first use, so that importing the package
    does not load torch."""
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
