"""Networks that make a process its own uncontrolled reference (prior.kind=reference).

ZeroDrift: pinned Brownian motion without drift, whose backward kernel is the Brownian bridge.
StandardNormalEps: the exact noise prediction of a VP chain whose data is N(0, I), i.e.
eps(x, t) = sqrt(1 - abar_t) x; with variance=large each step is x -> sqrt(alpha) x + sqrt(beta) n,
which leaves N(0, I) invariant (the reference for noise-space posteriors of generators).
"""
import torch
from torch import nn


class ZeroDrift(nn.Module):
    def forward(self, x, t, cond=None):
        return torch.zeros_like(x)


class StandardNormalEps(nn.Module):
    def __init__(self, alpha_bar):
        super().__init__()
        self.alpha_bar = alpha_bar      # callable: network time input -> abar

    def forward(self, x, t, cond=None):
        abar = self.alpha_bar(t).to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        return (1 - abar).sqrt() * x
