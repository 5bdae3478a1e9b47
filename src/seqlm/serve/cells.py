"""Inside an LSTM (or sLSTM, mLSTM), for the explorer: gates over a text, and LSTMVis-style
pattern search.

Pattern search (Strobelt et al. 2018, LSTMVis): select a span of text; the cells that
switch on there (tanh(cell state) above a threshold over the whole span, and not at the
token before it) are its "pattern"; the corpus spans of the same length where most of
those cells switch on too are its matches.
The corpus's cell states are computed once per model and corpus and kept on disk (int8,
tanh(c) * 127), so a search is a scan of one array.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from seqlm.io import SeqlmError, digest
from seqlm.probe.gates import GATED, inside_lstm
from seqlm.serve.models import ServedModel

log = logging.getLogger("seqlm.serve")
GATES = ("input_gate", "forget_gate", "output_gate")
# what an xLSTM cell keeps besides c: sLSTM's normaliser n_t, mLSTM's ‖C_t‖ / ‖n_t‖
MEMORY_ROWS = ("normalizer_state", "memory_norm")


def has_gates(model: ServedModel) -> bool:
    """Whether /gates and /patterns can read the model (an LSTM, sLSTM or mLSTM)."""
    return model.kind in GATED


def no_gates(model: ServedModel, what: str = "gate views need") -> str:
    """The one-line refusal for a model without gates (n-gram, RNN, GRU, minGRU, ...)."""
    return f"model: {what} an LSTM, sLSTM or mLSTM; {model.name} ({model.kind}) has none"


def text_states(model: ServedModel, ids: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per layer, (T, H) gates and cell state after reading each token, the start token
    read first (as scoring does)."""
    ref = model.reference()
    inputs = np.concatenate([[ref.start_token], np.asarray(ids, dtype=np.int64)])
    return [{k: v[1:] for k, v in layer.items()} for layer in ref.gates(inputs)]


def parse_cells(specs: list[str], units: list[int]) -> list[tuple[int, int]]:
    """`LAYER:UNIT` (layers from 1, units from 0) -> pairs; one-line error otherwise."""
    cells = []
    for spec in specs:
        try:
            layer, unit = (int(x) for x in spec.split(":"))
        except ValueError:
            layer = unit = -1
        if not (1 <= layer <= len(units) and 0 <= unit < units[layer - 1]):
            raise SeqlmError(
                f"bad cell {spec!r}: expected LAYER:UNIT with layer "
                f"1..{len(units)} and a unit of that layer (from 0)"
            )
        cells.append((layer, unit))
    return cells


def most_active(states: list[dict[str, np.ndarray]], top: int) -> list[tuple[int, int]]:
    """The cells whose tanh(c) varies most over the text: the ones doing something here."""
    spread = [
        (float(s), li + 1, u)
        for li, layer in enumerate(states)
        for u, s in enumerate(np.tanh(layer["cell_state"]).std(axis=0))
    ]
    spread.sort(key=lambda x: -x[0])
    return [(layer, unit) for _, layer, unit in spread[:top]]


def gates_view(model: ServedModel, text: str, cells: list[str] | None, top: int) -> dict:
    """The chosen (or most active) cells' gates and cell state per token (and an xLSTM's
    `MEMORY_ROWS`), each layer's mean forget gate per token, and the cells the gates probe
    finds for the corpus's properties."""
    lm = model.lm
    tokens = lm.tokenize(text)
    states = text_states(model, lm.vocab.encode(tokens))
    units = [s["cell_state"].shape[1] for s in states]
    chosen = parse_cells(cells, units) if cells else most_active(states, top)
    extra = [r for r in MEMORY_ROWS if r in states[0]]
    rows = []
    for layer, unit in chosen:
        s = states[layer - 1]
        rows.append(
            {
                "layer": layer,
                "unit": unit,
                **{g: _rounded(s[g][:, unit]) for g in (*GATES, "cell_state", *extra)},
            }
        )
    return {
        "model": model.name,
        "kind": model.kind,
        "memory_rows": extra,
        "tokens": tokens,
        "layers": len(states),
        "units": units,
        "cells": rows,
        "forget_mean": [_rounded(s["forget_gate"].mean(axis=1)) for s in states],
        "probe_cells": probe_cells(model, states, tokens),
    }


