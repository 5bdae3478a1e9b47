"""The `seqlm` command: one module per command, each parsing, calling the library, printing.

Every command that prints figures takes `--json` and then prints exactly one JSON object.
Problems the user can fix (`SeqlmError`) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from seqlm import __version__
from seqlm.cli import (
    compare,
    data,
    eval,
    export,
    generate,
    ngram,
    probe,
    rescore,
    score,
    serve,
    train,
    verify,
)
from seqlm.cli.common import Parser, setup_logging
from seqlm.io import SeqlmError

COMMANDS = (
    data,
    ngram,
    train,
    compare,
    probe,
    eval,
    score,
    rescore,
    export,
    generate,
    serve,
    verify,
)


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
    except SeqlmError as e:  # raised while reading a flag's value
        print(f"seqlm: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `seqlm --help | head -1`
        return _pipe_closed()
    setup_logging(quiet=getattr(args, "json", False))
    terminate = _stop_on_sigterm()
    try:
        args.func(args)
    except SeqlmError as e:
        print(f"seqlm: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`seqlm ... | head -1`): not an error
        return _pipe_closed()
    except OSError as e:  # the file system said no: one line naming the path and the reason
        from seqlm.data.text import os_error

        print(f"seqlm: error: {os_error(e.filename or '?', e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqlm: interrupted", file=sys.stderr)
        return 130
    finally:
        terminate()
    return 0


def _pipe_closed() -> int:
    """Quiet, as other tools are when their reader closes the pipe: stdout is pointed at
    /dev/null so that flushing it at exit cannot fail again; exit code 128 + SIGPIPE."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured)
        pass
    return 141


def _stop_on_sigterm():
    """SIGTERM (`kill`, schedulers) ends a command as Ctrl-C does, so what it holds (a
    spill folder, temporaries) is cleaned up; returns what restores the old handler."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return lambda: None
    signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)
