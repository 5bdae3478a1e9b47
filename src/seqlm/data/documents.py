"""Documents from where users keep them: text files (one document per line), JSONL and
Parquet files with a text field, and Hugging Face `datasets` saved with `save_to_disk`.

Text and JSONL may be compressed (`.gz`, `.xz`, `.zst`). Everything is read as a stream,
one line or one Parquet/Arrow record batch at a time, so memory stays constant at any size.
Every way an input can be unusable (bad JSON, a missing field, bad UTF-8) is a one-line
`SeqlmError` naming the file and the line (or row).

A source with a text field other than ``text`` names it after a colon, as the synthetic
corpus names its settings: ``pages.jsonl:content``, ``data/:body``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seqlm.data.text import shown
from seqlm.io import SeqlmError

FORMATS = ("text", "jsonl", "parquet", "dataset")
COMPRESSED = (".gz", ".xz", ".zst")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
DEFAULT_FIELD = "text"
BATCH_ROWS = 4096


@dataclass(frozen=True)
class Document:
    """One document: where it was (`line`: 1-based line of a text/JSONL file, or row of a
    table), its text and, when asked for, its id field."""

    line: int
    text: str
    id: object = None


def split_field(source: str) -> tuple[str, str | None]:
    """``path:field`` as (path, field); a path that exists as written has no field."""
    if os.path.exists(source) or ":" not in source:
        return source, None
    path, _, field = source.rpartition(":")
    if path and field and os.path.exists(path):
        return path, field
    return source, None


def compression(path: str | os.PathLike) -> str | None:
    suffix = Path(path).suffix.lower()
    return suffix if suffix in COMPRESSED else None


def detect_format(path: str | os.PathLike) -> str:
    """text, jsonl, parquet or dataset, from the name (a compression suffix aside)."""
    path = Path(path)
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return "dataset"
        raise SeqlmError(f"{shown(path)}: a directory, but not a dataset saved by save_to_disk")
    name = path.name.lower()
    for suffix in COMPRESSED:
        name = name.removesuffix(suffix)
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        if compression(path):
            raise SeqlmError(f"{shown(path)}: Parquet compresses itself; give the .parquet file")
        return "parquet"
    return "text"


def is_plain_text(path: str | os.PathLike) -> bool:
    """Whether `path` is an uncompressed text file, which needs no conversion."""
    return not Path(path).is_dir() and detect_format(path) == "text" and not compression(path)


def open_binary(path: str | os.PathLike):
    """A binary stream of the file's content, decompressed by its suffix."""
    kind = compression(path)
    if kind == ".gz":
        import gzip

        return gzip.open(path, "rb")
    if kind == ".xz":
        import lzma

        return lzma.open(path, "rb")
    if kind == ".zst":
        try:
            import zstandard
        except ImportError:
            raise SeqlmError(
                f"{shown(path)}: reading .zst needs the zstandard package "
                "(pip install 'seqlm[scale]')"
            ) from None
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")))
    return open(path, "rb")


def _corrupt(path, error: Exception) -> SeqlmError:
    return SeqlmError(f"{shown(path)}: cannot decompress ({str(error).lower() or 'corrupt'})")


def raw_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its line end) of a text file, decompressed."""
    with open_binary(path) as f:
        number = 0
        try:
            for number, raw in enumerate(f, 1):  # noqa: B007 (the number names errors)
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield number, raw.decode("utf-8").removesuffix("\n")
                except UnicodeDecodeError as e:
                    raise SeqlmError(
                        f"{shown(path)}:{number}: not UTF-8 text (bad byte at column {e.start + 1})"
                    ) from None
        except (EOFError, OSError, ValueError) as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise
            raise _corrupt(path, e) from None
        except Exception as e:  # zstandard.ZstdError
            if type(e).__module__.startswith("zstandard"):
                raise _corrupt(path, e) from None
            raise


def read_documents(
    path: str | os.PathLike,
    field: str | None = None,
    id_field: str | None = None,
    fmt: str | None = None,
) -> Iterator[Document]:
    """The documents of `path`, in order: a text file's lines, or the `field` (default
    ``text``) of each JSONL line, Parquet row or saved dataset's row."""
    path = Path(path)
    if not path.exists():
        raise SeqlmError(f"{shown(path)}: no such file")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise SeqlmError(f"unknown input format {fmt!r} (choose from {', '.join(FORMATS)})")
    field = field or DEFAULT_FIELD
    if fmt == "text":
        if id_field is not None:
            raise SeqlmError("a text file has no id field (documents are named by line)")
        return (Document(n, line) for n, line in raw_lines(path))
    if fmt == "jsonl":
        return _jsonl(path, field, id_field)
    if fmt == "parquet":
        return _parquet(path, field, id_field)
    return _dataset(path, field, id_field)


