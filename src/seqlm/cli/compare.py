"""`seqlm compare CORPUS` and `seqlm demo`: every model on one corpus, ranked, with a report."""

from __future__ import annotations

import argparse
import sys

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag, show_progress
from seqlm.data.spec import CorpusSpec

DEMO_MODELS = "ngram:3,ngram:5,rnn,lstm,gru"
DEMO_BUDGET, DEMO_SEEDS = "1M", 2
BUDGET_HELP = (
    "training per neural model: tokens (2M, 500k: the same models on every machine) or time "
    "(90s, 10m, 1h: the tokens seen depend on the machine's speed and load)"
)
CACHE_HELP = (
    "Trained models are kept (default: the models folder beside the seqlm cache; --from DIR) "
    "under a key made of the corpus and its tokenizer settings, the model, the budget and the "
    "seed; a later run with the same key reuses them and the table says 'cached' (--retrain "
    "trains afresh). A lock keeps concurrent runs from reading a model still being written."
)


def _shared(parser: argparse.ArgumentParser, budget: str, seeds: int) -> None:
    parser.add_argument("--budget", default=budget, help=f"{BUDGET_HELP} (default {budget})")
    parser.add_argument(
        "--seeds",
        type=_positive,
        default=seeds,
        metavar="K",
        help="train each neural model K times (seeds 1..K); the table shows "
        f"mean ± sd (default {seeds})",
    )
    parser.add_argument(
        "--from",
        dest="root",
        metavar="DIR",
        help="where models are kept and reused (default: the seqlm cache)",
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train every model afresh even if a cached one matches",
    )


def register(commands) -> None:
    cmp = commands.add_parser(
        "compare",
        parents=[corpus_flags(), json_flag()],
        help="train and rank several models on one corpus, with an HTML report",
        description="Train (or reuse) each model on the same corpus and vocabulary, evaluate "
        "all with one convention and print a ranked table, with a paired-bootstrap interval "
        "for each pair of neighbours; --report writes an HTML page. " + CACHE_HELP,
    )
    cmp.add_argument(
        "--models", default=DEMO_MODELS, help="comma-separated: ngram:N[:smoothing], rnn, lstm, gru"
    )
    _shared(cmp, "2M", 1)
    cmp.add_argument("--report", metavar="DIR", help="write report.html, report.json and plots")
    cmp.add_argument(
        "--probes",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also run the long-range lab (gradient flow, context ablation, "
        "dependency scoring) on the models; its figures join the report",
    )
    cmp.set_defaults(func=run_compare)

    demo = commands.add_parser(
        "demo",
        parents=[json_flag()],
        help="compare every model on the built-in synthetic corpus (a few minutes, offline)",
        description="n-grams, RNN, LSTM and GRU on the built-in synthetic corpus, measured "
        "against its entropy floor; prints the table and writes an HTML report. With the "
        "default token budget the table is the same on every machine (except the time and "
        "tokens/s columns). " + CACHE_HELP,
    )
    _shared(demo, DEMO_BUDGET, DEMO_SEEDS)
    demo.add_argument("--report", metavar="DIR", default="seqlm-demo", help="report directory")
    demo.add_argument(
        "--probes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the long-range lab on the models (default: yes)",
    )
    demo.set_defaults(func=run_demo)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def run_compare(args: argparse.Namespace) -> None:
    _run(args, corpus_spec(args), args.models)


def run_demo(args: argparse.Namespace) -> None:
    # on the CPU even where there is a GPU: the same table on every machine
    _run(args, CorpusSpec("synthetic"), DEMO_MODELS, {"device": "cpu"})


def _run(
    args: argparse.Namespace, spec: CorpusSpec, models: str, overrides: dict | None = None
) -> None:
    from seqlm.compare import parse_budget, parse_models
    from seqlm.compare.study import run_comparison
    from seqlm.data import load_corpus

    specs, budget = parse_models(models), parse_budget(args.budget)
    result = run_comparison(
        load_corpus(spec),
        specs,
        budget,
        args.root,
        args.report,
        args.probes,
        ["seqlm", *sys.argv[1:]],
        show_progress(args),
        args.seeds,
        args.retrain,
        overrides,
    )
    text = f"{result['table']}\n\n{result['summary']}"
    if args.report:
        text += f"\nreport: {result['report']}"
    text += f"\nexplore them token by token: {result['explore']}"
    emit(args, result, text)
