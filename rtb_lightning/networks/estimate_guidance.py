"""A Langevin term at the prior's denoised estimate, without backpropagating through the prior
(sampler.langevin_at=estimate; residual posteriors on VP priors).

    term(x_t, t) = s(t) * clip(grad log r(x0_hat)),   x0_hat = (x_t - sqrt(1 - abar_t) eps_prior) / sqrt(abar_t),

in the correction's std units, like the noisy-state term s(t) * grad log r(x_t). Why: the noisy term
keeps pushing states that will become high-reward images anyway (the classifier is not yet saturated at
x_t), which over-concentrates the posterior; at x0_hat the reward of such a state is already saturated and
its gradient vanishes, as the target's drift does. eps_prior is the prior output the residual already
computed (no extra prior pass), and the gradient is one reward pass at x0_hat, so it costs what the noisy
term costs (the learned DPS term, `denoised`, also backpropagates through the prior). The step stays an
exact Gaussian in x_t: the term is a deterministic function of x_t.
"""
import math

from torch import nn

from .langevin import clipped_reward_gradient, time_scale


class EstimateGuidance(nn.Module):
    def __init__(self, log_reward, alpha_bar, unit_shift, event_shape, init: float = 0.0, clip: float = 100.0,
                 time_dim: int = 64, hidden: int = 64, follow: int = 0):
        super().__init__()
        self._log_reward, self._alpha_bar, self._unit_shift = [log_reward], [alpha_bar], [unit_shift]  # not submodules
        self.clip = clip
        self.scale = time_scale(math.prod(event_shape), init, time_dim, hidden, follow=follow)

    def estimate(self, x, t, eps):
        abar = self._alpha_bar[0](t).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return (x - (1 - abar).sqrt() * eps) / abar.sqrt()

    def gradient(self, x0, cond=None):
        return clipped_reward_gradient(self._log_reward[0], x0, cond, self.clip)

    def forward(self, x, t, cond=None, base_out=None):
        if base_out is None:
            raise ValueError("EstimateGuidance needs the prior's output at x_t (base_out)")
        s = self.scale(t).view(x.shape[0], *x.shape[1:])
        unit = self._unit_shift[0](t).view(-1, *([1] * (x.dim() - 1)))
        return unit * s * self.gradient(self.estimate(x, t, base_out.detach()), cond)
