"""`seqlm score MODEL INPUT --out OUT`: per-document figures for a file of documents."""

from __future__ import annotations

import argparse

from seqlm.cli.common import emit, json_flag
from seqlm.evaluate.bulk_file import ScoreConfig
from seqlm.settings import add_flags, from_args


def register(commands) -> None:
    sc = commands.add_parser(
        "score",
        parents=[json_flag()],
        help="score every document of a file (text, JSONL, Parquet), one record each",
        description="Scores each document on its own, from the model's start state: a line of "
        "a text file, or the --field of each JSONL line, Parquet row or saved Hugging Face "
        "dataset row (text and JSONL may be .gz, .xz or .zst). Writes one record per "
        "document, in input order, to OUT (JSONL, or Parquet when OUT ends in .parquet): "
        "line, tokens, bytes (UTF-8, with the line end), logprob (natural log, nats), bits "
        "(-logprob / ln 2), perplexity, bits_per_byte, oov. Streams in constant memory.",
    )
    sc.add_argument("model", metavar="MODEL", help="a model directory or an ARPA file")
    sc.add_argument("input", metavar="INPUT", help="text, JSONL or Parquet file, or a dataset")
    sc.add_argument("--out", required=True, metavar="OUT", help="where the records go")
    sc.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    sc.add_argument(
        "--keep-between",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="write only documents whose perplexity lies in [LO, HI] (a CCNet-style filter)",
    )
    add_flags(sc, ScoreConfig)
    sc.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from seqlm.evaluate.bulk_file import score_file

    config = from_args(ScoreConfig, args)
    summary = score_file(
        args.model,
        args.input,
        args.out,
        field=config.field,
        id_field=config.id_field,
        fmt=config.format,
        workers=config.workers,
        keep_between=args.keep_between,
        batch=config.batch,
        overwrite=args.overwrite,
    )
    result = {"model_path": str(args.model), "out": str(args.out), **summary.to_json()}
    ppl = result["perplexity"]
    lines = [
        f"scored {summary.documents:,} documents, {summary.tokens:,} tokens in "
        f"{summary.seconds:.1f}s ({result['documents_per_s'] or 0:,.0f} documents/s, "
        f"{result['tokens_per_s'] or 0:,.0f} tokens/s)",
        "perplexity inf (some token has probability 0)"
        if ppl is None
        else f"perplexity {ppl:.2f} over all tokens, {result['bits_per_byte']:.4f} bits/byte",
    ]
    if args.keep_between:
        low, high = args.keep_between
        share = summary.kept / summary.documents if summary.documents else 0.0
        lines.append(
            f"kept {summary.kept:,} of {summary.documents:,} documents ({share:.1%}) with "
            f"perplexity in [{low:g}, {high:g}]"
        )
    lines.append(f"wrote {args.out}")
    emit(args, result, "\n".join(lines))
