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


def warmup_cosine(warmup_steps: int, total_steps: int):
    """LR factor: linear warm-up, then cosine decay to zero at total_steps (supervised pre-training)."""
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        frac = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * frac))
    return factor
