"""Posterior = frozen base (e.g. an analytic prior) + a zero-initialised trainable correction.

At initialisation the output equals the base exactly, so the posterior starts as the prior.
The base is held by reference, not registered: it belongs to (and is saved with) the prior.
"""
from torch import nn


class Residual(nn.Module):
    def __init__(self, base: nn.Module, correction: nn.Module):
        super().__init__()
        self._base = [base]          # a list hides it from parameters(), state_dict() and the optimizer
        self.correction = correction

    @property
    def base(self):
        return self._base[0]

    def forward(self, x, t, cond=None):
        return self.base(x, t, cond) + self.correction(x, t, cond)
