"""`seqlm rescore`: re-rank n-best lists with seqlm models, weights tuned on a dev list."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlm.cli.common import emit, json_flag
from seqlm.evaluate.rescore import RescoreConfig
from seqlm.settings import add_flags, from_args


def register(commands) -> None:
    rs = commands.add_parser(
        "rescore",
        parents=[json_flag()],
        help="re-rank n-best lists (speech, translation) with one or more models",
        description="Each hypothesis's total is its first-pass score + Σ weight × ln P(text) "
        "of each --model + weight × words. The weights are tuned on --dev by grid search "
        "(lowest WER); the --test list reports WER before, after and the oracle, and "
        "--out receives it re-ranked. Lists are JSONL ({id, hypotheses: [{text, score}], "
        "reference}) or Kaldi n-best directories (text, ac_cost, lm_cost, ref).",
    )
    rs.add_argument("--dev", required=True, metavar="NBEST", help="the list to tune on")
    rs.add_argument("--test", required=True, metavar="NBEST", help="the list to re-rank")
    rs.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="MODEL",
        help="a model directory or ARPA file (repeat for several)",
    )
    add_flags(rs, RescoreConfig)
    rs.set_defaults(func=run)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def run(args: argparse.Namespace) -> None:
    from seqlm.evaluate.rescore import rescore
    from seqlm.io import SeqlmError
    from seqlm.loading import load

    config = from_args(RescoreConfig, args)
    models = {}
    for path in args.model:
        name = Path(path).name or str(path)
        if name in models:
            raise SeqlmError(f"two models are named {name}: give them distinct directories")
        models[name] = load(path)
    result = rescore(args.dev, args.test, models, config)
    weights = ", ".join(f"{k} {v:g}" for k, v in result.weights.items())
    lines = [f"weights (tuned on dev, {result.dev.utterances} utterances): {weights}"]
    for split, f in (("dev", result.dev), ("test", result.test)):
        lines.append(
            f"{split}: {f.utterances} utterances, {f.words} words; WER {_percent(f.before)} "
            f"-> {_percent(f.after)} (oracle {_percent(f.oracle)})"
        )
    if result.out:
        lines.append(f"re-ranked test list: {result.out}")
    emit(args, result.to_json(), "\n".join(lines))
