"""Langevin parametrisation of a drift network: u(x, t) = f(x, t) + s(t) * clip(grad log R(x)).

s(t) is a small per-dimension network of time alone, initialised at a constant (0: the sampler starts as
f) and learns how much of the target's score to follow at each time. The gradient is computed on a
detached copy of x (no second-order terms) and clipped elementwise; non-finite entries become 0.
With `bound` > 0, s(t) = bound * tanh(raw(t) / bound): the term is an explicit gradient step inside each
transition, which diverges once step * s * curvature of log R exceeds 2 (Manywell's wells, curvature
about 24, in std units: s > 0.83); the bound keeps s below it while leaving small s unchanged.
With `follow` (+1 or -1, sampler.langevin_sign=follow), s(t) = follow * |raw(t)|: every entry keeps the
sign that moves the step's mean up the reward's gradient (a non-negative diagonal preconditioner), so no
pixel can learn to flee the reward. The sign depends on the process's output (drift: +1; a VP prior's noise
prediction: -1). Free scales learned both signs on digits (docs/vision.md).
Every call evaluates the density once per row (counted by energy domains).
"""
import math

import torch
from torch import nn

from .bounded import SoftBound
from .mlp import SinusoidalEmbedding


FOLLOW_START = 1e-3      # |raw| has no gradient at 0: a following scale starts this close to the prior


class Oriented(nn.Module):
    """raw -> sign * |raw|: a scale that only ever points one way."""

    def __init__(self, sign: int):
        super().__init__()
        self.sign = int(sign)

    def forward(self, x):
        return self.sign * x.abs()


def time_scale(dim: int, init: float = 0.0, time_dim: int = 64, hidden: int = 64, bound: float = 0.0,
               follow: int = 0) -> nn.Module:
    """s(t): a small per-dimension network of time alone that starts at the constant `init`
    (|s| < `bound` when bound > 0; with follow = +-1, s = follow * |raw| and `init` >= 0 is its magnitude;
    neither adds parameters, so checkpoints load either way)."""
    if bound > 0 and abs(init) >= bound:
        raise ValueError(f"the Langevin scale's init {init} must lie inside its bound (+-{bound})")
    if follow not in (0, 1, -1) or (follow and init < 0):
        raise ValueError(f"a following Langevin scale needs follow = +-1 and init >= 0 (its magnitude), got "
                         f"follow={follow}, init={init}")
    if follow:
        init = max(init, FOLLOW_START)
    layers = [SinusoidalEmbedding(time_dim), nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, dim)]
    nn.init.zeros_(layers[-1].weight)
    nn.init.constant_(layers[-1].bias, float(bound * math.atanh(init / bound) if bound > 0 else init))
    scale = nn.Sequential(*layers, *([SoftBound(bound)] if bound > 0 else []), *([Oriented(follow)] if follow else []))
    scale.is_langevin_scale = True           # found by langevin_scale_parameters (its own lr: sampler.langevin_lr)
    return scale


def langevin_scale_parameters(model: nn.Module):
    """The parameters of every s(t) network inside model (noisy-state, estimate and denoised terms)."""
    return [p for m in model.modules() if getattr(m, "is_langevin_scale", False) for p in m.parameters()]


def clipped_reward_gradient(log_reward, x, cond, clip):
    """grad_x log_reward(x) on a detached x (no second-order terms), non-finite entries 0, clipped elementwise."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        g, = torch.autograd.grad(log_reward(xg, cond).sum(), xg)
    return torch.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0).clamp(-clip, clip)


class LangevinDrift(nn.Module):
    def __init__(self, net: nn.Module, log_reward, event_shape, clip: float = 100.0, time_dim: int = 64,
                 hidden: int = 64, init: float = 0.0, bound: float = 0.0, follow: int = 0):
        super().__init__()
        self.net, self.clip = net, clip
        self._log_reward = [log_reward]          # a bound method of the domain: not a submodule
        self.scale = time_scale(math.prod(event_shape), init, time_dim, hidden, bound, follow)

    def score(self, x, cond=None):
        return clipped_reward_gradient(self._log_reward[0], x, cond, self.clip)

    def forward(self, x, t, cond=None):
        s = self.scale(t).view(x.shape[0], *x.shape[1:])
        return self.net(x, t, cond) + s * self.score(x, cond)
