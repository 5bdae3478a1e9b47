"""Inside the LSTM: gate saturation, cells that track a property, cell heatmaps.

Following Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent
Networks": a gate unit is left-saturated when its activation is < 0.1 (closed) and
right-saturated when > 0.9 (open). Forget-gate units that are right-saturated most of
the time are the integrators that carry information far; the paper found such units in
every layer. Interpretable cells (line position, quotes, bracket depth) are found here
automatically, as the cells whose state correlates best with the property.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from seqlm.data.text import EOS
from seqlm.io import SeqlmError, atomic_write_text
from seqlm.nn.recurrent import RecurrentLM
from seqlm.probe.gradients import reference_copy

SATURATION_GATES = ("input_gate", "forget_gate", "output_gate")
# cells recording these gates and a cell_state (xLSTM's: see `seqlm.nn.xlstm`, in [0, 1])
GATED = ("lstm", "slstm", "mlstm")
GATE_PROPERTIES = ("line_position", "in_quotes", "bracket_depth")
OPENERS, CLOSERS = set("([{"), set(")]}")


def lstm_states(model: RecurrentLM, ids: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per layer: gates, cell state and hidden state, each (T, hidden), for one text."""
    if model.kind not in GATED:
        raise SeqlmError(f"gate probes need an LSTM, sLSTM or mLSTM (this is a {model.kind})")
    return reference_copy(model).gates(np.asarray(ids, dtype=np.int64))


def saturation(states: list[dict[str, np.ndarray]], low: float = 0.1, high: float = 0.9) -> list:
    """Per layer and gate, each unit's fraction of time below `low` and above `high`."""
    layers = []
    for layer in states:
        gates = {}
        for gate in SATURATION_GATES:
            a = layer[gate]
            left, right = (a < low).mean(axis=0), (a > high).mean(axis=0)
            gates[gate] = {
                "left": left.round(4).tolist(),
                "right": right.round(4).tolist(),
                "mostly_open": float((right > 0.5).mean()),  # share of units open > half the time
                "mostly_closed": float((left > 0.5).mean()),
                "mean": float(a.mean()),
            }
        layers.append(gates)
    return layers


# -- properties of a text, one value per token ------------------------------------------
def _line_position(tokens: Sequence[str]) -> np.ndarray:
    out, pos = np.zeros(len(tokens)), 0
    for i, t in enumerate(tokens):
        out[i] = pos
        pos = 0 if t in ("\n", EOS) else pos + 1
    return out


def _in_quotes(tokens: Sequence[str]) -> np.ndarray:
    out, inside = np.zeros(len(tokens)), False
    for i, t in enumerate(tokens):
        if t == '"':
            inside = not inside
        out[i] = inside
    return out


def _bracket_depth(tokens: Sequence[str]) -> np.ndarray:
    out, depth = np.zeros(len(tokens)), 0
    for i, t in enumerate(tokens):
        if t in OPENERS:
            depth += 1
        elif t in CLOSERS:
            depth = max(depth - 1, 0)
        out[i] = depth
    return out


PROPERTIES: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
    "line_position": _line_position,
    "in_quotes": _in_quotes,
    "bracket_depth": _bracket_depth,
}


def property_values(name: str, tokens: Sequence[str]) -> np.ndarray:
    """The value of a property at each token (after reading it)."""
    if name not in PROPERTIES:
        raise ValueError(f"unknown property {name!r} (choose {', '.join(PROPERTIES)})")
    return PROPERTIES[name](tokens)


