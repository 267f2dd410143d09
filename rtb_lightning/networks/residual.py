"""Posterior = frozen base (e.g. an analytic prior) + a zero-initialised trainable correction.

At initialisation the output equals the base exactly, so the posterior starts as the prior.
The base is held by reference, not registered: it belongs to (and is saved with) the prior.
With `unit_shift` (a process's s(t)), the correction is measured in units of each step's std, so
a unit output costs the same log-ratio at every step: late, low-noise steps no longer dominate
the gradient's variance and the posterior/prior log-ratios.
"""
import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, base: nn.Module, correction: nn.Module, unit_shift=None, guidance: nn.Module = None):
        super().__init__()
        self._base = [base]          # a list hides it from parameters(), state_dict() and the optimizer
        self.correction, self.unit_shift = correction, unit_shift
        self.guidance = guidance     # an extra term already in the base's units (DenoisedGuidance)

    @property
    def base(self):
        return self._base[0]

    def correction_term(self, x, t, cond=None, base_out=None):
        """The correction in the base's units; `base_out` (the base's output at x, t) is passed to a
        guidance term that needs it (EstimateGuidance), computed here when not given."""
        g = self.correction(x, t, cond)
        if self.unit_shift is not None:
            g = g * self.unit_shift(t).reshape(-1, *([1] * (g.dim() - 1)))
        if self.guidance is None:
            return g
        if base_out is None:
            with torch.no_grad():
                base_out = self.base(x, t, cond)
        return g + self.guidance(x, t, cond, base_out)

    def forward(self, x, t, cond=None):
        b = self.base(x, t, cond)
        return b + self.correction_term(x, t, cond, b)
