"""`seqlm compare CORPUS` and `seqlm demo`: every model on one corpus, ranked, with a report."""

from __future__ import annotations

import argparse
import sys

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag, show_progress
from seqlm.data.spec import CorpusSpec

DEMO_MODELS = "ngram:3,ngram:5,rnn,lstm,gru"


def register(commands) -> None:
    cmp = commands.add_parser(
        "compare",
        parents=[corpus_flags(), json_flag()],
        help="train and rank several models on one corpus, with an HTML report",
        description="Train (or reuse) each model on the same corpus and vocabulary, evaluate "
        "all with one convention and print a ranked table; --report writes an HTML page.",
    )
    cmp.add_argument("--models", default=DEMO_MODELS,
                     help="comma-separated: ngram:N[:smoothing], rnn, lstm, gru")  # fmt: skip
    cmp.add_argument(
        "--budget", default="10m", help="training time per neural model (90s, 10m, 1h)"
    )
    cmp.add_argument("--report", metavar="DIR", help="write report.html, report.json and plots")
    cmp.add_argument("--from", dest="root", metavar="DIR",
                     help="where models are kept and reused (default: the seqlm cache)")  # fmt: skip
    cmp.add_argument("--probes", action=argparse.BooleanOptionalAction, default=False,
                     help="also run the long-range lab (gradient flow, context ablation, "
                     "dependency scoring) on the models; its figures join the report")  # fmt: skip
    cmp.set_defaults(func=run_compare)

    demo = commands.add_parser(
        "demo",
        parents=[json_flag()],
        help="compare every model on the built-in synthetic corpus (a few minutes, offline)",
        description="n-grams, RNN, LSTM and GRU on the built-in synthetic corpus, measured "
        "against its entropy floor; prints the table and writes an HTML report.",
    )
    demo.add_argument("--budget", default="25s", help="training time per neural model")
    demo.add_argument("--report", metavar="DIR", default="seqlm-demo", help="report directory")
    demo.add_argument("--from", dest="root", metavar="DIR", help="where models are kept")
    demo.add_argument("--probes", action=argparse.BooleanOptionalAction, default=True,
                      help="run the long-range lab on the models (default: yes)")  # fmt: skip
    demo.set_defaults(func=run_demo)


def run_compare(args: argparse.Namespace) -> None:
    _run(args, corpus_spec(args), args.models)


def run_demo(args: argparse.Namespace) -> None:
    _run(args, CorpusSpec("synthetic"), DEMO_MODELS)


def _run(args: argparse.Namespace, spec: CorpusSpec, models: str) -> None:
    from seqlm.compare import parse_budget, parse_models
    from seqlm.data import load_corpus
    from seqlm.study import run_comparison

    specs, minutes = parse_models(models), parse_budget(args.budget)
    result = run_comparison(load_corpus(spec), specs, minutes, args.root, args.report,
                            args.probes, ["seqlm", *sys.argv[1:]], show_progress(args))  # fmt: skip
    text = f"{result['table']}\n\n{result['summary']}"
    if args.report:
        text += f"\nreport: {result['report']}"
    emit(args, result, text)
