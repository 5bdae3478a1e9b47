"""Training throughput: a plain PyTorch loop vs seqlm's fused and reference backends.

    python bench/throughput.py [--steps 120] [--rounds 2]

All three train the same configuration on PTB (2x200 LSTM, vocab 10k, batch 20, bptt 35,
SGD lr 20, clip 0.25, dropout 0.2); the plain loop is written the way pytorch/examples'
word_language_model does it (nn.LSTM, repackage_hidden, loss.item() every step). They
run interleaved, `rounds` times each, and the median tokens/s after warm-up is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from seqlm.data import load_corpus
from seqlm.data.batching import batchify
from seqlm.train import Trainer, make_config

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

WARMUP = 20


class PlainModel(nn.Module):
    def __init__(self, ntoken: int, ninp: int = 200, nhid: int = 200, nlayers: int = 2):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=0.2)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(output)).view(-1, self.decoder.out_features), hidden


def plain_loop(train, ntoken: int, steps: int) -> float:
    torch.manual_seed(1)
    model, criterion = PlainModel(ntoken), nn.CrossEntropyLoss()
    data = batchify(train, 20)
    hidden = None
    total_loss, start, tokens = 0.0, 0.0, 0
    for step, i in enumerate(range(0, (steps + WARMUP) * 35, 35)):
        if step == WARMUP:
            start, tokens = time.perf_counter(), 0
        x, y = data[i : i + 35], data[i + 1 : i + 36]
        hidden = None if hidden is None else tuple(h.detach() for h in hidden)
        model.zero_grad()
        output, hidden = model(x, hidden)
        loss = criterion(output, y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-20)
        total_loss += loss.item()
        tokens += x.numel()
    return tokens / (time.perf_counter() - start)


def seqlm_loop(corpus, backend: str, steps: int) -> float:
    overrides = dict(
        model="lstm",
        embed=200,
        hidden=200,
        layers=2,
        dropout=0.2,
        dropout_between=0.2,
        dropout_embed=0.2,
        batch_size=20,
        bptt=35,
        variable_bptt=False,
        optimizer="sgd",
        lr=20.0,
        clip=0.25,
        max_steps=steps + WARMUP,
        log_every=WARMUP,
        checkpoint_every=10**9,
        eval_every=0,
        backend=backend,
        max_minutes=0,
        adaptive_cutoffs=[],
        tied=False,
    )
    config = make_config("bench", None, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, corpus, tmp)
        trainer.validate = lambda: 0.0  # not part of the measurement
        trainer.run()
        rows = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").open()]
    train_rows = [r for r in rows if r["type"] == "train"][1:]  # the first holds the warm-up
    tokens = sum(WARMUP * 20 * 35 for _ in train_rows)
    seconds = sum(WARMUP * 20 * 35 / r["tokens_per_s"] for r in train_rows)
    return tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.steps < WARMUP or args.steps % WARMUP:
        parser.error(f"--steps must be a positive multiple of {WARMUP} (seqlm logs every {WARMUP})")
    corpus = load_corpus("ptb")
    train = corpus["train"]
    results: dict[str, list[float]] = {"plain loop": [], "seqlm fused": [], "seqlm reference": []}
    for _ in range(args.rounds):
        results["plain loop"].append(plain_loop(train, len(corpus.vocab), args.steps))
        results["seqlm fused"].append(seqlm_loop(corpus, "fused", args.steps))
        results["seqlm reference"].append(seqlm_loop(corpus, "reference", args.steps))
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; 2x200 LSTM, PTB, "
        f"batch 20, bptt 35; median of {args.rounds} x {args.steps} steps"
    )
    for name, value in medians.items():
        print(f"{name:<18}{value:>10,.0f} tokens/s")
    print(f"fused / plain     {medians['seqlm fused'] / medians['plain loop']:.2f}x  (goal >= 1.0)")
    print(
        f"reference / fused {medians['seqlm reference'] / medians['seqlm fused']:.2f}x  "
        f"(goal >= 0.5)"
    )


if __name__ == "__main__":
    main()
