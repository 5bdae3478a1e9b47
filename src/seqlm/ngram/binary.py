"""The binary n-gram format: memory-mapped NumPy arrays that load in milliseconds.

A model directory holds, per order n, `ngram{n}.keys.npy` (sorted packed n-grams, the
same keys scoring searches), `ngram{n}.prob.npy` (log10 p) and, below the highest order,
`ngram{n}.backoff.npy`, next to `vocab.json` and `config.json`; `ngram{n}.fence.npy`,
every 256th key (1/256 of the keys), is read into memory and sends each search to the
page that holds its key. Loading maps the other files (`np.load(mmap_mode="r")`):
nothing is read until scoring touches it, and then only the pages its searches visit,
so a model of any size opens at once and several processes share one copy in the page
cache.

Optional 8-bit quantisation (like KenLM's `-q 8 -b 8`): per order above the unigrams, the
probabilities and the backoffs are cut into 256 bins holding equal numbers of values, each
value replaced by its bin's mean (a backoff of 0 stays exact); the file then holds a uint8
code per n-gram and a 256-entry table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from seqlm.io import SeqlmError, atomic_write
from seqlm.ngram.checks import check_config, check_keys, check_values, checked_order
from seqlm.ngram.counts import FENCE, fence_of, read_block
from seqlm.ngram.smoothing import NgramTables

# what config.json says about the files, not about the model (not carried into a re-save)
STORAGE_KEYS = (
    "storage",
    "base",
    "quantize_bits",
    "with_arpa",
    "seqlm_version",
    "suffix_closed",
    "probing",
)

QUANT_BITS = (8,)


class Quantized:
    """A read-only float array stored as uint8 codes into a table of bin centres."""

    def __init__(self, codes: np.ndarray, centers: np.ndarray):
        self.codes, self.centers = codes, np.asarray(centers, np.float32)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index):
        return self.centers[self.codes[index]]

    def __array__(self, dtype=None, copy=None):
        values = self.centers[np.asarray(self.codes)]
        return values if dtype is None else values.astype(dtype)

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.centers.nbytes


def quantize(values: np.ndarray, bits: int = 8, exact: tuple[float, ...] = ()) -> Quantized:
    """Equal-population bins, each value replaced by its bin's mean (KenLM's scheme, after
    Federico & Bertoldi 2006). Values that are not finite (log 0) and those in `exact`
    (KenLM keeps backoff 0 exact) get codes of their own at the end."""
    values = np.asarray(values, np.float64)
    bins = 1 << bits
    reserved = ~np.isfinite(values) | np.isin(values, exact)
    special = np.unique(values[reserved])
    room = bins - len(special)
    distinct = np.unique(values[~reserved])
    if len(distinct) <= room:  # few values: exact
        centers = distinct
    else:
        ordered = np.sort(values[~reserved])
        edges = np.linspace(0, len(ordered), room + 1).astype(np.int64)
        sums = np.add.reduceat(ordered, edges[:-1])
        centers = np.unique(sums / np.diff(edges))
    codes = np.zeros(len(values), np.uint8 if bins <= 256 else np.uint16)
    if len(centers):
        cut = (centers[1:] + centers[:-1]) / 2  # nearest centre
        codes[~reserved] = np.searchsorted(cut, values[~reserved])
    codes[reserved] = len(centers) + np.searchsorted(special, values[reserved])
    return Quantized(codes, np.concatenate([centers, special]).astype(np.float32))


BLOCK = 1 << 20


def _save_array(path: Path, array, dtype=None) -> None:
    """A 1-D .npy file written block by block, converted to `dtype` on the way."""
    dtype = np.dtype(dtype or array.dtype)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": (len(array),),
            }
            np.lib.format.write_array_header_1_0(f, header)
            for lo in range(0, len(array), BLOCK):
                block = read_block(array, lo, min(lo + BLOCK, len(array)))
                f.write(np.ascontiguousarray(block, dtype=dtype).tobytes())

    atomic_write(path, write)


def save_tables(tables: NgramTables, directory: Path, quantize_bits: int | None = None) -> dict:
    """Write the arrays; returns what config.json records about them."""
    if quantize_bits is not None and quantize_bits not in QUANT_BITS:
        raise SeqlmError(f"quantisation must be one of {QUANT_BITS} bits, got {quantize_bits}")
    for n in range(1, tables.order + 1):
        _save_array(directory / f"ngram{n}.keys.npy", tables.keys[n - 1], np.int64)
        _save_array(directory / f"ngram{n}.fence.npy", fence_of(tables.keys[n - 1]))
        columns = [("prob", tables.log10_prob[n - 1])]
        if n < tables.order:
            columns.append(("backoff", tables.log10_backoff[n - 1]))
        for name, values in columns:
            if quantize_bits and n > 1:  # as KenLM, the unigrams stay exact
                exact = (0.0,) if name == "backoff" else ()
                q = quantize(np.asarray(values, np.float32), quantize_bits, exact)
                _save_array(directory / f"ngram{n}.{name}.npy", q.codes)
                _save_array(directory / f"ngram{n}.{name}.centers.npy", q.centers)
            else:
                _save_array(directory / f"ngram{n}.{name}.npy", values, np.float32)
                (directory / f"ngram{n}.{name}.centers.npy").unlink(missing_ok=True)
    if tables.suffix_closed is None:  # known at load, not checked then (fast.py)
        from seqlm.ngram.fast_words import suffix_closed

        tables.suffix_closed = suffix_closed(tables)
    storage = {"storage": "npy", "base": tables.base, "quantize_bits": quantize_bits}
    if tables.suffix_closed is not None:
        storage["suffix_closed"] = tables.suffix_closed
    return storage


def save_probing(directory: Path, config: dict, base: int) -> dict:
    """Write the kernels' hash tables (`fast.Packed`) of the tables saved in `directory`,
    so that a load maps them as KenLM maps its probing binary, instead of building them (a
    100M-token 5-gram: 4.7 GB, 18 s); returns what config.json records about them."""
    from seqlm.ngram import fast

    if not fast.enabled():
        return {}
    packed = fast.Packed(load_tables(directory, config, base))
    for n, slots in enumerate(packed.slots[1:], 2):
        _save_array(directory / f"ngram{n}.probing.npy", slots)
    return {"probing": fast.PROBING}


def load_tables(
    directory: Path, config: dict, base: int, mmap: bool = True, verify: bool = False
) -> NgramTables:
    """Map (or read, `mmap=False`) the arrays written by `save_tables`, checked against
    config.json and for sorted keys and sane values (`checks.py`; whole with `verify`)."""
    mode = "r" if mmap else None
    order = checked_order(config, directory)

    def load(name: str, mode=mode) -> np.ndarray:
        path = directory / name
        try:
            array = np.load(path, mmap_mode=mode, allow_pickle=False)
        except FileNotFoundError:
            raise SeqlmError(f"{path}: missing (incomplete model directory)") from None
        except (ValueError, EOFError, OSError) as e:
            raise SeqlmError(f"{path}: corrupt ({str(e)[:80]})") from None
        if array.ndim != 1:
            raise SeqlmError(f"{path}: corrupt (shape {array.shape})")
        return array

    def column(n: int, name: str):
        values = load(f"ngram{n}.{name}.npy")
        if values.dtype == np.uint8:
            values = Quantized(values, load(f"ngram{n}.{name}.centers.npy", None))
        check_values(values, directory / f"ngram{n}.{name}.npy", name == "prob", verify)
        return values

    keys, probs, backs, fences = [], [], [], []
    for n in range(1, order + 1):
        keys.append(load(f"ngram{n}.keys.npy"))
        fence = None
        if (directory / f"ngram{n}.fence.npy").exists():  # older directories lack it
            fence = load(f"ngram{n}.fence.npy", None)
            fences.append(fence)
        limit = base if n == 1 else len(keys[-2]) * base
        check_keys(keys[-1], fence, directory / f"ngram{n}.keys.npy", limit, verify)
        probs.append(column(n, "prob"))
        if n < order:
            backs.append(column(n, "backoff"))
        if len(probs[-1]) != len(keys[-1]) or (n < order and len(backs[-1]) != len(keys[-1])):
            raise SeqlmError(f"{directory}: the {n}-gram arrays differ in length")
    backs.append(np.broadcast_to(np.float32(0), (len(keys[-1]),)))
    if len(keys[0]) != base:
        raise SeqlmError(f"{directory}: {len(keys[0])} unigrams, the vocabulary has {base - 1}")
    check_config(config, directory, base, [len(k) for k in keys])
    if len(fences) != order or any(
        len(f) != -(-len(k) // FENCE) for f, k in zip(fences, keys, strict=False)
    ):
        fences = []  # none, or not these keys': searched without
    closed = config.get("suffix_closed")  # absent (an older directory): every order looked up
    return NgramTables(base, keys, probs, backs, fences=fences, suffix_closed=closed,
                       probing=_probing(directory, config, keys, load))  # fmt: skip


def _probing(directory: Path, config: dict, keys: list, load) -> list:
    """The hash tables `save_probing` wrote, mapped; none if absent or of another layout."""
    from seqlm.ngram import fast

    if config.get("probing") != fast.PROBING or not fast.enabled():
        return []
    tables = [load(f"ngram{n}.probing.npy") for n in range(2, len(keys) + 1)]
    for n, table in enumerate(tables, 2):  # float32 values: 2 int64 words a slot
        if len(table) != 2 * fast.slot_rows(len(keys[n - 1])) or table.dtype != np.int64:
            raise SeqlmError(f"{directory / f'ngram{n}.probing.npy'}: corrupt (size)")
    return tables


def remove_tables(directory: Path) -> None:
    for path in directory.glob("ngram*.npy"):
        os.unlink(path)
