"""Training recurrent LMs: settings, the truncated-BPTT loop, resumable checkpoints."""

from seqlm.train.config import PRESETS, TrainConfig, make_config
from seqlm.train.resumable import resume_config
from seqlm.train.run import TrainResult, train
from seqlm.train.trainer import Trainer

__all__ = [
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "make_config",
    "resume_config",
    "train",
]
