"""Training-free baselines on the same prior and reward: classifier guidance and DPS.

Both shift the prior's noise prediction by the gradient of log r, the usual score-guidance form:
    eps~(x_t, t) = eps(x_t, t) - s * sqrt(1 - abar_t) * g(x_t),
so the step's mean moves by s * (scaled) grad log r. They differ in where the reward is evaluated:
- cg  (classifier guidance): g = grad_x log r(x_t), the reward at the noisy state (our reward
  classifier is trained on noised images as well as clean ones);
- dps (diffusion posterior sampling): g = grad_{x_t} log r(x0_hat(x_t)), through the denoised
  estimate x0_hat = (x_t - sqrt(1 - abar) eps(x_t)) / sqrt(abar), i.e. through the prior network.
With s = 0 both are exactly the prior. The result is a model(x, t, cond) for any VP process.
"""
import torch
from torch import nn

METHODS = ("cg", "dps")


class GuidedPrior(nn.Module):
    def __init__(self, prior, log_reward, alpha_bar, scale: float, method: str = "dps"):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"guidance method must be one of {METHODS}, got {method!r}")
        self.prior, self.log_reward, self.alpha_bar = prior, log_reward, alpha_bar
        self.scale, self.method = float(scale), method

    def forward(self, x, t, cond=None):
        if self.scale == 0:
            return self.prior(x, t, cond)
        abar = self.alpha_bar(t).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        if self.method == "dps":
            eps, grad = denoised_reward_gradient(self.prior, self.log_reward, abar, x, t, cond)
        else:
            with torch.no_grad():
                eps = self.prior(x, t, cond)
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                grad, = torch.autograd.grad(self.log_reward(xg, cond).sum(), xg)
        return eps - self.scale * (1 - abar).sqrt() * grad


def denoised_reward_gradient(prior, log_reward, abar, x, t, cond=None):
    """(eps_prior(x_t), grad_{x_t} log r(x0_hat(x_t))), both detached: DPS's gradient through the
    denoised estimate x0_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar); abar broadcast to x."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        eps = prior(xg, t, cond)
        grad, = torch.autograd.grad(log_reward((xg - (1 - abar).sqrt() * eps) / abar.sqrt(), cond).sum(), xg)
    return eps.detach(), grad
