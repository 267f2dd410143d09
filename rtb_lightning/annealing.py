"""Piecewise-linear schedules over training steps (exploration std, inverse temperature beta)."""
import math
from dataclasses import dataclass


@dataclass
class Schedule:
    """`start` for `hold_steps`, then to `end` over `ramp_steps` (linear or cosine), then `end`."""

    start: float
    end: float
    hold_steps: int = 0
    ramp_steps: int = 0
    shape: str = "linear"

    def __call__(self, step: int) -> float:
        if step < self.hold_steps:
            return self.start
        if self.ramp_steps <= 0:
            return self.end
        frac = min(1.0, (step - self.hold_steps) / self.ramp_steps)
        if self.shape == "cosine":
            frac = 0.5 * (1 - math.cos(math.pi * frac))
        return self.start + frac * (self.end - self.start)
