"""A small RealNVP normalizing flow on flattened images; its inverse map z -> x is the generator.

x = f(z) is a stack of affine coupling layers (alternating halves of the pixels; log-scales bounded
by tanh) and a final per-dimension affine map. The loss is the exact -log p(x) per sample (nats) of
uniformly dequantized data: `dequantize` adds U(0, step) noise to each pixel, step being the data's
grid spacing (0.125 for the digits' 17 grey levels in [-1, 1]). The latent dimension equals the
number of pixels.
"""
import math

import torch
from torch import nn


class Coupling(nn.Module):
    """y = x on the kept half; y = x * exp(s(x_kept)) + t(x_kept) on the other half."""

    def __init__(self, dim, hidden, mask):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight), nn.init.zeros_(self.net[-1].bias)     # starts as the identity
        self.scale = nn.Parameter(torch.ones(dim))

    def _st(self, kept):
        s, t = self.net(kept).chunk(2, dim=1)
        free = 1 - self.mask
        return self.scale * torch.tanh(s) * free, t * free

    def forward(self, x):                 # x -> y, log|det dy/dx|
        s, t = self._st(x * self.mask)
        return x * s.exp() + t, s.sum(1)

    def inverse(self, y):
        s, t = self._st(y * self.mask)
        return (y - t) * (-s).exp()


class Generator(nn.Module):
    """z (B, D) -> x (B, *event_shape): the flow run from noise to data, less the dequantization
    noise's mean (step / 2), so that samples sit on the data's grey levels on average."""

    def __init__(self, flow):
        super().__init__()
        self.flow, self.latent_dim = flow, flow.latent_dim

    def forward(self, z):
        return self.flow.sample_from(z) - 0.5 * self.flow.dequant_step


class RealNVP(nn.Module):
    def __init__(self, event_shape, latent_dim=None, hidden=256, layers=8, dequant_step=0.125):
        super().__init__()
        self.event_shape = tuple(event_shape)
        d = math.prod(self.event_shape)
        if latent_dim not in (None, d):
            raise ValueError(f"a flow's latent dimension is its data dimension {d}, not {latent_dim}")
        self.latent_dim, self.dequant_step = d, dequant_step
        half = (torch.arange(d) % 2).float()
        self.couplings = nn.ModuleList(Coupling(d, hidden, half if i % 2 else 1 - half) for i in range(layers))
        self.log_a, self.b = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))

    def to_latent(self, x):
        """x (B, D) -> (z, log|det dz/dx|)."""
        z = (x - self.b) * (-self.log_a).exp()
        log_det = -self.log_a.sum().expand(len(x))
        for c in reversed(self.couplings):
            z, ld = c(z)
            log_det = log_det + ld
        return z, log_det

    def sample_from(self, z):
        x = z
        for c in self.couplings:
            x = c.inverse(x)
        return (x * self.log_a.exp() + self.b).view(len(z), *self.event_shape)

    def log_prob(self, x):
        z, log_det = self.to_latent(x.flatten(1))
        return -0.5 * z.pow(2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi) + log_det

    def dequantize(self, x):
        return x + self.dequant_step * torch.rand_like(x)

    def loss(self, x):
        return -self.log_prob(self.dequantize(x))

    def generator(self):
        return Generator(self)
