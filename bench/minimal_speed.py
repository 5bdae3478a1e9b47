"""Tokens/s of minGRU/minLSTM's parallel scan against the LSTM's fused kernel (oneDNN).

    python bench/minimal_speed.py [--repeats 5] [--threads 2]

Two recurrent layers with 650 inputs at equal parameter counts: the LSTM has 650 units
(PTB's medium model), minGRU and minLSTM as many units as give the same number of
weights (they have no W_hh, so more). Only the recurrent layers run: embedding and
softmax cost the same for every cell. Training: forward and backward of a batch of 20
streams x 35 steps, the state carried (detached) between batches; scoring: one stream of
1024 tokens without gradients (what `seqlm eval` runs). The arms run interleaved and
each reports the median of `repeats` timings.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from seqlm.nn.layers import CELL_TYPES, make_layer

INPUTS, LSTM_UNITS, LAYERS = 650, 650, 2


def units_for(cell: str, params: int) -> int:
    """The hidden size H whose 2-layer stack of `cell` has about `params` weights: a
    minimal cell has gates x (inputs + 1) x H per layer (W_x and one bias, no W_h)."""
    gates = len(CELL_TYPES[cell].gates)
    return min(
        range(1, 4 * LSTM_UNITS),
        key=lambda h: abs(gates * ((INPUTS + 1) * h + (h + 1) * h) - params),
    )


def stack(cell: str, units: int) -> torch.nn.ModuleList:
    return torch.nn.ModuleList(
        make_layer("fused", cell, INPUTS if i == 0 else units, units) for i in range(LAYERS)
    )


def run(layers, x, state, train: bool):
    new = []
    for layer, s in zip(layers, state, strict=True):
        x, s = layer(x, s)
        new.append(s)
    if train:
        x.pow(2).mean().backward()
    return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in new]


def tokens_per_s(layers, batch: int, steps: int, train: bool, calls: int) -> float:
    x = torch.randn(steps, batch, INPUTS)
    state = [None] * LAYERS
    with torch.set_grad_enabled(train):
        state = run(layers, x, state, train)  # warm-up (oneDNN packs its weights)
        start = time.perf_counter()
        for _ in range(calls):
            state = run(layers, x, state, train)
            if train:
                layers.zero_grad()
    return calls * steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=5, help="batches per timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lstm_params = sum(p.numel() for p in stack("lstm", LSTM_UNITS).parameters())
    arms = {"lstm": stack("lstm", LSTM_UNITS)}
    for cell in ("mingru", "minlstm"):
        arms[cell] = stack(cell, units_for(cell, lstm_params))
    modes = {"train 20x35": (20, 35, True), "score 1x1024": (1, 1024, False)}
    timings = {(arm, mode): [] for arm in arms for mode in modes}
    for _ in range(args.repeats):
        for mode, (batch, steps, train) in modes.items():
            for arm, layers in arms.items():
                calls = args.calls if train else max(1, math.ceil(args.calls / 5))
                timings[arm, mode].append(tokens_per_s(layers, batch, steps, train, calls))
    print(f"threads {args.threads}, median of {args.repeats}, recurrent layers only")
    for arm, layers in arms.items():
        units, params = layers[0].cell.hidden_size, sum(p.numel() for p in layers.parameters())
        figures = ", ".join(
            f"{mode} {statistics.median(timings[arm, mode]):,.0f} tokens/s" for mode in modes
        )
        ratios = ", ".join(
            f"{statistics.median(timings[arm, m]) / statistics.median(timings['lstm', m]):.2f}x"
            for m in modes
        )
        print(f"{arm:8} 2x{units:<5} {params:>10,} params: {figures} ({ratios} the LSTM)")


if __name__ == "__main__":
    main()