def _rounded(values: np.ndarray) -> list[float]:
    """4 decimals, as short JSON (float32 values print with 17 digits otherwise)."""
    return np.asarray(values, dtype=np.float64).round(4).tolist()


def probe_cells(model: ServedModel, states, tokens) -> dict:
    """`seqlm probe gates`'s cells for line position / quotes / brackets: on a piece of the
    validation split if the corpus loads (found once), else on this text."""
    if model.probes is not None:
        return model.probes
    if model.corpus() is not None:
        ids = np.asarray(model.corpus_ids("valid")[:3000], dtype=np.int64)
        model.probes = inside_lstm(model.reference(), ids, top=3)[0]["correlated"]
        return model.probes
    from seqlm.probe.gates import correlated_cells, property_values

    found = {}
    for name in ("line_position", "in_quotes", "bracket_depth"):
        values = property_values(name, tokens)
        if len(tokens) > 2 and values.std() > 0:
            found[name] = correlated_cells(states, values, 3)
    return found


# -- the corpus index ------------------------------------------------------------------
class CellIndex:
    """tanh(c) of every layer after each token of a stretch of the training and
    validation splits: (T, sum of layer sizes) int8, with the token ids and where each
    token came from."""

    def __init__(
        self,
        values: np.ndarray,
        ids: np.ndarray,
        split_names: list[str],
        starts: list[int],
        sizes: list[int],
    ) -> None:
        self.values, self.ids, self.sizes = values, ids, sizes
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.split_names, self.starts = split_names, starts

    def cell(self, flat: int) -> dict:
        """A column of the index as layer (from 1) and unit (from 0)."""
        layer = max(i for i, o in enumerate(self.offsets[:-1]) if o <= flat)
        return {"layer": layer + 1, "unit": flat - self.offsets[layer]}

    @classmethod
    def build_or_load(cls, model: ServedModel, tokens: int, cache: Path) -> CellIndex:
        splits = [("train", tokens - tokens // 2), ("valid", tokens // 2)]
        key = digest(
            repr((str(model.path), _mtime(model.path), model.config.get("corpus"), splits)), 16
        )
        path = cache / f"{model.name}-{key}.npz"
        if path.exists():
            with np.load(path) as f:
                return cls(
                    f["values"],
                    f["ids"],
                    [str(x) for x in f["split_names"]],
                    f["starts"].tolist(),
                    f["sizes"].tolist(),
                )
        log.info("%s: indexing the cell states of %d corpus tokens", model.name, tokens)
        parts, ids, names, starts = [], [], [], []
        for split, n in splits:
            chunk = np.asarray(model.corpus_ids(split)[:n], dtype=np.int64)
            starts.append(sum(len(i) for i in ids))
            names.append(split)
            ids.append(chunk)
            parts.append(_cell_states(model, chunk))
        sizes = model.reference().state_sizes()
        index = cls(np.concatenate(parts), np.concatenate(ids), names, starts, sizes)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(
            tmp,
            values=index.values,
            ids=index.ids,
            split_names=np.array(names),
            starts=np.array(starts),
            sizes=np.array(sizes),
        )
        os.replace(tmp, path)
        return index

    def search(
        self, pattern: np.ndarray, threshold: float, length: int, limit: int, context: int = 8
    ) -> list[dict]:
        """The corpus spans of `length` tokens where most of the `pattern` cells (flat
        indices) switch on (above `threshold` throughout, not just before), best first,
        not overlapping."""
        if len(pattern) == 0 or length < 1 or length > len(self.ids):
            return []
        on = (self.values[:, pattern] > level(threshold)).astype(np.int32)
        run = np.cumsum(np.vstack([np.zeros((1, len(pattern)), np.int32), on]), axis=0)
        whole = (run[length:] - run[:-length]) == length  # (T - length + 1, k)
        before = np.vstack([np.zeros((1, len(pattern)), np.int32), on[: len(whole) - 1]])
        score = (whole & (before == 0)).sum(axis=1)
        order = np.argsort(-score, kind="stable")
        taken = np.zeros(len(self.ids), dtype=bool)
        found = []
        for start in order.tolist():
            if score[start] == 0 or len(found) >= limit:
                break
            if taken[start : start + length].any():
                continue
            taken[max(0, start - context) : start + length + context] = True
            found.append({"start": start, "score": int(score[start])})
        return found

    def where(self, position: int) -> tuple[str, int]:
        """The split and position within it of a token of the index."""
        i = max(j for j, s in enumerate(self.starts) if s <= position)
        return self.split_names[i], position - self.starts[i]


def quantize(cell_state: torch.Tensor) -> torch.Tensor:
    """The index's int8 form of tanh(c): both the corpus and a query text are compared in it."""
    return (torch.tanh(cell_state) * 127).round().to(torch.int8)


def level(threshold: float) -> int:
    """A threshold on tanh(c) in the int8 scale of `quantize`."""
    return int(round(threshold * 127))


def _mtime(path: Path) -> float:
    target = path / "model.safetensors" if path.is_dir() else path
    return target.stat().st_mtime if target.exists() else 0.0


@torch.inference_mode()
def _cell_states(model: ServedModel, ids: np.ndarray, chunk: int = 512) -> np.ndarray:
    """tanh(c) of every layer after each token, read in chunks with the state carried."""
    ref = model.reference()
    inputs = torch.as_tensor(np.concatenate([[ref.start_token], ids]))[:, None]
    state, out = None, []
    for start in range(0, len(inputs), chunk):
        _, state, gates = ref.features(inputs[start : start + chunk], state, return_gates=True)
        out.append(torch.cat([quantize(g["cell_state"][:, 0]) for g in gates], dim=1).numpy())
    return np.concatenate(out)[1:]  # row t: after reading ids[t] (row 0 read the start)


def pattern_search(
    model: ServedModel,
    index: CellIndex,
    text: str,
    start: int,
    end: int,
    threshold: float,
    layer: int | None,
    limit: int,
) -> dict:
    """The cells that switch on over tokens start..end (inclusive) of `text`, and the corpus
    spans where the same cells switch on."""
    lm = model.lm
    tokens = lm.tokenize(text)
    if not 0 <= start <= end < len(tokens):
        raise SeqlmError(f"span {start}..{end} is outside the text's {len(tokens)} tokens")
    states = text_states(model, lm.vocab.encode(tokens))
    cells = np.concatenate(
        [quantize(torch.as_tensor(s["cell_state"])).numpy() for s in states], axis=1
    )
    layers = [layer] if layer else list(range(1, len(states) + 1))
    allowed = np.zeros(cells.shape[1], dtype=bool)
    for li in layers:
        allowed[index.offsets[li - 1] : index.offsets[li]] = True
    on = cells > level(threshold)
    pattern = on[start : end + 1].all(axis=0) & ~(on[start - 1] if start > 0 else False)
    pattern = np.flatnonzero(allowed & pattern)
    length = end - start + 1
    matches = []
    for m in index.search(pattern, threshold, length, limit):
        split, position = index.where(m["start"])
        lo, hi = max(0, m["start"] - 8), min(len(index.ids), m["start"] + length + 8)
        matches.append(
            {
                "split": split,
                "position": position,
                "score": m["score"],
                "tokens": lm.vocab.decode(index.ids[lo:hi].tolist()),
                "match_start": m["start"] - lo,
                "match_end": m["start"] - lo + length - 1,
            }
        )
    return {
        "model": model.name,
        "tokens": tokens,
        "start": start,
        "end": end,
        "threshold": threshold,
        "cells": [index.cell(p) for p in pattern.tolist()],
        "matches": matches,
    }
