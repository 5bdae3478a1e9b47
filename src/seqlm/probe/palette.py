"""One colour per model, the same in every figure: a fixed palette keyed by model name.

The usual names get fixed colours (the n-grams greys and browns, the recurrent models
distinct hues); any other name gets one from a spare list chosen by a stable hash, so it
too keeps its colour from figure to figure and from run to run.
"""

from __future__ import annotations

import re

from seqlm.io import digest

FIXED = {
    "2-gram": "#bcbd22",
    "3-gram": "#7f7f7f",
    "4-gram": "#8c564b",
    "5-gram": "#5b3a29",
    "rnn": "#1f77b4",
    "lstm": "#d62728",
    "gru": "#2ca02c",
}
SPARE = ["#9467bd", "#e377c2", "#17becf", "#ff7f0e", "#393b79", "#637939", "#843c39"]
FLOOR = "#000000"  # the entropy floor


def model_name(label: str) -> str:
    """The model a figure label is about: 'lstm: ∂L/∂h (...)' and 'lstm (effective ...)'
    are both 'lstm'; an untrained model keeps its own name ('gru (untrained)')."""
    label = label.strip()
    if label.endswith("(untrained)"):
        return label
    return re.split(r":| \(", label, maxsplit=1)[0].strip()


def colour(label: str) -> str:
    name = model_name(label)
    if name in FIXED:
        return FIXED[name]
    base = name.removesuffix(" (untrained)")
    if base in FIXED and name != base:  # the untrained model: its trained twin's hue
        return FIXED[base]
    return SPARE[int(digest(name), 16) % len(SPARE)]


def figure_colours(fig) -> dict[str, str]:
    """{model: colour} as drawn: read back from the figure's labelled lines and patches
    (what the report's browser test checks across figures)."""
    from matplotlib.colors import to_hex

    found: dict[str, str] = {}
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.patches, *ax.collections]:
            label = artist.get_label()
            if not label or label.startswith("_") or "floor" in label or "solved" in label:
                continue
            getter = getattr(artist, "get_color", None) or artist.get_edgecolor
            value = getter()
            if hasattr(value, "ndim") and value.ndim == 2:
                value = value[0]
            found.setdefault(model_name(label), to_hex(value))
    return found
