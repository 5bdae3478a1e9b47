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
    result = evaluate(model, corpus, args.split)
    lines = [f"{result.model} on {corpus.name} {args.split}: {result.tokens:,} tokens"]
    if result.perplexity is None:
        lines.append(f"perplexity inf: {result.zero_probability_tokens} tokens have probability 0")
    else:
        lines.append(f"perplexity {result.perplexity:.2f}  ({result.nats_per_token:.4f} nats/token)")
    if result.bits_per_char is not None:
        lines.append(f"bits per character {result.bits_per_char:.4f}")
    if result.entropy_floor_nats is not None:
        gap = f"{result.gap_nats:.4f}" if result.gap_nats is not None else "inf"
        lines.append(f"entropy floor {result.floor_perplexity:.3f} perplexity; gap {gap} nats/token")
    emit(args, {"model_path": str(args.model), **result.to_json()}, "\n".join(lines))
