"""The learned log-partition function: a scalar (one target), or a per-class table (amortized posterior)."""
import math

import torch
from torch import nn


class LogZ(nn.Module):
    """num_classes = 0: one scalar log Z. num_classes = K: log Z(c), one entry per class c in 0..K-1
    (for a discrete condition a table is exact where a network would only approximate)."""

    def __init__(self, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.value = nn.Parameter(torch.zeros(num_classes) if num_classes else torch.zeros(()))

    def forward(self, cond=None, n: int = 1):
        if not self.num_classes:
            return self.value.expand(n)
        if cond is None:
            raise ValueError("a per-class log Z needs the condition (class indices)")
        return self.value[cond.long().to(self.value.device)]

    @torch.no_grad()
    def initialise(self, estimate: float):
        self.value.fill_(estimate)

    @torch.no_grad()
    def initialise_from(self, log_w, cond=None):
        """log Z <- log-mean-exp of importance log-weights, per class when the table has classes
        (classes without samples get the pooled estimate)."""
        pooled = float(torch.logsumexp(log_w, 0) - math.log(len(log_w)))
        self.value.fill_(pooled)
        if self.num_classes and cond is not None:
            for c in cond.unique().tolist():
                w = log_w[cond == c]
                self.value[c] = torch.logsumexp(w, 0) - math.log(len(w))

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

    @torch.no_grad()
    def initialise_from(self, log_w, cond=None):
        """The network starts at zero, so one pooled estimate starts every condition."""
        self.initialise(float(torch.logsumexp(log_w, 0) - math.log(len(log_w))))
