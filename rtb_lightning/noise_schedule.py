"""DDPM noise schedules and respacing (sampling with fewer steps than training)."""
import math

import torch


def make_betas(kind: str, num_train_steps: int) -> torch.Tensor:
    if kind == "linear":
        # Ho et al.'s range, rescaled so that shorter training chains keep the same total noise.
        scale = 1000 / num_train_steps
        return torch.linspace(scale * 1e-4, scale * 0.02, num_train_steps, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        t = torch.linspace(0, num_train_steps, num_train_steps + 1, dtype=torch.float64) / num_train_steps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown beta schedule {kind!r}; use 'linear' or 'cosine'")


def respace(num_train_steps: int, num_steps: int) -> torch.Tensor:
    """Evenly spaced training timesteps, ascending, always including 0 (the least noisy)."""
    if not 1 <= num_steps <= num_train_steps:
        raise ValueError(f"sampling steps must be in [1, {num_train_steps}], got {num_steps}")
    return torch.linspace(0, num_train_steps - 1, num_steps, dtype=torch.float64).round().long()
