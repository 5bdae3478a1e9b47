"""`seqlm eval MODEL`: perplexity of any saved model on a corpus split."""

from __future__ import annotations

import argparse

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag
from seqlm.evaluate.config import EvalConfig
from seqlm.settings import add_flags, from_args


def register(commands) -> None:
    ev = commands.add_parser(
        "eval",
        parents=[corpus_flags(positional=False, hidden=True), json_flag()],
        help="perplexity of any saved model on a corpus split",
        description="Perplexity (and bits/char for character models) of a saved model "
        "(n-gram or neural, or any ARPA file), counting every predicted token including <eos>, "
        "and the figures comparable across tokenizers: bits per byte of the text and "
        "perplexity per word (words: whitespace-separated, plus one per line end). "
        "--data defaults to the corpus the model was trained on. The evaluation-time "
        "methods (--cache, --dynamic, --interpolate) are tuned on valid and reported on "
        "--split, each alone and combined.",
    )
    ev.add_argument("model", metavar="MODEL", help="a model directory or an ARPA file")
    add_flags(ev, EvalConfig)
    ev.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from seqlm.data import load_corpus
    from seqlm.evaluate import evaluate
    from seqlm.loading import load, trained_on
    from seqlm.progress import working

    config = from_args(EvalConfig, args)
    model = load(args.model)
    spec = corpus_spec(args, default=trained_on(args.model))
    if spec.tokenizer is None:
        spec = spec.with_tokenizer(model.tokenizer.name)
    corpus = load_corpus(spec)
    if config.methods:
        return run_methods(args, config, model, corpus)
    with working(f"evaluating on {config.split}"):
        result = evaluate(model, corpus, config.split)
    lines = [f"{result.model} on {corpus.name} {config.split}: {result.tokens:,} tokens"]
    if result.perplexity is None:
        lines.append(f"perplexity inf: {result.zero_probability_tokens} tokens have probability 0")
    else:
        lines.append(
            f"perplexity {result.perplexity:.2f}  ({result.nats_per_token:.4f} nats/token)"
        )
    if result.bits_per_char is not None:
        lines.append(f"bits per character {result.bits_per_char:.4f}")
    if result.perplexity is not None:
        lines.append(result.text_line())
    if result.entropy_floor_nats is not None:
        gap = f"{result.gap_nats:.4f}" if result.gap_nats is not None else "inf"
        lines.append(
            f"entropy floor {result.floor_perplexity:.3f} perplexity; gap {gap} nats/token"
        )
    emit(args, {"model_path": str(args.model), **result.to_json()}, "\n".join(lines))


def run_methods(args: argparse.Namespace, config: EvalConfig, model, corpus) -> None:
    from seqlm.evaluate.tune import run_methods as evaluate_methods
    from seqlm.io import SeqlmError
    from seqlm.loading import load
    from seqlm.ngram import build
    from seqlm.nn.recurrent import RecurrentLM
    from seqlm.progress import working

    if not isinstance(model, RecurrentLM):
        raise SeqlmError("--cache, --dynamic and --interpolate apply to recurrent models")
    ngram = None
    if config.interpolate:
        ngram = (
            build(corpus, int(config.interpolate))
            if config.interpolate.isdigit()
            else load(config.interpolate)
        )
    with working("tuning on valid and evaluating the methods"):
        results = evaluate_methods(
            model, corpus, config.split, config.cache, config.dynamic, ngram, config.tune_tokens
        )
    lines = [
        f"{model.kind} on {corpus.name}: hyperparameters tuned on valid, never on {config.split}"
        if config.split != "valid"
        else f"{model.kind} on {corpus.name}: tuned AND reported on valid (optimistic)",
        f"{'method':<22} {'valid ppl':>10} {config.split + ' ppl':>10} {'extra s':>8}  settings",
    ]
    for r in results:
        settings = ", ".join(f"{k}={v}" for k, v in r.params.items())
        lines.append(
            f"{r.method:<22} {r.valid_ppl:>10.2f} {r.report_ppl:>10.2f} "
            f"{r.extra_seconds:>8.1f}  {settings}"
        )
    emit(
        args,
        {
            "model_path": str(args.model),
            "corpus": corpus.name,
            "split": config.split,
            "tuned_on": "valid",
            "methods": [r.to_json() for r in results],
        },
        "\n".join(lines),
    )
