"""Train a preset for a wall-time budget, then score it with each evaluation-time method.

    python bench/awd.py --preset ptb --minutes 60 [--cache 500 --dynamic sgd --ngram 5]
    python bench/awd.py --preset ptb --minutes 60 --budget-includes-eval   # 60 min of wall time
    python bench/awd.py --model runs/ptb --limit-tokens 20000     # evaluate an existing model

Prints the static model's valid/test perplexity, then every method alone and combined
(neural cache, dynamic evaluation, interpolation with a Kneser-Ney n-gram), each tuned on
validation only, with its gain over the static model and the evaluation time it added.
`--limit-tokens N` scores the first N tokens of valid and test only (quick runs; the
output says so). The issue's targets: PTB test <= 88 after 60 CPU-minutes of training,
lower after 120, <= 78 with the evaluation-time methods.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import torch

from seqlm.data import load_corpus
from seqlm.evaluate.tune import run_methods
from seqlm.loading import load
from seqlm.ngram import build
from seqlm.train import train

sys.path.insert(0, str(Path(__file__).parent))
from time_to_ppl import gemm_peak  # noqa: E402

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", default="ptb")
    ap.add_argument("--corpus", default="ptb")
    ap.add_argument("--minutes", type=float, default=60.0, help="training budget")
    ap.add_argument(
        "--budget-includes-eval",
        action="store_true",
        help="the minutes count validation too (wall time), as the issue's 60-minute target does",
    )
    ap.add_argument("--model", help="skip training: evaluate this model directory")
    ap.add_argument("--out", default="runs/bench-awd")
    ap.add_argument("--cache", type=int, default=500)
    ap.add_argument("--dynamic", default="sgd", choices=["sgd", "rms", "none"])
    ap.add_argument("--ngram", type=int, default=5, help="n-gram order (0: none)")
    ap.add_argument("--limit-tokens", type=int, default=0)
    ap.add_argument("--tune-tokens", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_corpus(args.corpus)
    report: dict = {
        "host": platform.node(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        # the machine's fp32 GEMM rate at these threads: hosts differ (oneDNN's AVX-512 path
        # has measured 231 GFLOP/s per core on one and 107 on another), and tokens/s with it
        "gemm_peak": gemm_peak(torch.get_num_threads()),
    }
    print(
        f"{report['threads']} threads; fp32 GEMM GFLOP/s: "
        + ", ".join(f"{k} {v:.0f}" for k, v in report["gemm_peak"].items())
    )
    if args.model is None:
        result = train(
            corpus,
            args.out,
            preset=args.preset,
            max_minutes=args.minutes,
            budget_includes_eval=args.budget_includes_eval,
            threads=args.threads or None,
        )
        model_dir = args.out
        report["train"] = {
            k: getattr(result, k)
            for k in (
                "stop",
                "steps",
                "tokens",
                "train_seconds",
                "eval_seconds",
                "tokens_per_s",
                "parameters",
            )
        }
        where = "inside" if args.budget_includes_eval else "outside"
        print(
            f"trained {args.preset} on {args.corpus} for {result.train_seconds / 60:.1f} min "
            f"(+{result.eval_seconds / 60:.1f} min validation, {where} the budget), "
            f"{result.tokens:,} tokens, {result.tokens_per_s:,.0f} tokens/s, stop: {result.stop}"
        )
        print(
            f"best checkpoint, whole splits: valid {result.valid.perplexity:.2f}  "
            f"test {result.test.perplexity:.2f}"
        )
    else:
        model_dir = args.model
    model = load(model_dir)
    ngram, ngram_s = None, 0.0
    if args.ngram:
        t0 = time.perf_counter()
        ngram = build(corpus, args.ngram)
        ngram_s = time.perf_counter() - t0
    dynamic = None if args.dynamic == "none" else args.dynamic
    t0 = time.perf_counter()
    results = run_methods(
        model, corpus, "test", args.cache, dynamic, ngram, args.tune_tokens, limit=args.limit_tokens
    )
    scope = (
        f"first {args.limit_tokens:,} tokens of valid and test"
        if args.limit_tokens
        else "whole valid and test splits"
    )
    print(f"\nevaluation-time methods on the {scope}; every setting tuned on valid only")
    if ngram is not None:
        print(f"({args.ngram}-gram built from train in {ngram_s:.1f} s)")
    static = results[0]
    print(f"{'method':<22} {'valid':>8} {'test':>8} {'test gain':>10} {'extra s':>8}  settings")
    for r in results:
        gain = static.report_ppl - r.report_ppl
        settings = ", ".join(f"{k}={v}" for k, v in r.params.items())
        print(
            f"{r.method:<22} {r.valid_ppl:>8.2f} {r.report_ppl:>8.2f} "
            f"{gain:>+9.2f}  {r.extra_seconds:>8.1f}  {settings}"
        )
    print(
        f"(the static row's seconds are its own scoring time; all methods: "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    report.update(scope=scope, methods=[r.to_json() for r in results])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
