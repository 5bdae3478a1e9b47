"""The `seqlm` command: one module per command, each parsing, calling the library, printing.

Every command that prints figures takes `--json` and then prints exactly one JSON object.
Problems the user can fix (`SeqlmError`) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from seqlm import __version__
from seqlm.cli import compare, data, eval, export, generate, ngram, probe, serve, train
from seqlm.cli.common import Parser, setup_logging
from seqlm.io import SeqlmError

COMMANDS = (data, ngram, train, compare, probe, eval, export, generate, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="seqlm",
        description="Train, compare, understand and ship n-gram, RNN, LSTM and GRU language models.",
    )
    parser.add_argument("--version", action="version", version=f"seqlm {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for module in COMMANDS:
        module.register(commands)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"seqlm: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.showwarning = _one_line_warning
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors (one line, code 2), --help, --version
        return int(e.code or 0)
    setup_logging(quiet=getattr(args, "json", False))
    try:
        args.func(args)
    except SeqlmError as e:
        print(f"seqlm: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system said no: one line naming the path and the reason
        from seqlm.data.text import os_error

        print(f"seqlm: error: {os_error(e.filename or '?', e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqlm: interrupted", file=sys.stderr)
        return 130
    return 0
