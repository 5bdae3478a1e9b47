"""`seqlm ngram train CORPUS --order N --out DIR`: count, smooth, write ARPA."""

from __future__ import annotations

import argparse

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag
from seqlm.ngram.config import NgramConfig
from seqlm.settings import add_flags, from_args


def register(commands) -> None:
    ngram = commands.add_parser("ngram", help="count-based n-gram models").add_subparsers(
        dest="ngram_command", metavar="SUBCOMMAND", required=True
    )
    train = ngram.add_parser(
        "train",
        parents=[corpus_flags(), json_flag()],
        help="train an n-gram model (modified Kneser-Ney by default) and write ARPA",
        description="Count n-grams of CORPUS's training split, smooth them and write "
        "DIR/model.arpa (usable by KenLM, SRILM and ASR toolkits), vocab.json and config.json.",
    )
    train.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    add_flags(train, NgramConfig)
    _storage_flags(train)
    train.set_defaults(func=run_train)
    convert = ngram.add_parser(
        "convert",
        parents=[json_flag()],
        help="an ARPA file (KenLM, SRILM, ...) to seqlm's binary form, which loads at once",
        description="Read IN (.arpa or .arpa.gz) and write DIR with memory-mapped arrays; "
        "seqlm eval/generate/probe/serve then load it in milliseconds.",
    )
    convert.add_argument("source", metavar="IN", help="an ARPA file")
    convert.add_argument("out", metavar="DIR", help="model directory to write")
    convert.add_argument("--level", choices=["word", "char"], default="word")
    _storage_flags(convert)
    convert.set_defaults(func=run_convert)


def _storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arpa", action="store_true", help="also write DIR/model.arpa")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace DIR if it holds a model (once the new one is complete)",
    )
    parser.add_argument(
        "--quantize", type=int, choices=[8], help="8-bit probabilities and backoffs (KenLM's -q 8)"
    )


def run_train(args: argparse.Namespace) -> None:
    from seqlm.data import load_corpus
    from seqlm.evaluate import evaluate
    from seqlm.modeldir import check_model_target
    from seqlm.ngram import build
    from seqlm.progress import working

    config = from_args(NgramConfig, args)
    config.validate()
    check_model_target(args.out, args.overwrite)  # before any work
    corpus = load_corpus(corpus_spec(args))
    with working(f"counting {config.order}-grams"):
        model = build(corpus, config=config)
    model.save(args.out, arpa=args.arpa, quantize=args.quantize, overwrite=args.overwrite)
    valid = evaluate(model, corpus, "valid")
    seconds, counts = model.info["train_seconds"], model.info["ngrams"]
    payload = {
        "out": str(args.out),
        "order": config.order,
        "smoothing": config.smoothing,
        "ngrams": counts,
        "train_seconds": seconds,
        "valid": valid.to_json(),
    }
    ppl = valid.perplexity
    text = (
        f"trained {config.order}-gram ({config.smoothing}) on {corpus.name} in {seconds:.2f} s: "
        + ", ".join(f"{n:,} {i}-grams" for i, n in enumerate(counts, 1))
        + f"\nvalid perplexity {ppl if ppl is not None else 'inf (unseen events)'}"
        + f"\nwrote {args.out} ({'ARPA and ' if args.arpa else ''}binary form)"
    )
    emit(args, payload, text)


def run_convert(args: argparse.Namespace) -> None:
    from seqlm.ngram import convert

    model = convert(args.source, args.out, args.quantize, args.level, args.arpa, args.overwrite)
    counts = model.info.get("ngrams", [])
    emit(
        args,
        {"out": args.out, "order": model.order, "ngrams": counts},
        f"wrote {args.out}: order {model.order}, "
        + ", ".join(f"{n:,} {i}-grams" for i, n in enumerate(counts, 1)),
    )