def correlated_cells(
    states: list[dict[str, np.ndarray]], values: np.ndarray, top: int = 5
) -> list[dict]:
    """The cell-state units whose value correlates most (|Pearson r|) with `values`.

    Layers are numbered from 1, units from 0.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.std() == 0:
        raise ValueError("the property is constant over this text; nothing to correlate")
    v = (values - values.mean()) / values.std()
    found = []
    for li, layer in enumerate(states):
        c = layer["cell_state"].astype(np.float64)
        std = c.std(axis=0)
        covariance = ((c - c.mean(axis=0)) * v[:, None]).mean(axis=0)
        r = np.divide(covariance, std, out=np.zeros_like(std), where=std > 0)
        found += [{"layer": li + 1, "unit": int(u), "r": float(r[u])} for u in range(len(r))]
    found.sort(key=lambda f: -abs(f["r"]))
    return found[:top]


# -- heatmap ------------------------------------------------------------------------------
def _colour(value: float) -> str:
    """tanh(c) in [−1, 1] -> blue (negative) .. white .. red (positive), never darker than
    rgb(102,102,255): black text keeps a contrast of at least 4.5:1 (WCAG AA) on every cell."""
    v = float(np.clip(value, -1, 1))
    fade = int(255 * (1 - 0.6 * abs(v)))
    return f"rgb(255,{fade},{fade})" if v > 0 else f"rgb({fade},{fade},255)"


def heatmap_html(
    tokens: Sequence[str],
    states: list[dict[str, np.ndarray]],
    cells: list[dict],
    level: str,
    title: str = "LSTM cells over a text",
) -> str:
    """A self-contained page: the text once per cell, each token coloured by tanh(c)."""
    blocks = []
    for cell in cells:
        values = np.tanh(states[cell["layer"] - 1]["cell_state"][:, cell["unit"]])
        spans = []
        for tok, val in zip(tokens, values, strict=True):
            shown = "\n" if tok in ("\n", EOS) else tok
            text = html.escape(shown if level == "char" else shown + ("" if shown == "\n" else " "))
            spans.append(
                f'<span style="background:{_colour(val)}" title="{val:+.3f}">{text}</span>'
            )
        note = f" (r = {cell['r']:+.3f} with {cell['property']})" if "property" in cell else ""
        blocks.append(
            f"<h2>layer {cell['layer']}, cell {cell['unit']}{note}</h2>"
            f"<pre class=text>{''.join(spans)}</pre>"
        )
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "pre.text{white-space:pre-wrap;font-family:monospace;line-height:1.5;font-size:14px}"
        f"</style></head><body><h1>{html.escape(title)}</h1><p>Each token is coloured by "
        "tanh of the cell state after reading it: red positive, blue negative, white zero. "
        "Hover for the value.</p>" + "".join(blocks) + "</body></html>"
    )


def inside_lstm(
    model: RecurrentLM,
    ids: np.ndarray,
    properties: Sequence[str] = ("line_position", "in_quotes", "bracket_depth"),
    top: int = 3,
) -> tuple[dict, list[dict[str, np.ndarray]], list[str]]:
    """Saturation statistics plus, for each property that varies, its best-matching cells.

    Also returns the per-layer states and the tokens, for `heatmap_html`.
    """
    tokens = model.vocab.decode(ids)
    states = lstm_states(model, ids)
    found = {}
    for name in properties:
        values = property_values(name, tokens)
        if values.std() > 0:
            found[name] = correlated_cells(states, values, top)
    result = {"tokens": len(ids), "saturation": saturation(states), "correlated": found}
    return result, states, tokens


def select_cells(
    text: str | None,
    states: list[dict[str, np.ndarray]],
    tokens: Sequence[str],
    result: dict,
    properties: Sequence[str],
) -> list[dict]:
    """The heatmap's cells: `LAYER:UNIT,...` with each one's correlation to every property,
    or by default the best-correlated cell of each property."""
    if not text:
        return [
            {**c, "property": name}
            for name, found in result["correlated"].items()
            for c in found[:1]
        ]
    units = [layer["cell_state"].shape[1] for layer in states]  # tied: the last differs
    cells = []
    for spec in text.split(","):
        try:
            layer, unit = (int(x) for x in spec.split(":"))
        except ValueError:
            layer = unit = -1
        if not (1 <= layer <= len(states) and 0 <= unit < units[layer - 1]):
            raise SeqlmError(
                f"bad --cells entry {spec!r}: expected LAYER:UNIT with layer "
                f"1..{len(states)} and a unit of that layer (layer sizes "
                f"{', '.join(map(str, units))}, units from 0)"
            )
        cells.append({"layer": layer, "unit": unit})
    for name in properties:
        values = property_values(name, tokens)
        if values.std() == 0:
            continue
        for cell in cells:
            found = correlated_cells([states[cell["layer"] - 1]], values, top=10**9)
            cell[f"r_{name}"] = next(c["r"] for c in found if c["unit"] == cell["unit"])
    return cells


def gates_report(
    model: RecurrentLM, label: str, corpus, folder: Path, options: dict
) -> tuple[dict, list[str], list[str]]:
    """`seqlm probe gates`: saturation, correlated cells, heatmap page and plot; lines."""
    from seqlm.probe.plots import plot_saturation

    ids = gate_ids(model, corpus, options["text"], options["split"], options["tokens"])
    props = options["property"].split(",") if options["property"] else list(GATE_PROPERTIES)
    result, states, tokens = inside_lstm(model, ids, props)
    cells = select_cells(options["cells"], states, tokens, result, props)
    name = {"slstm": "sLSTM", "mlstm": "mLSTM"}.get(model.kind, "LSTM")
    page = heatmap_html(tokens, states, cells, model.vocab.level, f"{label}: {name} cells")
    atomic_write_text(folder / "cells.html", page)
    figures = plot_saturation(result, folder, name) + [str(folder / "cells.html")]
    lines = []
    for i, layer in enumerate(result["saturation"]):
        lines.append(
            f"layer {i + 1}: "
            + ", ".join(
                f"{g.replace('_', ' ')} mean {v['mean']:.2f}, {v['mostly_open'] * 100:.0f}% of units "
                f"open > half the time, {v['mostly_closed'] * 100:.0f}% closed"
                for g, v in layer.items()
            )
        )
    for name, found in result["correlated"].items():
        lines.append(
            f"{name}: "
            + ", ".join(f"layer {c['layer']} cell {c['unit']} r={c['r']:+.3f}" for c in found)
        )
    result["heatmap_cells"] = cells
    return result, figures, lines


def gate_ids(
    model: RecurrentLM, corpus, text_file: str | None, split: str, tokens: int
) -> np.ndarray:
    """The ids the gates probe reads: a text file, else the split's first tokens."""
    from seqlm.data.text import read_chunks

    if text_file:
        text = "".join(read_chunks(text_file))  # one-line errors for binary / non-UTF-8
        ids = model.vocab.encode(model.tokenizer.encode(text))[:tokens]
    else:
        ids = model.vocab.encode(corpus.vocab.decode(corpus[split][:tokens]))
    if len(ids) < 2:
        raise SeqlmError("gates: the text has fewer than 2 tokens")
    return ids
