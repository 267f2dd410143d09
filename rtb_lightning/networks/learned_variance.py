"""A drift model plus a learned per-dimension log-std correction (sampler.learned_variance).

Output shape (N, 2, *event): channel 0 the drift, channel 1 a log-std correction c, zero-initialised,
that the pinned Brownian process turns into std = base_std * exp(clamp(c, -r/2, r/2)) with
r = sampler.log_var_range: the step variance stays within a factor e^{+-r} of the reference's.
"""
import torch
from torch import nn


class LearnedVariance(nn.Module):
    def __init__(self, drift: nn.Module, log_std: nn.Module):
        super().__init__()
        self.drift, self.log_std = drift, log_std

    def forward(self, x, t, cond=None):
        return torch.stack([self.drift(x, t, cond), self.log_std(x, t, cond)], 1)
