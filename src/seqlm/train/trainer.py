"""Truncated backpropagation through time, with checkpoints that never lose work.

The loop (pytorch/examples' word_language_model, made resumable): the training stream is
laid out as B parallel streams; each step reads a window of `bptt` tokens per stream,
starting from the hidden state the previous window ended with, detached so gradients
stop at the window edge. The loss is accumulated on the device and read back only every
`log_every` steps, so the accelerator never waits for the host.

A model directory holds `model.safetensors` (the best weights by validation perplexity,
what `seqlm eval` loads) and `trainer.safetensors`, the resumable state (`resumable.py`):
a run killed at any instant resumes from its last checkpoint and ends exactly as an
uninterrupted run would. The directory itself is claimed and locked by `rundir.py`.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from seqlm.data.batching import Streams, TBPTTBatches
from seqlm.data.corpus import Corpus
from seqlm.evaluate import summarize
from seqlm.io import SeqlmError
from seqlm.nn.checkpoint import save_recurrent, write_model_config
from seqlm.nn.recurrent import RecurrentLM
from seqlm.train.asgd import WeightAverage, should_start_averaging
from seqlm.train.config import TrainConfig
from seqlm.train.devices import amp_dtype, pick_device
from seqlm.train.distributed import (
    agree,
    init_world,
    shard_columns,
)
from seqlm.train.resumable import restore, save_resumable
from seqlm.train.rundir import RunDirectory

log = logging.getLogger(__name__)

STOP_CODES = ["", "epochs", "max_steps", "early_stop", "budget", "interrupted", "max_tokens"]


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        corpus: Corpus,
        out: str | Path,
        resume: bool = False,
        progress: bool = False,
    ):
        if corpus.spec is None:
            raise SeqlmError("the corpus must come from load_corpus (it records its settings)")
        self.config, self.corpus, self.out = config, corpus, Path(out)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        if config.deterministic:  # warn_only: CUDA ops without a deterministic kernel still run
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.device = pick_device(config.device)
        self.world = init_world(self.device.type)
        if self.world.active and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        self.progress_bar = progress and self.world.main
        self.amp = amp_dtype(config, self.device)
        config.model.vocab_size = len(corpus.vocab)
        # dropout masks (different per rank); a resumed run restores the RNG state
        torch.manual_seed(config.seed + self.world.rank)
        self.model = RecurrentLM(config.model, corpus.vocab, config.backend)
        self.model.reset_parameters(config.seed)
        self.model.to(self.device)
        data = shard_columns(Streams(corpus["train"], config.batch_size), self.world)
        self.batches = TBPTTBatches(data, config.bptt, config.variable_bptt, config.seed)
        self.steps_per_epoch = len(self.batches)
        self.total_steps = config.epochs * self.steps_per_epoch
        if config.max_steps:
            self.total_steps = min(self.total_steps, config.max_steps)
        if config.max_tokens:  # the schedule ends where the token budget does
            per_step = config.batch_size * config.bptt
            self.total_steps = min(self.total_steps, -(-config.max_tokens // per_step))
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if "bias" in name or "embedding" in name else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if config.optimizer in ("sgd", "ntasgd"):
            self.optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.progress = {
            "step": 0,
            "epoch": 0,
            "window": 0,
            "tokens": 0,
            "elapsed": 0.0,
            "best_valid": None,
            "bad_evals": 0,
            "sgd_lr": config.lr,
            "history": [],
            "eval_s": 0.0,
        }
        self.hidden = None
        self.finite = torch.ones((), dtype=torch.bool, device=self.device)  # no NaN loss yet
        self.rundir = RunDirectory(self.out)
        if self.world.main:  # config.json first: the directory always says what it holds
            self.rundir.claim(
                lambda: write_model_config(self.out, self.model, self._config_extra()), resume
            )
        self.average: WeightAverage | None = None  # NT-ASGD, once averaging has started
        try:
            if resume:
                restore(self)
                if self.world.main:
                    self.rundir.trim_metrics(self.progress["step"])
        except BaseException:
            self.rundir.release()
            raise
        self.step_model = self.model
        if self.world.active:
            from torch.nn.parallel import DistributedDataParallel

            # the adaptive softmax leaves a tail cluster unused when no target falls in it
            self.step_model = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=bool(config.model.adaptive_cutoffs),
            )
        self.writer = None
        if config.tensorboard and self.world.main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise SeqlmError("--tensorboard needs the tensorboard package") from None
            self.writer = SummaryWriter(str(self.out / "tensorboard"))

    # -- schedule -----------------------------------------------------------------------
    def lr_at(self, step: int, window: int | None = None) -> float:
        """The lr of `step`; with --lr-by-window scaled by the window's length / bptt (AWD:
        a short window takes a proportionally small step)."""
        c = self.config
        if c.lr_by_window and window is not None:
            return self.lr_at(step) * window / c.bptt
        if c.optimizer in ("sgd", "ntasgd"):
            return self.progress["sgd_lr"]
        if step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        span = max(self.total_steps - c.warmup_steps, 1)
        progress = min((step - c.warmup_steps) / span, 1.0)
        if c.budget_schedule and c.max_minutes:  # the cosine ends with the time budget
            progress = max(progress, min(self._budget_spent() / (c.max_minutes * 60), 1.0))
        if c.decay_fraction:  # warmup-stable-decay: the cosine only over the last part
            progress = max(0.0, progress - (1 - c.decay_fraction)) / c.decay_fraction
        return c.lr * (
            c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        )

    # -- checkpoints --------------------------------------------------------------------
    def _config_extra(self) -> dict:
        return {"corpus": self.corpus.spec.to_json(), "train": self.config.to_json()}

    def check_finite(self, weights: bool = False) -> None:
        """Stop on a non-finite loss (flagged on the device at every step, read here: one
        host sync per log step or checkpoint) or, before a checkpoint, non-finite weights."""
        bad = not bool(self.finite.item())
        if weights and not bad:
            params = [p.detach().isfinite().all() for p in self.model.parameters()]
            bad = not bool(torch.stack(params).all().item())
        if not bad:
            return
        kept = (self.out / "trainer.safetensors").exists()
        where = (
            f"the last good checkpoint in {self.out} is kept (--resume retries from it)"
            if kept
            else "no checkpoint had been written yet"
        )
        raise SeqlmError(
            f"training loss became nan at step {self.progress['step']} or before; "
            f"stopped; {where}; try a lower --lr or --clip"
        )

    def save_resumable(self) -> None:
        """Every rank calls this (the hidden states and RNGs are gathered); rank 0 writes.
        Never with non-finite weights: a checkpoint is always one worth resuming."""
        self.check_finite(weights=True)
        save_resumable(self)

    # -- evaluation ---------------------------------------------------------------------
    def validate(self) -> float:
        """Validation (of the averaged weights once NT-ASGD averages); the best is saved."""
        self.check_finite(weights=True)
        averaged = self.average.swapped_in() if self.average is not None else nullcontext()
        with averaged:
            return self._validate()

    def _validate(self) -> float:
        valid = self.corpus["valid"]
        if self.config.eval_tokens:  # a fixed prefix: checks stay comparable with each other
            valid = valid[: self.config.eval_tokens]
        with tqdm(
            total=len(valid),
            unit="tok",
            unit_scale=True,
            desc="validate",
            leave=False,
            disable=not self.progress_bar or None,
            dynamic_ncols=True,
        ) as bar:
            log_probs = self.model.log_probs(
                valid, streams=self.config.eval_streams, progress=bar.update
            )
        result = summarize(log_probs, self.corpus.level)
        ppl = result["perplexity"]
        p = self.progress
        row = {
            "type": "valid",
            "step": p["step"],
            "epoch": p["epoch"],
            "tokens": p["tokens"],
            "wall": round(p["elapsed"], 2),
            "eval_s": round(p["eval_s"], 2),
            "valid_ppl": ppl,
            "valid_nats": result["nats_per_token"],
            "streams": self.config.eval_streams,
            "valid_tokens": len(valid),
        }
        self.log_row(row)
        earlier = [h["valid_ppl"] for h in p["history"] if h["valid_ppl"] is not None]
        p["history"].append({k: row[k] for k in ("step", "tokens", "wall", "eval_s", "valid_ppl")})
        p["last_eval_step"], p["last_eval_elapsed"] = p["step"], p["elapsed"]
        if ppl is not None and (p["best_valid"] is None or ppl < p["best_valid"]):
            p["best_valid"], p["bad_evals"] = ppl, 0
            if self.world.main:
                save_recurrent(self.model, self.out, self._config_extra())
        else:
            p["bad_evals"] += 1
            if self.config.optimizer == "sgd" and not self.config.decay_after_epoch:
                p["sgd_lr"] /= self.config.lr_decay
        if (
            self.config.optimizer == "ntasgd"
            and self.average is None
            and ppl is not None
            and should_start_averaging(earlier, ppl, self.config.asgd_nonmono)
        ):
            self.average = WeightAverage(list(self.model.parameters()))
            p["average_from_step"] = p["step"]
            log.info(
                "NT-ASGD: validation %.2f is worse than %d checks ago; averaging from step %d",
                ppl,
                self.config.asgd_nonmono,
                p["step"],
            )
        return ppl

    def log_row(self, row: dict) -> None:
        if not self.world.main:
            return
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, float) and key not in ("wall",):
                    self.writer.add_scalar(key, value, row["step"])

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> dict:
        c, p = self.config, self.progress
        self.out.mkdir(parents=True, exist_ok=True)
        interrupted = False

        def on_sigint(signum, frame):
            nonlocal interrupted
            interrupted = True

        # Ctrl-C and SIGTERM (schedulers, `docker stop`, `kill`) both save and stop
        previous = {sig: signal.signal(sig, on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)}
        autocast = torch.autocast(self.device.type, dtype=self.amp) if self.amp else nullcontext()
        bar = self._bar()
        loss_sum = torch.zeros((), device=self.device)
        loss_count, tokens_at_log, clock = 0, p["tokens"], time.perf_counter()
        wall_at_log = p["elapsed"]
        stop = ""
        self.model.train()
        try:
            while not stop and p["epoch"] < c.epochs:
                for window in self.batches.epoch(p["epoch"], skip=p["window"]):
                    if window.start == 0:
                        self.hidden = None
                    lr = self.lr_at(p["step"], window.inputs.shape[0])
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                    inputs, targets = window.inputs, window.targets
                    if self.device.type == "cuda":  # pinned, so the copies overlap compute
                        inputs, targets = inputs.pin_memory(), targets.pin_memory()
                    inputs = inputs.to(self.device, non_blocking=True)
                    targets = targets.to(self.device, non_blocking=True)
                    with autocast:
                        loss, hidden = self.step_model(
                            inputs, targets, RecurrentLM.detach_state(self.hidden)
                        )
                    self.scaler.scale(loss).backward()
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    if self.average is not None:
                        self.average.update()
                    self.optimizer.zero_grad(set_to_none=True)
                    self.hidden = RecurrentLM.detach_state(hidden)
                    loss_sum += loss.detach()
                    self.finite &= torch.isfinite(loss.detach())
                    loss_count += 1
                    p["step"] += 1
                    p["window"] = window.index + 1
                    p["tokens"] += inputs.numel() * self.world.size
                    now = time.perf_counter()
                    step_seconds, clock = now - clock, now
                    p["elapsed"] += step_seconds
                    done = {"tok": inputs.numel() * self.world.size, "s": step_seconds, "step": 1}[
                        self.bar_unit
                    ]
                    bar.update(min(done, max(bar.total - bar.n, 0)))  # the last step overshoots
                    if p["step"] % c.log_every == 0:
                        self.check_finite()
                        mean = (loss_sum / loss_count).item()
                        speed = (p["tokens"] - tokens_at_log) / max(
                            p["elapsed"] - wall_at_log, 1e-9
                        )
                        ppl = math.exp(min(mean, 50))
                        self.log_row(
                            {
                                "type": "train",
                                "step": p["step"],
                                "epoch": p["epoch"],
                                "tokens": p["tokens"],
                                "wall": round(p["elapsed"], 2),
                                "loss": round(mean, 5),
                                "ppl": round(ppl, 3),
                                "lr": lr,
                                "tokens_per_s": round(speed, 1),
                            }
                        )
                        bar.set_postfix(
                            loss=f"{mean:.3f}",
                            ppl=f"{ppl:.1f}",
                            tok_s=f"{speed:,.0f}",
                            lr=f"{lr:.2g}",
                        )
                        loss_sum.zero_()
                        loss_count, tokens_at_log, wall_at_log = 0, p["tokens"], p["elapsed"]
                    if self._validation_due():
                        self._validate_untimed()
                        clock = time.perf_counter()
                    if p["step"] % c.checkpoint_every == 0:
                        self.save_resumable()
                    stop = self._should_stop(interrupted)
                    if stop:
                        break
                else:  # the epoch ran to its end
                    p["epoch"] += 1
                    p["window"] = 0
                    if p.get("last_eval_step") != p["step"] and self._within_eval_share():
                        self._validate_untimed()
                        clock = time.perf_counter()
                    if (
                        c.optimizer == "sgd"
                        and c.decay_after_epoch
                        and p["epoch"] >= c.decay_after_epoch
                    ):
                        p["sgd_lr"] /= c.lr_decay
                    self.save_resumable()
                    stop = self._should_stop(interrupted)
            stop = stop or "epochs"
            if stop != "interrupted" and p.get("last_eval_step") != p["step"]:
                self._validate_untimed()  # the last weights too: with a schedule, often the best
            self.save_resumable()
        finally:
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.rundir.release()
            if self.writer is not None:
                self.writer.close()
        return {
            "stop": stop,
            "steps": p["step"],
            "tokens": p["tokens"],
            "train_seconds": round(p["elapsed"], 2),
            "eval_seconds": round(p["eval_s"], 2),
            "best_valid_ppl": p["best_valid"],
            "tokens_per_s": round(p["tokens"] / max(p["elapsed"], 1e-9), 1),
        }

    def _bar(self) -> tqdm:
        """A bar whose total is the budget that will stop the run: tokens, time or steps."""
        c, p = self.config, self.progress
        options = {
            "disable": not self.progress_bar or None,
            "dynamic_ncols": True,
            "desc": f"train {c.model.cell}",
        }
        self.bar_unit = "tok" if c.max_tokens else "s" if c.max_minutes else "step"
        if c.max_tokens:
            return tqdm(
                total=c.max_tokens,
                initial=min(p["tokens"], c.max_tokens),
                unit="tok",
                unit_scale=True,
                **options,
            )
        if c.max_minutes:
            return tqdm(
                total=round(c.max_minutes * 60, 1),
                initial=round(p["elapsed"], 1),
                unit="s",
                unit_scale=True,
                **options,
            )
        return tqdm(total=self.total_steps, initial=p["step"], unit="step", **options)

    def _within_eval_share(self) -> bool:
        """False when the check, costing what the last one did, would take validation past
        --eval-share of the wall time (then it is skipped); any rank over it skips for all.
        Room is kept for one more: the check of the last weights when the run stops."""
        c, p = self.config, self.progress
        if not c.eval_share:
            return True
        spent = p["eval_s"] + 2 * p.get("last_eval_s", 0.0)
        over = int(spent > c.eval_share * (p["elapsed"] + spent))
        return not agree(over, self.world, self.device)

    def _budget_spent(self) -> float:
        """Seconds counted against --max-minutes: training only, or with
        --budget-includes-eval its validation too plus one more check's worth (the check
        of the last weights when the run stops), so the whole run keeps to the budget."""
        p = self.progress
        if not self.config.budget_includes_eval:
            return p["elapsed"]
        return p["elapsed"] + p["eval_s"] + p.get("last_eval_s", 0.0)

    def _validation_due(self) -> bool:
        c, p = self.config, self.progress
        if c.eval_every and p["step"] % c.eval_every == 0:
            return self._within_eval_share()
        if not c.eval_minutes or p["step"] % c.log_every:  # time is checked at log steps
            return False
        late = p["elapsed"] - p.get("last_eval_elapsed", 0.0) >= c.eval_minutes * 60
        return bool(agree(int(late), self.world, self.device)) and self._within_eval_share()

    def _validate_untimed(self) -> None:
        """Validation time is kept apart from training time (the budget is for training,
        unless --budget-includes-eval)."""
        start = time.perf_counter()
        self.validate()
        self.model.train()
        self.progress["last_eval_s"] = time.perf_counter() - start
        self.progress["eval_s"] += self.progress["last_eval_s"]

    def _should_stop(self, interrupted: bool) -> str:
        reason = self._local_stop(interrupted)
        if not self.world.active:
            return reason
        # Budget and Ctrl-C differ between processes: agreed on at log steps only, so the
        # collective happens at the same step everywhere and all ranks stop together.
        if self.progress["step"] % self.config.log_every:
            return reason if reason in ("max_steps", "early_stop") else ""
        return STOP_CODES[agree(STOP_CODES.index(reason), self.world, self.device)]

    def _local_stop(self, interrupted: bool) -> str:
        c, p = self.config, self.progress
        if interrupted:
            return "interrupted"
        if c.max_steps and p["step"] >= c.max_steps:
            return "max_steps"
        if c.max_tokens and p["tokens"] >= c.max_tokens:
            return "max_tokens"
        if c.max_minutes and self._budget_spent() >= c.max_minutes * 60:
            return "budget"
        if c.patience and p["bad_evals"] >= c.patience:
            return "early_stop"
        return ""
