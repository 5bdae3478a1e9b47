"""Where a training run reports: `metrics.jsonl`, TensorBoard, and the progress bars.

Only rank 0 writes; the other ranks get a log that does nothing, so the trainer never asks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from tqdm import tqdm

from seqlm.io import SeqlmError
from seqlm.progress import bar
from seqlm.train.config import TrainConfig
from seqlm.train.resumable import Progress


class MetricsLog:
    """One JSON row per line in `out/metrics.jsonl`; with --tensorboard, its float values
    (but the wall time) as scalars too."""

    def __init__(self, out: Path, tensorboard: bool, main: bool):
        self.path = out / "metrics.jsonl" if main else None
        self.writer = None
        if tensorboard and main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise SeqlmError("--tensorboard needs the tensorboard package") from None
            self.writer = SummaryWriter(str(out / "tensorboard"))

    def write(self, row: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, float) and key not in ("wall",):
                    self.writer.add_scalar(key, value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def budget_bar(
    config: TrainConfig, progress: Progress, total_steps: int, enabled: bool
) -> tuple[tqdm, str]:
    """A bar whose total is the budget that will stop the run (tokens, time or steps), and
    its unit: "tok", "s" or "step". Off a terminal, plain status lines (`seqlm.progress`)."""
    desc = f"train {config.model.cell}"
    if config.max_tokens:
        initial = min(progress.tokens, config.max_tokens)
        return bar(config.max_tokens, desc, enabled, "tok", True, initial), "tok"
    if config.max_minutes:
        total, initial = round(config.max_minutes * 60, 1), round(progress.elapsed, 1)
        return bar(total, desc, enabled, "s", True, initial), "s"
    return bar(total_steps, desc, enabled, "step", False, progress.step), "step"


def valid_row(progress: Progress, result: dict, streams: int, tokens: int) -> dict:
    """The row of a validation: `result` is `summarize`'s, over `tokens` read as `streams`."""
    p = progress
    return {
        "type": "valid",
        "step": p.step,
        "epoch": p.epoch,
        "tokens": p.tokens,
        "wall": round(p.elapsed, 2),
        "eval_s": round(p.eval_s, 2),
        "valid_ppl": result["perplexity"],
        "valid_nats": result["nats_per_token"],
        "streams": streams,
        "valid_tokens": tokens,
    }


def summary(progress: Progress, stop: str) -> dict:
    """How a run ended, as `TrainResult` reports it."""
    p = progress
    return {
        "stop": stop,
        "steps": p.step,
        "tokens": p.tokens,
        "train_seconds": round(p.elapsed, 2),
        "eval_seconds": round(p.eval_s, 2),
        "best_valid_ppl": p.best_valid,
        "tokens_per_s": round(p.tokens / max(p.elapsed, 1e-9), 1),
    }


def validation_bar(tokens: int, enabled: bool) -> tqdm:
    return bar(tokens, "validate", enabled, "tok", True, leave=False)


class TrainInterval:
    """The steps since the last train row: their loss summed on the device (read back
    only when the row is written: one host sync in `log_every` steps), tokens and time."""

    def __init__(self, progress: Progress, device: torch.device):
        self.loss_sum = torch.zeros((), device=device)
        self.steps, self.tokens, self.elapsed = 0, progress.tokens, progress.elapsed

    def add(self, loss: torch.Tensor) -> None:
        self.loss_sum += loss
        self.steps += 1

    def row(self, progress: Progress, lr: float) -> tuple[dict, dict]:
        """The train row over the interval, which then starts afresh, and the bar's figures."""
        p = progress
        mean = (self.loss_sum / self.steps).item()
        speed = (p.tokens - self.tokens) / max(p.elapsed - self.elapsed, 1e-9)
        ppl = math.exp(min(mean, 50))
        self.loss_sum.zero_()
        self.steps, self.tokens, self.elapsed = 0, p.tokens, p.elapsed
        figures = {
            "loss": f"{mean:.3f}",
            "ppl": f"{ppl:.1f}",
            "tok_s": f"{speed:,.0f}",
            "lr": f"{lr:.2g}",
        }
        if p.history and p.history[-1]["valid_ppl"] is not None:
            figures["valid"] = f"{p.history[-1]['valid_ppl']:.1f}"
        row = {
            "type": "train",
            "step": p.step,
            "epoch": p.epoch,
            "tokens": p.tokens,
            "wall": round(p.elapsed, 2),
            "loss": round(mean, 5),
            "ppl": round(ppl, 3),
            "lr": lr,
            "tokens_per_s": round(speed, 1),
        }
        return row, figures
