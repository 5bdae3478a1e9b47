"""`seqlm generate MODEL`: stream sampled text from any saved model."""

from __future__ import annotations

import argparse
import logging
import sys

from seqlm.cli.common import bounded, emit, json_flag
from seqlm.settings import MAX_SEED

log = logging.getLogger("seqlm.cli")


def register(commands) -> None:
    gen = commands.add_parser(
        "generate",
        parents=[json_flag()],
        help="sample text from any saved model",
        description="Stream text sampled from a saved model. --temperature 0 is greedy.",
    )
    gen.add_argument("model", metavar="MODEL", help="a model directory or an ARPA file")
    gen.add_argument("--prompt", default="", help="text to continue (default: none)")
    gen.add_argument(
        "--max-tokens", type=int, default=50, metavar="N", help="tokens to generate (default 50)"
    )
    gen.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        metavar="T",
        help="divide log-probabilities by T; 0 is greedy (default 1)",
    )
    gen.add_argument(
        "--top-k",
        type=int,
        metavar="K",
        help="sample among the K most likely tokens (default: all)",
    )
    gen.add_argument(
        "--top-p",
        type=float,
        metavar="P",
        help="nucleus sampling: the smallest set with probability P (default 1)",
    )
    gen.add_argument(
        "--seed",
        type=bounded(0, MAX_SEED),
        metavar="N",
        help="random seed: the same seed, the same text (default: random)",
    )
    gen.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="weights of a neural model's step: bf16 is ~2.5x faster on a CPU, "
        "log-probs within a few hundredths of a nat (default fp32: exact)",
    )
    gen.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from seqlm.loading import load

    model = load(args.model)
    model.set_generation_precision(args.precision)
    unknown = model.unknown_words(args.prompt)
    if unknown:
        log.warning(
            "seqlm: warning: prompt words not in the vocabulary (read as <unk>): %s",
            " ".join(unknown[:20]),
        )
    pieces = model.stream(
        args.prompt, args.max_tokens, args.temperature, args.top_k, args.top_p, args.seed
    )
    if args.json:
        pieces = list(pieces)
        tokens = [p.lstrip(" ") if len(p) > 1 else p for p in pieces]  # "\n" for <eos>
        text = "".join(pieces)
        emit(args, {"prompt": args.prompt, "tokens": tokens, "text": text}, text)
        return
    sys.stdout.write(args.prompt)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
