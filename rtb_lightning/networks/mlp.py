"""Time-conditioned MLP with an optional condition input: the default network for vectors."""
import math

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    def __init__(self, dim: int, max_period: float = 10_000.0):
        super().__init__()
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(max_period) * torch.arange(half) / half))

    def forward(self, t):
        # t in [0, 1]; scaled up so that the low frequencies still separate neighbouring steps.
        a = 1000.0 * t[:, None] * self.freqs[None]
        return torch.cat([a.sin(), a.cos()], dim=1)


class TimeMLP(nn.Module):
    """f(x, t, cond) -> same shape as x. cond: class indices (num_classes > 0) or vectors (cond_dim > 0)."""

    def __init__(self, event_shape, hidden: int = 64, layers: int = 4, time_dim: int = 64,
                 num_classes: int = 0, cond_dim: int = 0, zero_init: bool = False):
        super().__init__()
        self.event_shape = tuple(event_shape)
        d = math.prod(self.event_shape)
        self.time = nn.Sequential(SinusoidalEmbedding(time_dim), nn.Linear(time_dim, hidden), nn.SiLU())
        self.cond = (nn.Embedding(num_classes, hidden) if num_classes
                     else nn.Linear(cond_dim, hidden) if cond_dim else None)
        self.inp = nn.Linear(d, hidden)
        body = []
        for _ in range(layers - 1):
            body += [nn.SiLU(), nn.Linear(hidden, hidden)]
        self.body = nn.Sequential(*body, nn.SiLU())
        self.out = nn.Linear(hidden, d)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x, t, cond=None):
        h = self.inp(x.flatten(1)) + self.time(t)
        if self.cond is not None:
            if cond is None:
                raise ValueError("this network was built with a condition input; pass cond")
            h = h + self.cond(cond)
        return self.out(self.body(h)).view(x.shape)
