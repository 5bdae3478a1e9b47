"""The long-range lab on the built-in corpus: the figures of the source notes' argument.

    python bench/longrange.py [--budget 90s] [--out bench-longrange] [--figures docs/figures]

Trains (or reuses) RNN, LSTM and GRU for `--budget` each plus a 5-gram on the default
synthetic corpus, then measures gradient flow, context ablation and dependency-marked
loss on all of them, the adding and copy tasks for every cell, and the forget-gate bias
study; writes an HTML report with every figure, prints the numbers, and copies the PNGs
to `--figures` (what README shows). About 15 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from seqlm.compare import compare, format_table, parse_budget, parse_models
from seqlm.data import load_corpus
from seqlm.probe.lab import lab_lines, run_lab
from seqlm.report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--budget", default="90s", help="per neural model: tokens (2M) or training time (90s)"
    )
    parser.add_argument("--out", default="bench-longrange", help="report directory")
    parser.add_argument("--figures", help="also copy the PNGs here (e.g. docs/figures)")
    parser.add_argument("--memory-lengths", default="10,20,50,100,200")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    corpus = load_corpus("synthetic")
    out = Path(args.out)
    result, models, losses = compare(
        corpus, parse_models("ngram:5,rnn,lstm,gru"), out / "models", parse_budget(args.budget)
    )
    trained = time.perf_counter()
    lengths = tuple(int(x) for x in args.memory_lengths.split(","))
    lab = run_lab(
        corpus,
        models,
        memory_cells=("rnn", "lstm", "gru"),
        memory_lengths=lengths,
        forget_bias_lengths=(50, 100),
    )
    page = write_report(
        result, models, losses, corpus, out, {"argv": ["python", *sys.argv], "lab": lab}
    )
    total = time.perf_counter() - start
    print(format_table(result))
    print()
    print("\n".join(lab_lines(lab)))
    for r in lab["memory"]:
        print(
            f"{r['task']:<7} {r['cell']:<5} longest T solved: {r['longest_solved'] or 'none'}  ("
            + ", ".join(
                f"T={row['length']}: "
                + (f"{row['mse']:.4f}" if "mse" in row else f"{row['accuracy']:.2f}")
                for row in r["rows"]
            )
            + ")"
        )
    for run in lab["forget_bias"]["runs"]:
        print(
            f"forget bias {run['forget_bias']:g}: adding MSE "
            + ", ".join(f"T={row['length']}: {row['mse']:.4f}" for row in run["rows"])
        )
    print(
        f"\nreport: {page}\ntraining {trained - start:.0f} s, probes {total - (trained - start):.0f} s, "
        f"total {total / 60:.1f} min"
    )
    (out / "lab.json").write_text(json.dumps(lab, indent=2, default=float))
    if args.figures:
        dest = Path(args.figures)
        dest.mkdir(parents=True, exist_ok=True)
        for name in (
            "gradient_flow",
            "context_ablation",
            "dependency_distance",
            "memory",
            "forget_bias",
            "learning_curves",
        ):
            if (out / f"{name}.png").exists():
                shutil.copyfile(out / f"{name}.png", dest / f"{name}.png")


if __name__ == "__main__":
    main()
