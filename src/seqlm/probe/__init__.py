"""The long-range dependency lab: gradient flow, context use, dependency-marked scoring.

Each probe is a function that returns plain data (lists and numbers); `seqlm.probe.plots`
draws them and the CLI writes both.
"""

from seqlm.probe.context import context_ablation, dependency_scores
from seqlm.probe.gradients import decay_rate, gradient_flow

__all__ = ["context_ablation", "decay_rate", "dependency_scores", "gradient_flow"]
