"""Reading text files safely and splitting them into tokens.

Files are read in chunks cut at line ends, so tokenizing a large file never holds more
than one chunk of text and its token strings at a time; the ids accumulate in compact
integer arrays. Every way a file can be unusable (missing, empty, binary, not UTF-8,
unreadable, a directory) becomes a one-line `SeqlmError`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from seqlm.io import SeqlmError

EOS = "<eos>"
UNK = "<unk>"
LEVELS = ("word", "char")
BOM = "\ufeff".encode()
CHUNK_BYTES = 2 << 20  # small enough that a chunk's token strings stay well under the ids


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise SeqlmError(f"unknown tokenizer level {level!r} (choose from {', '.join(LEVELS)})")
    return level


def shown(path: str | os.PathLike) -> str:
    """A path as it goes into a one-line message (quoted if it holds a line break etc.)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def os_error(path: str | os.PathLike, error: OSError) -> SeqlmError:
    """A one-line error naming the path and the system's reason ("permission denied")."""
    where = shown(error.filename or path)
    if isinstance(error, IsADirectoryError):
        return SeqlmError(f"{where}: is a directory, expected a file")
    return SeqlmError(f"{where}: {(error.strerror or type(error).__name__).lower()}")


def check_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise SeqlmError(f"{path}: no such file") from None
    except OSError as e:
        raise os_error(path, e) from None
    if stat.S_ISDIR(info.st_mode):
        raise SeqlmError(f"{path}: is a directory, expected a text file")
    if not stat.S_ISREG(info.st_mode):
        raise SeqlmError(f"{path}: not a regular file")
    if info.st_size == 0:
        raise SeqlmError(f"{path}: file is empty")
    return path


def read_chunks(
    path: str | os.PathLike, start: int = 0, end: int | None = None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[str]:
    """Yield the text of bytes [start, end) in pieces that each end at a line end (the last
    piece may not). A UTF-8 byte order mark at the start of the file is dropped: editors
    add it, and it would otherwise become part of the first word."""
    path = check_file(path)
    try:
        yield from _read_chunks(path, start, end, chunk_bytes)
    except OSError as e:
        raise os_error(path, e) from None


def _read_chunks(path: Path, start: int, end: int | None, chunk_bytes: int) -> Iterator[str]:
    end = path.stat().st_size if end is None else end
    with open(path, "rb") as f:
        if start == 0 and f.read(len(BOM)) == BOM:
            start = len(BOM)
        f.seek(start)
        offset = start
        carry = b""
        while offset + len(carry) < end:
            block = f.read(min(chunk_bytes, end - offset - len(carry)))
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # a very long line: keep reading until a line end
                carry = data
                continue
            carry = data[cut:]
            yield _decode(data[:cut], path, offset)
            offset += cut
    if carry:
        yield _decode(carry, path, offset)


def _decode(data: bytes, path: Path, offset: int) -> str:
    if b"\x00" in data:
        raise SeqlmError(
            f"{path}: looks like a binary file (NUL byte at offset {offset + data.index(0)})"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SeqlmError(
            f"{path}: not UTF-8 text (bad byte at offset {offset + e.start})"
        ) from None


def line_cuts(path: Path, fractions: tuple[float, ...]) -> list[int]:
    """Byte offsets that split a file contiguously by `fractions`, moved to the next line end."""
    size = path.stat().st_size
    cuts, total = [0], 0.0
    with open(path, "rb") as f:
        for fraction in fractions[:-1]:
            total += fraction
            f.seek(max(int(size * total), cuts[-1]))
            f.readline()
            cuts.append(min(f.tell(), size))
    cuts.append(size)
    return cuts


def tokenize(text: str, tokenizer: str) -> list[str]:
    """`text` as the named tokenizer's tokens (`seqlm.data.tokenizers`; `word`/`char`
    name `whitespace`/`chars`), `<eos>` closing every line."""
    from seqlm.data.tokenizers import make

    return make(tokenizer).encode(text)


def detokenize(tokens: list[str], tokenizer: str) -> str:
    from seqlm.data.tokenizers import make

    return make(tokenizer).decode(tokens)
