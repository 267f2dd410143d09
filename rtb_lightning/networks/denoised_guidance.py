"""A learned DPS term for residual posteriors on VP priors (sampler.langevin_at=denoised).

    term(x_t, t) = -s(t) * sqrt(1 - abar_t) * clip(grad_{x_t} log r(x0_hat(x_t))),
    x0_hat = (x_t - sqrt(1 - abar_t) * eps_prior(x_t, t)) / sqrt(abar_t),

added to the prior's noise prediction: with s(t) = c everywhere this is exactly DPS at guidance
scale c (guidance.py), so `init` starts the posterior at a training-free sampler (0: the prior) and
RTB learns the per-time, per-pixel scale that makes it sample p(x) r(x)^beta. The gradient runs
through the frozen prior network (no second-order terms; its parameters get no gradient) and is
taken on a detached x_t, so the step's log-probabilities stay exact Gaussians in x_t.
"""
import math

import torch
from torch import nn

from ..guidance import denoised_reward_gradient
from .langevin import time_scale


class DenoisedGuidance(nn.Module):
    def __init__(self, prior, log_reward, alpha_bar, event_shape, init: float = 0.0, clip: float = 100.0,
                 time_dim: int = 64, hidden: int = 64, follow: bool = False):
        super().__init__()
        self._prior, self._log_reward, self._alpha_bar = [prior], [log_reward], [alpha_bar]   # not submodules
        self.clip = clip
        # s > 0 follows the reward here whatever the process (the term carries its own minus sign)
        self.scale = time_scale(math.prod(event_shape), init, time_dim, hidden, follow=int(follow))

    def gradient(self, x, t, cond=None):
        """clip(grad_{x_t} log r(x0_hat)) times sqrt(1 - abar_t), non-finite entries 0."""
        abar = self._alpha_bar[0](t).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        _, g = denoised_reward_gradient(self._prior[0], self._log_reward[0], abar, x, t, cond)
        g = torch.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0).clamp(-self.clip, self.clip)
        return (1 - abar).sqrt() * g

    def forward(self, x, t, cond=None, base_out=None):      # recomputes eps with a graph through the prior
        return -self.scale(t).view(x.shape[0], *x.shape[1:]) * self.gradient(x, t, cond)
