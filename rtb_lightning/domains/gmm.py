"""Isotropic Gaussian mixtures: exact log-density, samples, and the exact noised score under a VP chain."""
import math

import torch
from torch import nn


class GaussianMixture(nn.Module):
    def __init__(self, means, var: float, weights=None):
        super().__init__()
        means = torch.as_tensor(means, dtype=torch.get_default_dtype())
        w = torch.ones(len(means)) if weights is None else torch.as_tensor(weights, dtype=means.dtype)
        self.register_buffer("means", means)
        self.register_buffer("log_w", (w / w.sum()).log())
        self.var = float(var)

    @property
    def dim(self):
        return self.means.shape[1]

    def log_prob(self, x, var=None, mean_scale=1.0):
        """log sum_k w_k N(x; mean_scale * m_k, var I)."""
        var = self.var if var is None else var
        means, log_w = self.means.to(x.device, x.dtype), self.log_w.to(x.device, x.dtype)   # the mixture may stay on CPU
        d2 = torch.cdist(x, mean_scale * means).pow(2)
        var = torch.as_tensor(var, dtype=x.dtype, device=x.device).reshape(-1, 1) if torch.is_tensor(var) else var
        log_norm = -0.5 * self.dim * torch.log(2 * math.pi * torch.as_tensor(var, dtype=x.dtype, device=x.device))
        return torch.logsumexp(log_w - 0.5 * d2 / var + log_norm, dim=1)

    def sample(self, n, generator=None):
        """Samples on the generator's device when one is given (a seeded CPU generator for reference
        sets, whatever device the mixture lives on), else on the mixture's device."""
        dev = self.means.device if generator is None else generator.device
        k = torch.multinomial(self.log_w.exp().to(dev), n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, device=dev)
        return self.means.to(dev)[k] + math.sqrt(self.var) * noise

    def scaled(self, s: float):
        """The same mixture for y = x / s."""
        return GaussianMixture(self.means / s, self.var / s ** 2, self.log_w.exp())


class AnalyticVPPrior(nn.Module):
    """eps(x, t) = -sqrt(1 - abar) * grad log p_t(x) for a mixture noised by x_t = sqrt(abar) x + sqrt(1-abar) n.

    p_t is again a mixture (means sqrt(abar) m_k, variance abar s^2 + 1 - abar), so the prior
    needs no training and its terminal marginal is exactly the mixture (up to discretisation).
    """

    def __init__(self, mixture: GaussianMixture, alpha_bar):
        super().__init__()
        self.mixture = mixture
        self.alpha_bar = alpha_bar      # callable: network time input -> abar

    def forward(self, x, t, cond=None):
        abar = self.alpha_bar(t).to(x.dtype)[:, None]
        var = abar * self.mixture.var + (1 - abar)
        mu = abar.sqrt()[:, :, None] * self.mixture.means[None]              # (N, K, d)
        d2 = (x[:, None, :] - mu).pow(2).sum(-1)                              # (N, K)
        resp = torch.softmax(self.mixture.log_w - 0.5 * d2 / var, dim=1)     # same variance for all k
        mean = (resp[:, :, None] * mu).sum(1)
        return (1 - abar).sqrt() * (x - mean) / var
