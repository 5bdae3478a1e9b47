"""`seqlm eval MODEL`: perplexity of any saved model on a corpus split."""

from __future__ import annotations

import argparse

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag


def register(commands) -> None:
    ev = commands.add_parser(
        "eval",
        parents=[corpus_flags(positional=False, hidden=True), json_flag()],
        help="perplexity of any saved model on a corpus split",
        description="Perplexity (and bits/char for character models) of a saved model "
        "(n-gram or neural, or any ARPA file), counting every predicted token including <eos>. "
        "--data defaults to the corpus the model was trained on.",
    )
    ev.add_argument("model", metavar="MODEL", help="a model directory or an ARPA file")
    ev.add_argument("--split", default="test", choices=["train", "valid", "test"])
    methods = ev.add_argument_group(
        "evaluation-time methods (recurrent models; tuned on valid, reported on --split, "
        "each alone and combined)"
    )
    methods.add_argument(
        "--cache",
        type=int,
        metavar="W",
        default=0,
        help="neural cache over the last W hidden states (Grave et al. 2017)",
    )
    methods.add_argument(
        "--dynamic", choices=["sgd", "rms"], help="dynamic evaluation (Krause et al. 2018)"
    )
    methods.add_argument(
        "--interpolate",
        metavar="NGRAM",
        help="mix with an n-gram: a model directory, an ARPA file, or an order "
        "(built from the corpus's train split)",
    )
    methods.add_argument(
        "--tune-tokens",
        type=int,
        metavar="N",
        default=20_000,
        help="validation tokens for tuning the dynamic lr (0: all)",
    )
    ev.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from seqlm.data import load_corpus
    from seqlm.evaluate import evaluate
    from seqlm.loading import load, trained_on

    model = load(args.model)
    spec = corpus_spec(args, default=trained_on(args.model))
    if spec.level is None:
        spec = spec.with_level(model.vocab.level)
    corpus = load_corpus(spec)
    if args.cache or args.dynamic or args.interpolate:
        return run_methods(args, model, corpus)
    result = evaluate(model, corpus, args.split)
    lines = [f"{result.model} on {corpus.name} {args.split}: {result.tokens:,} tokens"]
    if result.perplexity is None:
        lines.append(f"perplexity inf: {result.zero_probability_tokens} tokens have probability 0")
    else:
        lines.append(
            f"perplexity {result.perplexity:.2f}  ({result.nats_per_token:.4f} nats/token)"
        )
    if result.bits_per_char is not None:
        lines.append(f"bits per character {result.bits_per_char:.4f}")
    if result.entropy_floor_nats is not None:
        gap = f"{result.gap_nats:.4f}" if result.gap_nats is not None else "inf"
        lines.append(
            f"entropy floor {result.floor_perplexity:.3f} perplexity; gap {gap} nats/token"
        )
    emit(args, {"model_path": str(args.model), **result.to_json()}, "\n".join(lines))


def run_methods(args: argparse.Namespace, model, corpus) -> None:
    from seqlm.evaluate.tune import run_methods as evaluate_methods
    from seqlm.io import SeqlmError
    from seqlm.loading import load
    from seqlm.ngram import build
    from seqlm.nn.recurrent import RecurrentLM

    if not isinstance(model, RecurrentLM):
        raise SeqlmError("--cache, --dynamic and --interpolate apply to recurrent models")
    if args.cache < 0:
        raise SeqlmError(f"--cache must be at least 0, got {args.cache}")
    ngram = None
    if args.interpolate:
        ngram = (
            build(corpus, int(args.interpolate))
            if args.interpolate.isdigit()
            else load(args.interpolate)
        )
    results = evaluate_methods(
        model, corpus, args.split, args.cache, args.dynamic, ngram, args.tune_tokens
    )
    lines = [
        f"{model.kind} on {corpus.name}: hyperparameters tuned on valid, never on {args.split}"
        if args.split != "valid"
        else f"{model.kind} on {corpus.name}: tuned AND reported on valid (optimistic)",
        f"{'method':<22} {'valid ppl':>10} {args.split + ' ppl':>10} {'extra s':>8}  settings",
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
            "split": args.split,
            "tuned_on": "valid",
            "methods": [r.to_json() for r in results],
        },
        "\n".join(lines),
    )
