"""Memory tasks (Hochreiter & Schmidhuber 1997): how long can each cell hold a fact?

Two synthetic problems whose only difficulty is the distance T between the evidence and
the moment it is needed, so "solved at T" measures memory and nothing else:

* **adding**: two input channels, values drawn from U(0, 1) and a marker that is 1 at
  two positions (one in the first half, one in the second); the target, read at the last
  step, is the sum of the two marked values. Predicting the mean (1.0) scores an MSE of
  1/6 ≈ 0.167; solved means MSE ≤ 0.01.
* **copy** (delayed recall): `symbols` symbols from an alphabet of `alphabet`, then
  blanks, then a recall cue at every output step; symbol i must be emitted exactly T
  steps after it was seen. Chance accuracy is 1/alphabet; solved means ≥ 95% of
  recalled symbols right.

Each cell is a fresh one-layer recurrent network (the same layer classes the language
models use) trained with Adam on freshly generated batches for a fixed number of steps,
stopping early once the held-out set is solved, so results are deterministic per seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlm.nn.layers import make_layer

TASKS = ("adding", "copy")
ADDING_SOLVED_MSE = 0.01
COPY_SOLVED_ACCURACY = 0.95


@dataclass
class MemorySettings:
    hidden: int = 64
    batch_size: int = 64
    steps: int = 2000  # per length, at most
    lr: float | None = None  # None: 1e-2 for adding, 3e-3 for copy (tuned on T = 20..100)
    clip: float = 1.0
    eval_every: int = 100
    test_size: int = 512
    symbols: int = 3  # copy task
    alphabet: int = 8  # copy task
    forget_bias: float = 1.0  # LSTM only
    seed: int = 0


def adding_batch(length: int, batch: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """Inputs (T, B, 2) and targets (B,) of the adding problem."""
    values = rng.random((length, batch))
    marks = np.zeros((length, batch))
    half = max(length // 2, 1)
    first = rng.integers(0, half, batch)
    second = rng.integers(half, length, batch) if length > 1 else first
    cols = np.arange(batch)
    marks[first, cols] = 1
    marks[second, cols] = 1
    target = values[first, cols] + values[second, cols] * (second != first)
    x = np.stack([values, marks], axis=-1)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(target, dtype=torch.float32)


def copy_batch(
    length: int, batch: int, rng: np.random.Generator, symbols: int = 3, alphabet: int = 8
) -> tuple[Tensor, Tensor]:
    """Input ids (T+symbols, B) and targets (T+symbols, B); -1 where nothing is asked.

    Ids: 0..alphabet−1 the symbols, `alphabet` a blank, `alphabet`+1 the recall cue.
    """
    if length < symbols:
        raise ValueError(f"copy task: delay {length} is shorter than the {symbols} symbols")
    total = length + symbols
    seq = rng.integers(0, alphabet, (symbols, batch))
    x = np.full((total, batch), alphabet)
    x[:symbols] = seq
    x[length:] = alphabet + 1
    y = np.full((total, batch), -1)
    y[length:] = seq
    return torch.tensor(x), torch.tensor(y)


class MemoryNet(nn.Module):
    """One recurrent layer (any `--cell`) -> linear readout. The Transformer instead: an
    input projection plus learned positions (up to `length`) -> two causal blocks (the
    language model's, `seqlm.nn.transformer.Block`) -> readout; attention sees the whole
    sequence, so its limit is what it can learn to look up, not what it can keep."""

    def __init__(
        self,
        cell: str,
        inputs: int,
        outputs: int,
        hidden: int,
        forget_bias: float,
        length: int = 1024,
    ):
        super().__init__()
        self.cell = cell
        if cell == "transformer":
            from seqlm.nn.transformer import Block

            self.project = nn.Linear(inputs, hidden)
            self.positions = nn.Embedding(length, hidden)
            self.blocks = nn.ModuleList(Block(hidden, 4, 4 * hidden, 0.0) for _ in range(2))
            self.norm = nn.LayerNorm(hidden)
        else:
            self.layer = make_layer("fused", cell, inputs, hidden)
            if "forget_gate" in self.layer.cell.gates:
                self.layer.cell.forget_gate.bias = forget_bias
        self.readout = nn.Linear(hidden, outputs)

    def forward(self, x: Tensor) -> Tensor:
        """x (T, B, inputs) -> outputs (T, B, outputs)."""
        if self.cell != "transformer":
            return self.readout(self.layer(x)[0])
        h = self.project(x.transpose(0, 1)) + self.positions.weight[: x.shape[0]]
        for block in self.blocks:
            h = block(h)[0]
        return self.readout(self.norm(h)).transpose(0, 1)


def _task(task: str, s: MemorySettings):
    if task == "adding":
        return 2, 1, lambda length, batch, rng: adding_batch(length, batch, rng)
    if task == "copy":
        width = s.alphabet + 2
        return (
            width,
            s.alphabet,
            lambda length, batch, rng: copy_batch(length, batch, rng, s.symbols, s.alphabet),
        )
    raise ValueError(f"unknown memory task {task!r} (choose {', '.join(TASKS)})")


def _loss(task: str, net: MemoryNet, x: Tensor, y: Tensor, alphabet: int) -> Tensor:
    if task == "adding":
        return F.mse_loss(net(x)[-1, :, 0], y)
    logits = net(F.one_hot(x, alphabet + 2).float())
    return F.cross_entropy(logits[y >= 0], y[y >= 0])


@torch.inference_mode()
def _metrics(task: str, net: MemoryNet, x: Tensor, y: Tensor, alphabet: int) -> dict:
    if task == "adding":
        return {"mse": float(_loss(task, net, x, y, alphabet))}
    logits = net(F.one_hot(x, alphabet + 2).float())[y >= 0]
    return {
        "cross_entropy": float(F.cross_entropy(logits, y[y >= 0])),
        "accuracy": float((logits.argmax(-1) == y[y >= 0]).float().mean()),
    }


def solved(task: str, metrics: dict) -> bool:
    if task == "adding":
        return metrics["mse"] <= ADDING_SOLVED_MSE
    return metrics["accuracy"] >= COPY_SOLVED_ACCURACY


def train_memory(task: str, cell: str, length: int, settings: MemorySettings | None = None) -> dict:
    """Train one fresh network on one length; held-out metrics and the steps it took."""
    s = settings or MemorySettings()
    inputs, outputs, make = _task(task, s)
    torch.manual_seed(s.seed)
    total = length + (s.symbols if task == "copy" else 0)
    net = MemoryNet(cell, inputs, outputs, s.hidden, s.forget_bias, total)
    lr = s.lr if s.lr is not None else {"adding": 1e-2, "copy": 3e-3}[task]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(s.seed)
    test_x, test_y = make(length, s.test_size, np.random.default_rng(10_000 + s.seed))
    start, metrics, step = time.perf_counter(), {}, 0
    for step in range(1, s.steps + 1):
        x, y = make(length, s.batch_size, rng)
        loss = _loss(task, net, x, y, s.alphabet)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), s.clip)
        opt.step()
        if step % s.eval_every == 0 or step == s.steps:
            metrics = _metrics(task, net, test_x, test_y, s.alphabet)
            if not all(math.isfinite(v) for v in metrics.values()) or solved(task, metrics):
                break
    return {
        "task": task,
        "cell": cell,
        "length": length,
        **metrics,
        "solved": solved(task, metrics),
        "steps": step,
        "seconds": round(time.perf_counter() - start, 2),
    }


def memory_ladder(
    task: str,
    cell: str,
    lengths: tuple[int, ...] = (10, 20, 50, 100, 200),
    settings: MemorySettings | None = None,
    max_length: int = 1000,
    progress=None,
) -> dict:
    """Every length of the ladder, then doubling while the last one is still solved."""
    rows, queue = [], list(lengths)
    while queue:
        length = queue.pop(0)
        row = train_memory(task, cell, length, settings)
        rows.append(row)
        if progress:
            progress(row)
        if not queue and row["solved"] and length * 2 <= max_length:
            queue.append(length * 2)
    longest = max((r["length"] for r in rows if r["solved"]), default=0)
    return {"task": task, "cell": cell, "rows": rows, "longest_solved": longest}


def forget_bias_study(
    task: str,
    lengths: tuple[int, ...],
    biases: tuple[float, ...] = (0.0, 1.0),
    settings: MemorySettings | None = None,
) -> dict:
    """The same LSTM (same seed, same data) trained with each forget-gate bias."""
    s = settings or MemorySettings()
    runs = []
    for bias in biases:
        local = MemorySettings(**{**s.__dict__, "forget_bias": bias})
        rows = [train_memory(task, "lstm", length, local) for length in lengths]
        runs.append({"forget_bias": bias, "rows": rows})
    return {"task": task, "lengths": list(lengths), "runs": runs}
