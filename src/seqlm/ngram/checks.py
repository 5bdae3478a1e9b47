"""The invariants of a binary n-gram directory, checked on every load.

A corrupt table gives a wrong perplexity, not an error (unsorted keys send searches
astray; an overwritten probability scores on), so loading checks what costs little:
config.json against the arrays (order, base, n-gram counts, quantisation), each array's
dtype and shape, keys sorted and inside their range, log-probabilities not NaN and <= 0,
backoffs not NaN or +inf (-inf is maximum likelihood's "no mass left"). Arrays of up to
`FULL_CHECK` entries are checked whole; larger (memory-mapped) ones at `SAMPLES` evenly
spaced places and against their fence, so a model of any size still opens at once:
`seqlm verify` (`full=True`) checks them whole, in blocks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqlm.io import SeqlmError
from seqlm.ngram.counts import FENCE, read_block

FULL_CHECK = 1 << 22  # entries: 32 MB of keys
SAMPLES = 1024
BLOCK = 1 << 20


def checked_order(config: dict, directory: Path) -> int:
    """config.json's order, if it is one."""
    order = config.get("order")
    if type(order) is not int or not 1 <= order <= 32:
        raise SeqlmError(f"{directory}/config.json: bad n-gram order {order!r:.40}")
    return order


def check_config(config: dict, directory: Path, base: int, lengths: list[int]) -> None:
    """The counts, base and quantisation config.json records, against the arrays."""
    where = f"{directory}/config.json"
    if "base" in config and config["base"] != base:
        raise SeqlmError(f"{where}: base {config['base']!r:.40} does not match vocab.json ({base})")
    counts = config.get("ngrams")
    if counts is not None and counts != lengths:
        raise SeqlmError(f"{where}: n-gram counts {counts!s:.60} do not match the arrays {lengths}")
    if config.get("quantize_bits") not in (None, 8):
        raise SeqlmError(f"{where}: bad quantize_bits {config['quantize_bits']!r:.40}")


def _blocks(array, full: bool):
    """The whole array in blocks (small, or `full`), else evenly spaced samples."""
    if full or len(array) <= FULL_CHECK:
        for lo in range(0, len(array), BLOCK):
            yield read_block(array, lo, min(lo + BLOCK, len(array)))
    elif len(array):
        yield np.asarray(array[np.linspace(0, len(array) - 1, SAMPLES).astype(np.int64)])


def check_keys(keys, fence, path: Path, limit: int, full: bool) -> None:
    """Strictly increasing packed keys in [0, limit); the fence every FENCE-th key."""
    if keys.dtype != np.int64 or keys.ndim != 1:
        raise SeqlmError(f"{path}: not an array of int64 keys (corrupt)")
    if not len(keys):
        return
    if int(keys[0]) < 0 or int(keys[-1]) >= limit:
        raise SeqlmError(f"{path}: keys outside their range (corrupt)")
    if full or len(keys) <= FULL_CHECK:
        last = None
        for lo in range(0, len(keys), BLOCK):
            block = read_block(keys, lo, min(lo + BLOCK, len(keys)))
            if (last is not None and block[0] <= last) or bool((np.diff(block) <= 0).any()):
                raise SeqlmError(f"{path}: keys not sorted (corrupt)")
            last = block[-1]
    else:
        at = np.linspace(0, len(keys) - 2, SAMPLES).astype(np.int64)
        if bool((np.asarray(keys[at + 1]) <= np.asarray(keys[at])).any()):
            raise SeqlmError(f"{path}: keys not sorted (corrupt)")
    if fence is not None and len(fence) == -(-len(keys) // FENCE):
        if bool((np.diff(fence) <= 0).any()):
            raise SeqlmError(f"{path.with_name(path.name.replace('keys', 'fence'))}: corrupt")
        at = np.linspace(0, len(fence) - 1, min(len(fence), SAMPLES)).astype(np.int64)
        if not np.array_equal(np.asarray(keys[at * FENCE]), fence[at]):
            raise SeqlmError(f"{path}: keys do not match their fence (corrupt)")


def check_values(values, path: Path, probabilities: bool, full: bool) -> None:
    """No NaN; probabilities <= 0, backoffs below +inf. Quantised: codes inside the table."""
    codes = getattr(values, "codes", None)
    if codes is not None:
        centers = values.centers
        if centers.ndim != 1 or not 1 <= len(centers) <= 256:
            raise SeqlmError(
                f"{path.with_name(path.name.replace('.npy', '.centers.npy'))}: corrupt"
            )
        _check_floats(centers, path, probabilities)
        for block in _blocks(codes, full):
            if int(block.max(initial=0)) >= len(centers):
                raise SeqlmError(f"{path}: codes outside the table (corrupt)")
        return
    if values.dtype != np.float32 or values.ndim != 1:
        raise SeqlmError(f"{path}: not an array of float32 values (corrupt)")
    for block in _blocks(values, full):
        _check_floats(block, path, probabilities)


def _check_floats(block: np.ndarray, path: Path, probabilities: bool) -> None:
    bad = np.isnan(block) | (block > 0 if probabilities else block == np.inf)
    if bool(bad.any()):
        what = "log-probabilities NaN or above 0" if probabilities else "backoffs NaN or +inf"
        raise SeqlmError(f"{path}: {what} (corrupt)")
