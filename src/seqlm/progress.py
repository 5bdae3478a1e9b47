"""Progress on stderr: a tqdm bar on a terminal, a plain status line now and then elsewhere.

A bar redrawn with carriage returns is noise in a CI log or a `nohup` file, and silence
there is worse (a run looks hung), so when stderr is not a terminal the same figures (done,
total, rate, ETA, the postfix) are printed as one plain line every `SEQLM_STATUS_INTERVAL`
seconds (default 30) and when a long task ends. A pseudo-terminal that reports 0 columns
(`script`, `pty.fork`, some CI runners) makes tqdm draw nothing at all: the bar then
gets a fixed size. Stdout is never written, so `--json` stays one object.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

DEFAULT_INTERVAL = 30.0


def status_interval() -> float:
    """Seconds between status lines off a terminal (SEQLM_STATUS_INTERVAL, default 30)."""
    try:
        return max(float(os.environ.get("SEQLM_STATUS_INTERVAL", DEFAULT_INTERVAL)), 0.0)
    except ValueError:
        return DEFAULT_INTERVAL


def bar(
    total: float | None,
    desc: str,
    enabled: bool = True,
    unit: str = "it",
    unit_scale: bool = False,
    initial: float = 0,
    leave: bool = True,
    bar_format: str | None = None,
):
    """A tqdm bar on a terminal, `StatusLines` off one, a silent bar when not `enabled`.
    Both take `update`, `set_postfix`, `close` and work as context managers."""
    options = dict(total=total, desc=desc, unit=unit, unit_scale=unit_scale, initial=initial)
    if not enabled:
        return tqdm(disable=True, **options)
    stream = sys.stderr
    if not _isatty(stream):
        return StatusLines(**options)
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        size = os.terminal_size((0, 0))
    # a size of 0 (pseudo-terminals without one) makes tqdm draw nothing at all
    fixed = {"ncols": size.columns or 100, "nrows": size.lines or 20}
    width = {"dynamic_ncols": True} if size.columns and size.lines else fixed
    return tqdm(file=stream, leave=leave, bar_format=bar_format, **width, **options)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class StatusLines:
    """tqdm's interface, printing one plain line (tqdm's figures, no bar) every interval."""

    def __init__(self, total, desc, unit="it", unit_scale=False, initial=0):
        self.total, self.desc, self.unit, self.unit_scale = total, desc, unit, unit_scale
        self.n, self.initial = initial, initial
        self.postfix: str | None = None
        self.interval = status_interval()
        self.start = self.last = time.monotonic()
        self.printed, self.printed_n = 0, None

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._print(now)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        """The final figures, if the task was long enough to have printed a status line."""
        if self.printed and self.n != self.printed_n:
            self._print(time.monotonic())
        self.printed = 0

    def _print(self, now: float) -> None:
        line = tqdm.format_meter(
            self.n,
            self.total,
            now - self.start,
            ncols=0,
            prefix=self.desc,
            unit=self.unit,
            unit_scale=self.unit_scale,
            postfix=self.postfix,
            initial=self.initial,
        )
        print(line, file=sys.stderr, flush=True)
        self.printed, self.printed_n = self.printed + 1, self.n

    def __enter__(self) -> StatusLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def working(desc: str, enabled: bool = True) -> Iterator[None]:
    """Progress for a task that cannot count its steps (an evaluation, an n-gram count):
    the elapsed time on a terminal (redrawn each second); off one, a status line every
    interval and, for a task long enough to have printed one, its total time at the end."""
    if not enabled:
        yield
        return
    stop, start = threading.Event(), time.monotonic()
    if _isatty(sys.stderr):
        shown = bar(None, desc, leave=False, bar_format="{desc}: {elapsed} elapsed")
        wait, say = 1.0, lambda: shown.refresh()
    else:
        shown, wait = None, status_interval()
        say = lambda: print(  # noqa: E731
            f"{desc}: running, {_clock(time.monotonic() - start)} elapsed",
            file=sys.stderr,
            flush=True,
        )
    said = []

    def tick() -> None:
        while not stop.wait(max(wait, 0.01)):
            say()
            said.append(1)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if shown is not None:
            shown.close()
        elif said:
            print(f"{desc}: done in {_clock(time.monotonic() - start)}", file=sys.stderr)


def _clock(seconds: float) -> str:
    return tqdm.format_interval(seconds)
