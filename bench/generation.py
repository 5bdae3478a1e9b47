"""Generation and scoring speed: 2x650 LSTM (adaptive softmax, the PTB preset) and PTB 5-gram.

    python bench/generation.py [--lstm runs/ptb-lstm] [--tokens 500] [--threads 2]

Generation is batch 1 with the state carried incrementally (the prefix is never
recomputed), sampling at temperature 1 with top-k 50, the way `seqlm generate` runs.
Scoring is `model.log_probs` over the PTB test split (82,430 tokens). Without `--lstm`
a freshly initialised model of the same shape is timed (speed does not depend on the
weights). Medians of `--rounds` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seqlm.data import load_corpus
from seqlm.generate import sample
from seqlm.models import load_model
from seqlm.ngram import NgramLM
from seqlm.nn import ModelConfig, RecurrentLM


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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_corpus("ptb")
    if args.lstm:
        lstm = load_model(args.lstm)
    else:
        config = ModelConfig(kind="lstm", vocab_size=len(corpus.vocab), embed=650, hidden=650,
                             layers=2, adaptive_cutoffs=[2000, 6000])  # fmt: skip
        lstm = RecurrentLM(config, corpus.vocab, "fused")
        lstm.reset_parameters(0)
    ngram = NgramLM.train(corpus["train"], corpus.vocab, 5)
    prompt = corpus.vocab.encode("the company said".split())
    test = corpus["test"]
    print(f"threads {torch.get_num_threads()}; {args.tokens} tokens generated, "
          f"{len(test):,} scored; median of {args.rounds}")  # fmt: skip
    print(f"{'model':<28} {'generate tok/s':>15} {'score tok/s':>13}")
    for name, model in (("LSTM 2x650 (adaptive)", lstm), ("5-gram (modified KN)", ngram)):
        gen = timed(lambda m=model: list(sample(m, prompt, args.tokens, 1.0, 50, None, seed=0)),
                    args.rounds)  # fmt: skip
        score = timed(lambda m=model: m.log_probs(test), args.rounds)
        print(f"{name:<28} {args.tokens / gen:>15,.0f} {len(test) / score:>13,.0f}")


if __name__ == "__main__":
    main()
