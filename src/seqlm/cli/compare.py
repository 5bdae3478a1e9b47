"""`seqlm compare CORPUS` and `seqlm demo`: every model on one corpus, ranked, with a report."""

from __future__ import annotations

import argparse
import sys

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag, show_progress
from seqlm.compare.config import CompareConfig, DemoConfig
from seqlm.data.spec import CorpusSpec
from seqlm.settings import add_flags, from_args

CACHE_HELP = (
    "Trained models are kept (default: the models folder beside the seqlm cache; --from DIR) "
    "under a key made of the corpus and its tokenizer settings, the model, the budget and the "
    "seed; a later run with the same key reuses them and the table says 'cached' (--retrain "
    "trains afresh). A lock keeps concurrent runs from reading a model still being written."
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
    add_flags(cmp, CompareConfig)
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
    add_flags(demo, DemoConfig)
    demo.set_defaults(func=run_demo)


def run_compare(args: argparse.Namespace) -> None:
    _run(args, from_args(CompareConfig, args), corpus_spec(args))


def run_demo(args: argparse.Namespace) -> None:
    # on the CPU even where there is a GPU: the same table on every machine
    _run(args, from_args(DemoConfig, args), CorpusSpec("synthetic"), {"device": "cpu"})


def _run(
    args: argparse.Namespace,
    config: CompareConfig,
    spec: CorpusSpec,
    overrides: dict | None = None,
) -> None:
    from seqlm.compare import parse_budget, parse_models
    from seqlm.compare.study import run_comparison
    from seqlm.data import load_corpus

    config.validate()
    specs, budget = parse_models(config.models), parse_budget(config.budget)
    result = run_comparison(
        load_corpus(spec),
        specs,
        budget,
        config.root,
        config.report,
        config.probes,
        ["seqlm", *sys.argv[1:]],
        show_progress(args),
        config.seeds,
        config.retrain,
        overrides,
    )
    text = f"{result['table']}\n\n{result['summary']}"
    if config.report:
        text += f"\nreport: {result['report']}"
    text += f"\nexplore them token by token: {result['explore']}"
    emit(args, result, text)
