"""The `seqlm` command: parses arguments and calls the library; nothing else lives here.

Every command that prints figures takes `--json` and then prints exactly one JSON object.
Problems the user can fix (`SeqlmError`) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from seqlm import __version__
from seqlm.errors import SeqlmError

CORPUS_HELP = (
    "a directory with train/valid/test.txt, a text file (split 90/5/5 at line ends), a named "
    "dataset (ptb, tinyshakespeare, wikitext-2; looked up under $SEQLM_DATA, downloaded if "
    "missing) or the built-in 'synthetic[:key=value,...]'"
)


def _add_corpus_args(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("corpus", metavar="CORPUS", help=CORPUS_HELP)
    else:
        p.add_argument("--data", dest="corpus", metavar="CORPUS", required=True, help=CORPUS_HELP)
    p.add_argument("--level", choices=["word", "char"], help="tokenizer (default: per corpus)")
    p.add_argument("--max-vocab", type=int, metavar="N", help="keep the N most frequent tokens")
    p.add_argument("--min-count", type=int, default=1, metavar="N",
                   help="drop tokens seen fewer than N times in train (default 1)")  # fmt: skip
    p.add_argument("--split-fractions", metavar="F,F,F",
                   help="train,valid,test fractions for a single file (default 0.9,0.05,0.05)")  # fmt: skip


def _corpus(args: argparse.Namespace):
    from seqlm.data import load_corpus

    fractions = None
    if args.split_fractions:
        try:
            fractions = tuple(float(x) for x in args.split_fractions.split(","))
        except ValueError:
            raise SeqlmError(f"bad --split-fractions {args.split_fractions!r}") from None
    return load_corpus(args.corpus, args.level, args.max_vocab, args.min_count, fractions)


def _emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    print(json.dumps(payload) if args.json else text)


# -- commands ---------------------------------------------------------------------------
def cmd_data_stats(args: argparse.Namespace) -> None:
    corpus = _corpus(args)
    s = corpus.stats()
    lines = [
        f"corpus          {s['corpus']} ({s['level']} level)",
        f"vocabulary      {s['vocab_size']:,} types",
        "tokens          " + "  ".join(f"{k} {v:,}" for k, v in s["tokens"].items()),
        f"type/token      {s['type_token_ratio']:.4f} (train)",
        "OOV rate        " + "  ".join(f"{k} {v:.2%}" for k, v in s["oov_rate"].items()),
        "<unk> rate      " + "  ".join(f"{k} {v:.2%}" for k, v in s["unk_rate"].items()),
    ]
    for split, floor in s.get("entropy_floor", {}).items():
        lines.append(
            f"entropy floor   {split:5s} {floor['nats_per_token']:.4f} nats/token = perplexity "
            f"{floor['perplexity']:.3f}; {floor['dependent_tokens']:,} long-range-dependent "
            f"tokens, up to {floor['max_distance']} back"
        )
    _emit(args, s, "\n".join(lines))


# -- parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqlm",
        description="Train, compare, understand and ship n-gram, RNN, LSTM and GRU language models.",
    )
    parser.add_argument("--version", action="version", version=f"seqlm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser("data", help="inspect corpora").add_subparsers(
        dest="data_command", metavar="SUBCOMMAND", required=True
    )
    stats = data.add_parser(
        "stats",
        help="token counts, vocabulary, OOV rate; the entropy floor of 'synthetic'",
        description="Print token counts, vocabulary size, OOV rates, type/token ratio and, for "
        "the synthetic corpus, the entropy floor no model can beat.",
    )
    _add_corpus_args(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(func=cmd_data_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except SeqlmError as e:
        print(f"seqlm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqlm: interrupted", file=sys.stderr)
        return 130
    return 0
