"""Soft output bounds: x -> bound * tanh(x / bound), the identity near 0 and never beyond +-bound.

`bound_output` bounds a drift network's output. An MLP's output grows linearly with |x| far from the
data it was trained on; when that extrapolation points outward, a trajectory that strays there is pushed
further at every step and grows geometrically (Manywell: |x| ~ 1e20 in 25 steps, density NaN). Bounded,
the push is at most `bound` per step: the stray drifts linearly at worst, and wherever the target's own
pull (a Langevin term) is stronger, it is pulled back. The bound is a forward hook, not a wrapper, so
parameter names do not change: a checkpoint trained without it can be sampled with it, and back.
"""
import torch
from torch import nn


class SoftBound(nn.Module):
    """x -> bound * tanh(x / bound): the identity near 0, never beyond +-bound."""

    def __init__(self, bound: float):
        super().__init__()
        if bound <= 0:
            raise ValueError(f"a soft bound must be positive, got {bound}")
        self.bound = float(bound)

    def forward(self, x):
        return self.bound * torch.tanh(x / self.bound)


def bound_output(net: nn.Module, bound: float) -> nn.Module:
    """Soft-bound every output entry of `net` to +-bound (in place; returns net, with `.output_bound` set)."""
    squash = SoftBound(bound)
    net.register_forward_hook(lambda module, args, out: squash(out))
    net.output_bound = squash.bound
    return net
