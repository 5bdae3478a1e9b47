"""What every command shares: the parser class, parent parsers, printing results and the
corpus a command's flags name. Flags made from settings come from `seqlm.settings`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from seqlm.data.spec import CorpusSpec
from seqlm.io import SeqlmError

CORPUS_HELP = (
    "a directory with train/valid/test.txt, a text file (split 90/5/5 at line ends; or a "
    "JSONL/Parquet file, text field named as FILE:FIELD, default text; a Hugging Face dataset "
    "saved with save_to_disk; .gz/.xz/.zst text), a named "
    "dataset (ptb, tinyshakespeare, wikitext-2; looked up under $SEQLM_DATA, downloaded if "
    "missing) or the built-in 'synthetic[:key=value,...]'"
)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def json_flag() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print one JSON object")
    return parent


def corpus_flags(positional: bool = True, hidden: bool = False) -> argparse.ArgumentParser:
    """CORPUS (or --data CORPUS) and the tokenization settings of a `CorpusSpec`."""
    parent = argparse.ArgumentParser(add_help=False)
    if positional:
        parent.add_argument("corpus", metavar="CORPUS", help=CORPUS_HELP)
    else:
        parent.add_argument("--data", dest="corpus", metavar="CORPUS", help=CORPUS_HELP)
    show = (lambda text: argparse.SUPPRESS) if hidden else (lambda text: text)
    parent.add_argument(
        "--tokenizer",
        metavar="NAME",
        help=show("whitespace, words, chars, bytes or bpe:N (default: per corpus)"),
    )
    parent.add_argument(
        "--level", choices=["word", "char"], help=show("same as --tokenizer whitespace|chars")
    )
    parent.add_argument(
        "--max-vocab", type=int, metavar="N", help=show("keep the N most frequent tokens")
    )
    parent.add_argument(
        "--min-count",
        type=int,
        metavar="N",
        help=show("drop tokens seen fewer than N times in train (default 1)"),
    )
    parent.add_argument(
        "--split-fractions",
        metavar="F,F,F",
        type=_fractions,
        help=show("train,valid,test fractions for a single file (default 0.9,0.05,0.05)"),
    )
    return parent


def bounded(low: int, high: int):
    """An argparse type for a hand-declared integer flag: out of [low, high] is a usage
    error (one line, exit 2) before any work starts."""

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}")
        return value

    read.__name__ = "integer"
    return read


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad fractions {text!r} (e.g. 0.8,0.1,0.1)") from None


def corpus_spec(args: argparse.Namespace, default: CorpusSpec | None = None) -> CorpusSpec:
    """The corpus the flags name; flags left out fall back to `default` (a model's own)."""
    if args.corpus is None and default is None:
        raise SeqlmError("no corpus: pass CORPUS (--data CORPUS)")
    base = default if args.corpus is None else CorpusSpec(args.corpus)
    return CorpusSpec(
        base.source,
        args.level,
        args.max_vocab if args.max_vocab is not None else base.max_vocab,
        args.min_count if args.min_count is not None else base.min_count,
        args.split_fractions or base.split_fractions,
        args.tokenizer or (base.tokenizer if args.corpus is None and args.level is None else None),
    )


def emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    print(json.dumps(payload, default=str) if getattr(args, "json", False) else text)


def show_progress(args: argparse.Namespace) -> bool:
    """Progress always goes to stderr (a bar on a terminal, status lines elsewhere:
    `seqlm.progress`), so stdout, and --json's one object, is never touched."""
    return True


def setup_logging(quiet: bool) -> None:
    """The library logs through `logging` (silent when imported); the CLI shows it on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("seqlm")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
