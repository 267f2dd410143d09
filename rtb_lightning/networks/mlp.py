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


class FourierFeatures(nn.Module):
    """[x, sin(2 pi x B), cos(2 pi x B)] with fixed Gaussian frequencies B ~ N(0, scale^2).

    Lets an MLP represent sharp spatial structure (many modes) without first fitting only the
    smooth part of the function (spectral bias). B is a buffer: saved, and identical in copies.
    """

    def __init__(self, dim: int, num: int, scale: float, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(dim, num, generator=g) * scale)
        self.out_dim = dim + 2 * num

    def forward(self, x):
        a = 2 * math.pi * x @ self.B
        return torch.cat([x, a.sin(), a.cos()], dim=1)


class TimeMLP(nn.Module):
    """f(x, t, cond) -> same shape as x. cond: class indices (num_classes > 0) or vectors (cond_dim > 0)."""

    def __init__(self, event_shape, hidden: int = 64, layers: int = 4, time_dim: int = 64,
                 num_classes: int = 0, cond_dim: int = 0, zero_init: bool = False,
                 fourier_features: int = 0, fourier_scale: float = 1.0):
        super().__init__()
        self.event_shape = tuple(event_shape)
        d = math.prod(self.event_shape)
        self.time = nn.Sequential(SinusoidalEmbedding(time_dim), nn.Linear(time_dim, hidden), nn.SiLU())
        self.cond = (nn.Embedding(num_classes, hidden) if num_classes
                     else nn.Linear(cond_dim, hidden) if cond_dim else None)
        self.features = FourierFeatures(d, fourier_features, fourier_scale) if fourier_features else nn.Identity()
        self.inp = nn.Linear(self.features.out_dim if fourier_features else d, hidden)
        body = []
        for _ in range(layers - 1):
            body += [nn.SiLU(), nn.Linear(hidden, hidden)]
        self.body = nn.Sequential(*body, nn.SiLU())
        self.out = nn.Linear(hidden, d)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x, t, cond=None):
        # Rows share few distinct times (a batch of trajectories scored step by step): embed each
        # distinct time once and gather, instead of running the time MLP on every row.
        # An expanded time tensor (stride 0, as processes pass in their sampling loops) is one time.
        if t.dim() == 1 and t.numel() > 1 and t.stride(0) == 0:
            te = self.time(t[:1])
        else:
            tu, inv = torch.unique(t, return_inverse=True)
            te = self.time(tu).index_select(0, inv)   # its backward is a fast index_add, unlike [inv]'s
        h = self.inp(self.features(x.flatten(1))) + te
        if self.cond is not None:
            if cond is None:
                raise ValueError("this network was built with a condition input; pass cond")
            h = h + self.cond(cond)
        return self.out(self.body(h)).view(x.shape)
