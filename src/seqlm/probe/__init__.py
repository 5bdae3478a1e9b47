"""The long-range dependency lab: gradient flow, context use, dependency-marked scoring.

Each probe is a function that returns plain data (lists and numbers); `seqlm.probe.plots`
draws them and the CLI writes both. Names are imported on first use, so that the report
(which reads the lab's results) does not load torch.
"""

import importlib

_NAMES = {
    "context_ablation": "seqlm.probe.context",
    "dependency_scores": "seqlm.probe.context",
    "decay_rate": "seqlm.probe.gradients",
    "gradient_flow": "seqlm.probe.gradients",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> object:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
