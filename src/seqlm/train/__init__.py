"""Training recurrent LMs: settings, the truncated-BPTT loop, resumable checkpoints."""

from seqlm.train.config import PRESETS, TrainConfig, make_config
from seqlm.train.trainer import Trainer, resume_settings

__all__ = ["PRESETS", "TrainConfig", "Trainer", "make_config", "resume_settings"]
