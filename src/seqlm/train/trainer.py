"""Truncated backpropagation through time, with checkpoints that never lose work.

The loop (pytorch/examples' word_language_model, made resumable): the training stream is
laid out as B parallel streams; each step reads a window of `bptt` tokens per stream,
starting from the hidden state the previous window ended with, detached so gradients
stop at the window edge. The loss is accumulated on the device and read back only every
`log_every` steps, so the accelerator never waits for the host.

A model directory holds `model.safetensors` (the best weights by validation perplexity,
what `seqlm eval` loads) and `trainer.safetensors`, the resumable state (its format in
`resumable.py`): a run killed at any instant resumes from its last checkpoint and ends
exactly as an uninterrupted run would. The directory itself is claimed and locked by
`rundir.py`; the metrics and progress bars are `metrics.py`'s.
"""

from __future__ import annotations

import logging
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from seqlm.data.batching import Streams, TBPTTBatches, Window
from seqlm.data.corpus import Corpus
from seqlm.evaluate import summarize
from seqlm.io import SeqlmError
from seqlm.nn.build import build_model
from seqlm.nn.checkpoint import save_recurrent, write_model_config
from seqlm.train.asgd import WeightAverage
from seqlm.train.config import TrainConfig
from seqlm.train.devices import amp_dtype, pick_device
from seqlm.train.distributed import agree, gather_columns, gather_cpu, init_world, shard_columns
from seqlm.train.metrics import (
    MetricsLog,
    TrainInterval,
    budget_bar,
    summary,
    valid_row,
    validation_bar,
)
from seqlm.train.resumable import CHECKPOINT, Checkpoint, Progress, pack_optimizer
from seqlm.train.rundir import RunDirectory
from seqlm.train.schedule import (
    Stop,
    decay_after_epoch,
    local_stop,
    lr_at,
    over_eval_share,
    record_validation,
    total_steps,
    validation_late,
)

log = logging.getLogger(__name__)


