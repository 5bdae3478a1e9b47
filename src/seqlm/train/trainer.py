"""Truncated backpropagation through time, with checkpoints that never lose work.

The loop (pytorch/examples' word_language_model, made resumable): the training stream is
laid out as B parallel streams; each step reads a window of `bptt` tokens per stream,
starting from the hidden state the previous window ended with, detached so gradients
stop at the window edge. The loss is accumulated on the device and read back only every
`log_every` steps, so the accelerator never waits for the host.

A model directory holds `model.safetensors` (the best weights by validation perplexity,
what `seqlm eval` loads) and `trainer.safetensors` (latest weights, optimizer, hidden
state, RNG state and data position, with the progress as JSON metadata: one file, written
atomically, so a run killed at any instant resumes from its last checkpoint and ends
exactly as an uninterrupted run would).
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
from safetensors import safe_open
from tqdm import tqdm

from seqlm.data.batching import Streams, TBPTTBatches
from seqlm.data.corpus import Corpus
from seqlm.data.spec import CorpusSpec
from seqlm.errors import SeqlmError
from seqlm.evaluate import summarize
from seqlm.io import atomic_write_text
from seqlm.modeldir import read_config
from seqlm.nn.checkpoint import load_tensors, save_recurrent, save_tensors, write_model_config
from seqlm.nn.recurrent import RecurrentLM
from seqlm.train.asgd import WeightAverage, should_start_averaging
from seqlm.train.config import TrainConfig
from seqlm.train.distributed import (
    agree,
    gather_columns,
    gather_cpu,
    init_world,
    shard_columns,
)

log = logging.getLogger(__name__)

STOP_CODES = ["", "epochs", "max_steps", "early_stop", "budget", "interrupted"]


def pick_device(name: str) -> torch.device:
    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise SeqlmError("--device cuda requested but CUDA is not available")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if config.amp == "none" or (config.amp == "auto" and device.type != "cuda"):
        return None
    if config.amp == "fp16" or (config.amp == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


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
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if "bias" in name or "embedding" in name else decay).append(p)
        groups = [{"params": decay, "weight_decay": config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]  # fmt: skip
        if config.optimizer in ("sgd", "ntasgd"):
            self.optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.progress = {
            "step": 0, "epoch": 0, "window": 0, "tokens": 0, "elapsed": 0.0,
            "best_valid": None, "bad_evals": 0, "sgd_lr": config.lr, "history": [], "eval_s": 0.0,
        }  # fmt: skip
        self.hidden = None
        self.average: WeightAverage | None = None  # NT-ASGD, once averaging has started
        if resume:
            self._restore()
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
            progress = max(progress, min(self.progress["elapsed"] / (c.max_minutes * 60), 1.0))
        if c.decay_fraction:  # warmup-stable-decay: the cosine only over the last part
            progress = max(0.0, progress - (1 - c.decay_fraction)) / c.decay_fraction
        return c.lr * (
            c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        )

    # -- checkpoints --------------------------------------------------------------------
    def _config_extra(self) -> dict:
        return {"corpus": self.corpus.spec.to_json(), "train": self.config.to_json()}

    def save_resumable(self) -> None:
        """Every rank calls this (the hidden states and RNGs are gathered); rank 0 writes."""
        hidden = [gather_columns(t, self.world, dim=0) for t in self.model.flatten_state(self.hidden)]
        rngs = gather_cpu(torch.get_rng_state(), self.world, self.device)
        if not self.world.main:
            return
        tensors = {f"model.{k}": v for k, v in self.model.canonical_state().items()}
        opt = self.optimizer.state_dict()
        for index, state in opt["state"].items():
            for key, value in state.items():
                tensors[f"optim.{index}.{key}"] = torch.as_tensor(value)
        for i, t in enumerate(hidden):
            tensors[f"hidden.{i}"] = t
        if self.average is not None:
            tensors.update(self.average.tensors())
            self.progress["average_count"] = self.average.count
        tensors["rng.cpu"] = rngs[0]
        for rank, rng in enumerate(rngs[1:], 1):
            tensors[f"rng.cpu.{rank}"] = rng
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        groups = [{k: v for k, v in g.items() if k != "params"} for g in opt["param_groups"]]
        meta = {"progress": self.progress, "param_groups": groups, "world_size": self.world.size,
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None}  # fmt: skip
        save_tensors(self.out / "trainer.safetensors", tensors,
                     {"trainer": json.dumps(meta)})  # fmt: skip
        atomic_write_text(self.out / "trainer.json", json.dumps(meta["progress"], indent=2))
        if not (self.out / "model.safetensors").exists():  # nothing evaluated yet
            save_recurrent(self.model, self.out, self._config_extra())
        else:
            write_model_config(self.out, self.model, self._config_extra())

    def _restore(self) -> None:
        path = self.out / "trainer.safetensors"
        tensors = load_tensors(path)
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("trainer", "{}"))
        if "progress" not in meta:
            raise SeqlmError(f"{path}: no training progress recorded")
        self.model.load_canonical({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        opt = self.optimizer.state_dict()
        state: dict = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value.to(self.device)
        for group, saved in zip(opt["param_groups"], meta["param_groups"], strict=True):
            group.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
        opt["state"] = state
        self.optimizer.load_state_dict(opt)
        if meta.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(meta["scaler"])
        hidden = [tensors[f"hidden.{i}"] for i in range(len(tensors)) if f"hidden.{i}" in tensors]
        per_rank = self.config.batch_size // self.world.size
        rows = slice(self.world.rank * per_rank, (self.world.rank + 1) * per_rank)
        hidden = [h[rows].contiguous().to(self.device) for h in hidden]  # this rank's streams
        self.hidden = self.model.unflatten_state(hidden)
        rng = "rng.cpu" if self.world.rank == 0 else f"rng.cpu.{self.world.rank}"
        if meta.get("world_size", 1) == self.world.size and rng in tensors:
            torch.set_rng_state(tensors[rng])
        else:  # resumed on another number of processes: dropout masks are drawn afresh
            torch.manual_seed(self.config.seed + self.world.rank + 7919 * meta["progress"]["step"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.progress = meta["progress"]
        if "average.0" in tensors:
            self.average = WeightAverage(list(self.model.parameters()))
            self.average.load(tensors, self.progress["average_count"])

    # -- evaluation ---------------------------------------------------------------------
    def validate(self) -> float:
        """Validation (of the averaged weights once NT-ASGD averages); the best is saved."""
        averaged = self.average.swapped_in() if self.average is not None else nullcontext()
        with averaged:
            return self._validate()

    def _validate(self) -> float:
        valid = self.corpus["valid"]
        if self.config.eval_tokens:  # a fixed prefix: checks stay comparable with each other
            valid = valid[: self.config.eval_tokens]
        log_probs = self.model.log_probs(valid, streams=self.config.eval_streams)
        result = summarize(log_probs, self.corpus.level)
        ppl = result["perplexity"]
        p = self.progress
        row = {"type": "valid", "step": p["step"], "epoch": p["epoch"], "tokens": p["tokens"],
               "wall": round(p["elapsed"], 2), "eval_s": round(p["eval_s"], 2), "valid_ppl": ppl,
               "valid_nats": result["nats_per_token"],
               "streams": self.config.eval_streams, "valid_tokens": len(valid)}  # fmt: skip
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
        if (self.config.optimizer == "ntasgd" and self.average is None and ppl is not None
                and should_start_averaging(earlier, ppl, self.config.asgd_nonmono)):  # fmt: skip
            self.average = WeightAverage(list(self.model.parameters()))
            p["average_from_step"] = p["step"]
            log.info("NT-ASGD: validation %.2f is worse than %d checks ago; averaging from "
                     "step %d", ppl, self.config.asgd_nonmono, p["step"])  # fmt: skip
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

        previous = signal.signal(signal.SIGINT, on_sigint)
        autocast = (torch.autocast(self.device.type, dtype=self.amp) if self.amp
                    else nullcontext())  # fmt: skip
        bar = tqdm(total=self.total_steps, initial=p["step"], unit="step", disable=not self.progress_bar or None,
                   dynamic_ncols=True)  # fmt: skip
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
                        loss, hidden = self.step_model(inputs, targets, RecurrentLM.detach_state(self.hidden))
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
                    loss_count += 1
                    p["step"] += 1
                    p["window"] = window.index + 1
                    p["tokens"] += inputs.numel() * self.world.size
                    now = time.perf_counter()
                    p["elapsed"] += now - clock
                    clock = now
                    bar.update(1)
                    if p["step"] % c.log_every == 0:
                        mean = (loss_sum / loss_count).item()  # the only host sync
                        if not math.isfinite(mean):
                            raise SeqlmError(
                                f"training loss became {mean} at step {p['step']}; stopped, "
                                f"the last good checkpoint in {self.out} is kept "
                                "(try a lower --lr or --clip)"
                            )
                        speed = (p["tokens"] - tokens_at_log) / max(
                            p["elapsed"] - wall_at_log, 1e-9
                        )
                        ppl = math.exp(min(mean, 50))
                        self.log_row({"type": "train", "step": p["step"], "epoch": p["epoch"],
                                      "tokens": p["tokens"], "wall": round(p["elapsed"], 2),
                                      "loss": round(mean, 5), "ppl": round(ppl, 3), "lr": lr,
                                      "tokens_per_s": round(speed, 1)})  # fmt: skip
                        bar.set_postfix(loss=f"{mean:.3f}", ppl=f"{ppl:.1f}",
                                        tok_s=f"{speed:,.0f}", lr=f"{lr:.2g}")  # fmt: skip
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
            signal.signal(signal.SIGINT, previous)
            if self.writer is not None:
                self.writer.close()
        return {"stop": stop, "steps": p["step"], "tokens": p["tokens"],
                "train_seconds": round(p["elapsed"], 2), "eval_seconds": round(p["eval_s"], 2),
                "best_valid_ppl": p["best_valid"],
                "tokens_per_s": round(p["tokens"] / max(p["elapsed"], 1e-9), 1)}  # fmt: skip

    def _within_eval_share(self) -> bool:
        """False when the check, costing what the last one did, would take validation past
        --eval-share of the wall time (then it is skipped); any rank over it skips for all."""
        c, p = self.config, self.progress
        if not c.eval_share:
            return True
        spent = p["eval_s"] + p.get("last_eval_s", 0.0)
        over = int(spent > c.eval_share * (p["elapsed"] + spent))
        return not agree(over, self.world, self.device)

    def _validation_due(self) -> bool:
        c, p = self.config, self.progress
        if c.eval_every and p["step"] % c.eval_every == 0:
            return self._within_eval_share()
        if not c.eval_minutes or p["step"] % c.log_every:  # time is checked at log steps
            return False
        late = p["elapsed"] - p.get("last_eval_elapsed", 0.0) >= c.eval_minutes * 60
        return bool(agree(int(late), self.world, self.device)) and self._within_eval_share()

    def _validate_untimed(self) -> None:
        """Validation time is kept apart from training time (the budget is for training)."""
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
        if c.max_minutes and p["elapsed"] >= c.max_minutes * 60:
            return "budget"
        if c.patience and p["bad_evals"] >= c.patience:
            return "early_stop"
        return ""


def resume_config(out: str | Path) -> tuple[TrainConfig, CorpusSpec]:
    """The training settings and corpus a run in `out` was started with."""
    config = read_config(Path(out))
    if not isinstance(config.get("train"), dict) or not isinstance(config.get("model"), dict):
        raise SeqlmError(f"{out}: not a recurrent training run")
    if not (Path(out) / "trainer.safetensors").exists():
        raise SeqlmError(f"{out}: no trainer.safetensors to resume from")
    model = {k: v for k, v in config["model"].items() if k != "vocab_size"}
    settings = TrainConfig.from_flat({**model, **config["train"]}, f"{out}/config.json")
    return settings, CorpusSpec.from_json(config.get("corpus"))
