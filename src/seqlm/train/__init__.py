"""Training recurrent LMs: settings, the truncated-BPTT loop, resumable checkpoints."""

from seqlm.lazy import lazy_exports

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
__getattr__ = lazy_exports(__name__, _NAMES)
