"""NT-ASGD (Merity et al. 2017): plain SGD until validation stops improving, then averaging.

Non-monotonically triggered: averaging starts at a check whose validation loss is worse
than the best of the checks more than `nonmono` checks ago (AWD-LSTM's rule, n = 5). From
then on the optimizer keeps stepping as SGD, and the model that is validated and saved is
the running average of the weights of every step since the switch (Polyak averaging):
averaging the iterates of a noisy constant-lr SGD approaches the minimum that SGD circles.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor


def should_start_averaging(history: list[float], current: float, nonmono: int) -> bool:
    """AWD-LSTM: `len(h) > n and current > min(h[:-n])` (h: earlier validation losses)."""
    return len(history) > nonmono and current > min(history[: len(history) - nonmono])


class WeightAverage:
    """avg_n = avg_{n-1} + (w_n - avg_{n-1}) / n over the weights after each step."""

    def __init__(self, params: list[Tensor], count: int = 0):
        self.params = params
        self.average = [p.detach().clone() for p in params]
        self.count = count

    @torch.no_grad()
    def update(self) -> None:
        self.count += 1
        for avg, p in zip(self.average, self.params, strict=True):
            avg.add_(p.detach() - avg, alpha=1.0 / self.count)

    @contextmanager
    @torch.no_grad()
    def swapped_in(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own again after."""
        saved = [p.detach().clone() for p in self.params]
        for p, avg in zip(self.params, self.average, strict=True):
            p.copy_(avg)
        try:
            yield
        finally:
            for p, own in zip(self.params, saved, strict=True):
                p.copy_(own)

    def tensors(self) -> dict[str, Tensor]:
        return {f"average.{i}": a for i, a in enumerate(self.average)}

    def load(self, tensors: dict[str, Tensor], count: int) -> None:
        with torch.no_grad():
            for i, avg in enumerate(self.average):
                avg.copy_(tensors[f"average.{i}"])
        self.count = count
