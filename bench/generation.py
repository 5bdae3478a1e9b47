"""Generation and scoring speed: 2x650 LSTM (adaptive softmax, the PTB preset) and PTB 5-gram.

    python bench/generation.py [--lstm runs/ptb-lstm] [--tokens 500] [--threads 2]

Generation is batch 1 with the state carried incrementally (the prefix is never
recomputed), sampling at temperature 1 with top-k 50, the way `seqlm generate` runs; the
LSTM both exact (fp32) and with `--precision bf16`, whose cost in accuracy is printed
too: the perplexity of the first `--check` test tokens read one step at a time each way.
Scoring is `model.log_probs` over the PTB test split (82,430 tokens). Without `--lstm`
a freshly initialised model of the same shape is timed (speed does not depend on the
weights). Medians of `--rounds` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from seqlm.data import load_corpus
from seqlm.generate import sample
from seqlm.loading import load_model
from seqlm.ngram import NgramLM
from seqlm.nn import ModelConfig, RecurrentLM

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


def timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lstm", help="a trained PTB model directory (default: fresh 2x650)")
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--check", type=int, default=2000, help="tokens for the bf16 check")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_corpus("ptb")
    if args.lstm:
        lstm = load_model(args.lstm)
    else:
        config = ModelConfig(
            cell="lstm",
            vocab_size=len(corpus.vocab),
            embed=650,
            hidden=650,
            layers=2,
            adaptive_cutoffs=[2000, 6000],
        )
        lstm = RecurrentLM(config, corpus.vocab, "fused")
        lstm.reset_parameters(0)
    ngram = NgramLM.train(corpus["train"], corpus.vocab, 5)
    prompt = corpus.vocab.encode("the company said".split())
    test = corpus["test"]
    print(
        f"threads {torch.get_num_threads()}; {args.tokens} tokens generated, "
        f"{len(test):,} scored; median of {args.rounds}"
    )
    print(f"{'model':<32} {'generate tok/s':>15} {'score tok/s':>13}")
    arms = (
        ("LSTM 2x650 (adaptive), fp32", lstm, "fp32"),
        ("LSTM 2x650 (adaptive), bf16", lstm, "bf16"),
        ("5-gram (modified KN)", ngram, None),
    )
    for name, model, precision in arms:
        if precision:
            model.set_generation_precision(precision)
        gen = timed(
            lambda m=model: list(sample(m, prompt, args.tokens, 1.0, 50, None, seed=0)), args.rounds
        )
        line = f"{name:<32} {args.tokens / gen:>15,.0f}"
        if precision != "bf16":  # scoring runs the sequence kernel in fp32 either way
            score = timed(lambda m=model: m.log_probs(test), args.rounds)
            line += f" {len(test) / score:>13,.0f}"
        print(line)
    ppl = {p: stepped_perplexity(lstm, p, test[: args.check]) for p in ("fp32", "bf16")}
    print(
        f"LSTM perplexity of the first {args.check:,} test tokens, stepped: fp32 "
        f"{ppl['fp32']:.3f}, bf16 {ppl['bf16']:.3f} ({ppl['bf16'] / ppl['fp32'] - 1:+.3%})"
    )


def stepped_perplexity(model, precision: str, ids: np.ndarray) -> float:
    model.set_generation_precision(precision)
    state, total = model.start(None), 0.0
    for token in ids:
        total += model.next_log_probs(state)[token]
        state = model.advance(state, int(token))
    return float(np.exp(-total / len(ids)))


if __name__ == "__main__":
    main()