def _jsonl(path: Path, field: str, id_field: str | None) -> Iterator[Document]:
    for number, line in raw_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise SeqlmError(f"{shown(path)}:{number}: bad JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise SeqlmError(f"{shown(path)}:{number}: expected a JSON object")
        yield Document(
            number,
            _text(record.get(field, _MISSING), path, number, field),
            _id(record, id_field, path, number),
        )


_MISSING = object()


def _text(value, path, where, field: str) -> str:
    if isinstance(value, str):
        return value
    if value is _MISSING:
        raise SeqlmError(f"{shown(path)}:{where}: no field {field!r}")
    raise SeqlmError(
        f"{shown(path)}:{where}: field {field!r} is {type(value).__name__}, not a string"
    )


def _id(record: dict, id_field: str | None, path, where) -> object:
    if id_field is None:
        return None
    if id_field not in record:
        raise SeqlmError(f"{shown(path)}:{where}: no field {id_field!r}")
    return record[id_field]


def _pyarrow(path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SeqlmError(
            f"{shown(path)}: reading Parquet and Arrow needs pyarrow (pip install 'seqlm[scale]')"
        ) from None


def _parquet(path: Path, field: str, id_field: str | None) -> Iterator[Document]:
    _pyarrow(path)
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as e:  # pyarrow's ArrowInvalid: not a Parquet file
        raise SeqlmError(f"{shown(path)}: not a Parquet file ({str(e).splitlines()[0]})") from None
    yield from _batches(path, table.schema_arrow.names, table.iter_batches, field, id_field)


def _batches(path, names, iter_batches, field: str, id_field: str | None) -> Iterator[Document]:
    columns = [field] + ([id_field] if id_field and id_field != field else [])
    for column in columns:
        if column not in names:
            raise SeqlmError(
                f"{shown(path)}: no column {column!r} (columns: {', '.join(names[:10])})"
            )
    row = 0
    for batch in iter_batches(batch_size=BATCH_ROWS, columns=columns):
        data = batch.to_pydict()
        ids = data[id_field] if id_field else [None] * batch.num_rows
        for text, doc_id in zip(data[field], ids, strict=True):
            row += 1
            yield Document(
                row, _text(_MISSING if text is None else text, path, f"row {row}", field), doc_id
            )


def dataset_files(path: Path) -> list[Path]:
    """The Arrow files of a dataset saved with `datasets`' ``save_to_disk``, in order."""
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        files = [path / entry["filename"] for entry in state["_data_files"]]
    except FileNotFoundError:
        if (path / "dataset_dict.json").exists():
            raise SeqlmError(
                f"{shown(path)}: a DatasetDict; name one of its splits' folders "
                f"({', '.join(sorted(p.name for p in path.iterdir() if p.is_dir()))})"
            ) from None
        raise SeqlmError(f"{shown(path)}: no state.json (not saved by save_to_disk)") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise SeqlmError(f"{shown(path)}/state.json: not a datasets state file") from None
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise SeqlmError(f"{shown(path)}: missing {', '.join(missing)}")
    return files


def _dataset(path: Path, field: str, id_field: str | None) -> Iterator[Document]:
    _pyarrow(path)
    import pyarrow as pa

    row = 0
    for file in dataset_files(path):
        with pa.memory_map(str(file)) as source:
            try:
                reader = pa.ipc.open_stream(source)
            except pa.ArrowInvalid as e:
                raise SeqlmError(f"{shown(file)}: not an Arrow stream ({e})") from None

            def batches(batch_size, columns, reader=reader):
                yield from (b.select(columns) for b in reader)

            last = 0
            for doc in _batches(file, reader.schema.names, batches, field, id_field):
                last = doc.line
                yield Document(row + doc.line, doc.text, doc.id)
            row += last
