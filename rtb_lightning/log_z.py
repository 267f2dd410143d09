"""The learned log-partition function: a scalar (one target) evaluated per trajectory."""
import torch
from torch import nn


class LogZ(nn.Module):
    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(()))

    def forward(self, cond=None, n: int = 1):
        return self.value.expand(n)

    @torch.no_grad()
    def initialise(self, estimate: float):
        self.value.fill_(estimate)


class ConditionalLogZ(nn.Module):
    """log Z(cond) = offset + net(cond), for an amortised posterior over many conditions.

    `net` maps a batch of conditions to (N, 1) or (N,) and should start at zero (zero-initialised
    last layer), so that `initialise` (a Monte-Carlo estimate) sets the starting value for all.
    Without a condition it returns the offset (a summary for logging).
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, cond=None, n: int = 1):
        if cond is None:
            return self.offset.expand(n)
        return self.offset + self.net(cond).reshape(len(cond))

    @torch.no_grad()
    def initialise(self, estimate: float):
        self.offset.fill_(estimate)