class Trainer:
    """One run in one directory: `run()` trains it, from scratch or (`resume=True`) from
    the checkpoint there. The settings are fixed once the trainer is built."""

    def __init__(
        self,
        config: TrainConfig,
        corpus: Corpus,
        out: str | Path,
        resume: bool = False,
        progress: bool = False,
        overwrite: bool = False,
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
        self.model = build_model(config.model, corpus.vocab, config.backend)
        self.model.reset_parameters(config.seed)
        self.model.to(self.device)
        data = shard_columns(Streams(corpus["train"], config.batch_size), self.world)
        self.batches = TBPTTBatches(data, config.bptt, config.variable_bptt, config.seed)
        self.steps_per_epoch = len(self.batches)
        self.total_steps = total_steps(config, self.steps_per_epoch)
        self.optimizer = self._optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.progress = Progress(sgd_lr=config.lr)
        self.hidden = None
        self.finite = torch.ones((), dtype=torch.bool, device=self.device)  # no NaN loss yet
        self.rundir = RunDirectory(self.out)
        if self.world.main:  # config.json first: the directory always says what it holds
            self.rundir.claim(
                lambda: write_model_config(self.out, self.model, self._config_extra()),
                resume,
                overwrite,
            )
        self.average: WeightAverage | None = None  # NT-ASGD, once averaging has started
        try:
            if resume:
                self.restore()
                if self.world.main:
                    self.rundir.trim_metrics(self.progress.step)
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
        self.metrics = MetricsLog(self.out, config.tensorboard, self.world.main)

    def _optimizer(self) -> torch.optim.Optimizer:
        """Weight decay on the weight matrices only, not on biases, gains and embeddings."""
        c, decay, no_decay = self.config, [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.dim() < 2 or "embedding" in name else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": c.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if c.optimizer in ("sgd", "ntasgd"):
            return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum)
        return torch.optim.AdamW(groups, lr=c.lr, betas=(0.9, 0.99))

    # -- schedule -----------------------------------------------------------------------
    def lr_at(self, step: int, window: int | None = None) -> float:
        """The lr of `step` (of a window `window` tokens long): `schedule.lr_at`'s."""
        return lr_at(self.config, self.progress, self.total_steps, step, window)

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> dict:
        """Train until a budget, the epochs, early stopping or a signal stops the run; then
        validate the last weights and save. Returns the summary `TrainResult` reports."""
        p = self.progress
        self.out.mkdir(parents=True, exist_ok=True)
        self._interrupted = False
        # Ctrl-C and SIGTERM (schedulers, `docker stop`, `kill`) both save and stop
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self._autocast = (
            torch.autocast(self.device.type, dtype=self.amp) if self.amp else nullcontext()
        )
        self.bar, self.bar_unit = budget_bar(self.config, p, self.total_steps, self.progress_bar)
        self._since = TrainInterval(p, self.device)
        self._clock = time.perf_counter()
        stop = Stop.NONE
        self.model.train()
        try:
            while stop is Stop.NONE and p.epoch < self.config.epochs:
                stop = self._run_epoch()
            if stop is Stop.NONE:
                stop = Stop.EPOCHS
            if stop is not Stop.INTERRUPTED and p.last_eval_step != p.step:
                self._validate_untimed()  # the last weights too: with a schedule, often the best
            self.save_resumable()
        finally:
            self.bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.rundir.release()
            self.metrics.close()
            # DDP's reducer holds the process group: let it go before the group is destroyed
            self.step_model = self.model
        return summary(p, stop.value)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._interrupted = True  # acted on after the step in flight

    def _run_epoch(self) -> Stop:
        """The rest of the current epoch, window by window, then its end."""
        c, p = self.config, self.progress
        for window in self.batches.epoch(p.epoch, skip=p.window):
            self._train_step(window)
            if p.step % c.log_every == 0:
                self._log_train()
            if self._validation_due():
                self._validate_untimed()
            if p.step % c.checkpoint_every == 0:
                self.save_resumable()
            stop = self._should_stop()
            if stop is not Stop.NONE:
                return stop
        return self._end_epoch()

    def _train_step(self, window: Window) -> None:
        """One optimizer step on one window, from the hidden state the last one ended with."""
        c, p = self.config, self.progress
        if window.start == 0:
            self.hidden = None
        self._lr = self.lr_at(p.step, window.inputs.shape[0])
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr
        inputs, targets = window.inputs, window.targets
        if self.device.type == "cuda":  # pinned, so the copies overlap compute
            inputs, targets = inputs.pin_memory(), targets.pin_memory()
        inputs = inputs.to(self.device, non_blocking=True)
        targets = targets.to(self.device, non_blocking=True)
        with self._autocast:
            loss, hidden = self.step_model(inputs, targets, self.model.detach_state(self.hidden))
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.average is not None:
            self.average.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.hidden = self.model.detach_state(hidden)
        self._since.add(loss.detach())
        self.finite &= torch.isfinite(loss.detach())
        tokens = inputs.numel() * self.world.size
        p.step, p.window, p.tokens = p.step + 1, window.index + 1, p.tokens + tokens
        now = time.perf_counter()
        seconds, self._clock = now - self._clock, now
        p.elapsed += seconds
        done = {"tok": tokens, "s": seconds, "step": 1}[self.bar_unit]
        self.bar.update(min(done, max(self.bar.total - self.bar.n, 0)))  # the last overshoots

    def _log_train(self) -> None:
        """A train row and the bar's figures, over the steps since the last row."""
        self.check_finite()
        row, figures = self._since.row(self.progress, self._lr)
        self.metrics.write(row)
        self.bar.set_postfix(**figures)

    def _end_epoch(self) -> Stop:
        """An epoch ran to its end: validate unless just done, SGD's per-epoch decay, save."""
        c, p = self.config, self.progress
        p.epoch, p.window = p.epoch + 1, 0
        if p.last_eval_step != p.step and self._within_eval_share():
            self._validate_untimed()
        decay_after_epoch(c, p)
        self.save_resumable()
        return self._should_stop()

    # -- validation ---------------------------------------------------------------------
    def _validation_due(self) -> bool:
        c, p = self.config, self.progress
        if c.eval_every and p.step % c.eval_every == 0:
            return self._within_eval_share()
        if not c.eval_minutes or p.step % c.log_every:  # time is checked at log steps
            return False
        late = validation_late(c, p)
        return bool(agree(int(late), self.world, self.device)) and self._within_eval_share()

    def _within_eval_share(self) -> bool:
        """False when the check, costing what the last one did, would take validation past
        --eval-share of the wall time (then it is skipped); any rank over it skips for all.
        Room is kept for one more: the check of the last weights when the run stops."""
        over = over_eval_share(self.config, self.progress)
        return not agree(int(over), self.world, self.device)

    def _validate_untimed(self) -> None:
        """Validation time is kept apart from training time (the budget is for training,
        unless --budget-includes-eval): the step clock restarts after it."""
        p, start = self.progress, time.perf_counter()
        self.validate()
        self.model.train()
        p.last_eval_s = time.perf_counter() - start
        p.eval_s += p.last_eval_s
        self._clock = time.perf_counter()

    def validate(self) -> float:
        """Validation (of the averaged weights once NT-ASGD averages); the best is saved."""
        self.check_finite(weights=True)
        averaged = self.average.swapped_in() if self.average is not None else nullcontext()
        with averaged:
            return self._validate()

    def _validate(self) -> float:
        c, p = self.config, self.progress
        valid = self.corpus["valid"]
        if c.eval_tokens:  # a fixed prefix: checks stay comparable with each other
            valid = valid[: c.eval_tokens]
        with validation_bar(len(valid), self.progress_bar) as bar:
            log_probs = self.model.log_probs(valid, streams=c.eval_streams, progress=bar.update)
        row = valid_row(p, summarize(log_probs, self.corpus.level), c.eval_streams, len(valid))
        ppl = row["valid_ppl"]
        self.metrics.write(row)
        best, start_averaging = record_validation(c, p, row, self.average is not None)
        if best and self.world.main:
            save_recurrent(self.model, self.out, self._config_extra())
        if start_averaging:
            self.average = WeightAverage(list(self.model.parameters()))
            p.average_from_step = p.step
            log.info(
                "NT-ASGD: validation %.2f is worse than %d checks ago; averaging from step %d",
                ppl,
                c.asgd_nonmono,
                p.step,
            )
        return ppl

    # -- stopping -----------------------------------------------------------------------
    def _should_stop(self) -> Stop:
        reason = self._local_stop(self._interrupted)
        if not self.world.active:
            return reason
        # Budget and Ctrl-C differ between processes: agreed on at log steps only, so the
        # collective happens at the same step everywhere and all ranks stop together.
        if self.progress.step % self.config.log_every:
            return reason if reason in (Stop.MAX_STEPS, Stop.EARLY_STOP) else Stop.NONE
        codes = list(Stop)
        return codes[agree(codes.index(reason), self.world, self.device)]

    def _local_stop(self, interrupted: bool) -> Stop:
        return local_stop(self.config, self.progress, interrupted)

    def check_finite(self, weights: bool = False) -> None:
        """Stop on a non-finite loss (flagged on the device at every step, read here: one
        host sync per log step or checkpoint) or, before a checkpoint, non-finite weights."""
        bad = not bool(self.finite.item())
        if weights and not bad:
            params = [p.detach().isfinite().all() for p in self.model.parameters()]
            bad = not bool(torch.stack(params).all().item())
        if not bad:
            return
        where = (
            f"the last good checkpoint in {self.out} is kept (--resume retries from it)"
            if (self.out / CHECKPOINT).exists()
            else "no checkpoint had been written yet"
        )
        raise SeqlmError(
            f"training loss became nan at step {self.progress.step} or before; "
            f"stopped; {where}; try a lower --lr or --clip"
        )

    # -- checkpoints --------------------------------------------------------------------
    def _config_extra(self) -> dict:
        return {"corpus": self.corpus.spec.to_json(), "train": self.config.to_json()}

    def save_resumable(self) -> None:
        """Every rank calls this (the hidden states and RNGs are gathered); rank 0 writes.
        Never with non-finite weights: a checkpoint is always one worth resuming."""
        self.check_finite(weights=True)
        flat = self.model.flatten_state(self.hidden)
        hidden = [gather_columns(t, self.world, dim=0) for t in flat]
        rngs = gather_cpu(torch.get_rng_state(), self.world, self.device)
        if not self.world.main:
            return
        tensors = {f"model.{k}": v for k, v in self.model.canonical_state().items()}
        optim, groups = pack_optimizer(self.optimizer.state_dict())
        tensors.update(optim)
        tensors.update({f"hidden.{i}": t for i, t in enumerate(hidden)})
        if self.average is not None:
            tensors.update(self.average.tensors())
            self.progress.average_count = self.average.count
        tensors["rng.cpu"] = rngs[0]
        tensors.update({f"rng.cpu.{rank}": rng for rank, rng in enumerate(rngs[1:], 1)})
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        scaler = self.scaler.state_dict() if self.scaler.is_enabled() else None
        Checkpoint(tensors, self.progress, groups, self.world.size, scaler).write(self.out)
        if not (self.out / "model.safetensors").exists():  # nothing evaluated yet
            save_recurrent(self.model, self.out, self._config_extra())
        else:
            write_model_config(self.out, self.model, self._config_extra())

    def restore(self) -> None:
        """The run's state as the last checkpoint left it, on this rank."""
        saved = Checkpoint.read(self.out)
        self.model.load_canonical(saved.with_prefix("model."))
        current = self.optimizer.state_dict()
        self.optimizer.load_state_dict(saved.optimizer_state(current, self.device))
        if saved.scaler and self.scaler.is_enabled():
            self.scaler.load_state_dict(saved.scaler)
        per_rank = self.config.batch_size // self.world.size
        rows = slice(self.world.rank * per_rank, (self.world.rank + 1) * per_rank)
        hidden = [h[rows].contiguous().to(self.device) for h in saved.hidden()]  # this rank's
        self.hidden = self.model.unflatten_state(hidden)
        rank = self.world.rank
        rng = saved.tensors.get("rng.cpu" if rank == 0 else f"rng.cpu.{rank}")
        if saved.world_size == self.world.size and rng is not None:
            torch.set_rng_state(rng)
        else:  # resumed on another number of processes: dropout masks are drawn afresh
            torch.manual_seed(self.config.seed + rank + 7919 * saved.progress.step)
        if "rng.cuda" in saved.tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(saved.tensors["rng.cuda"], self.device)
        self.progress = saved.progress
        if "average.0" in saved.tensors:
            self.average = WeightAverage(list(self.model.parameters()))
            self.average.load(saved.tensors, self.progress.average_count)
