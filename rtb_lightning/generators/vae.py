"""A small MLP variational auto-encoder; its decoder (the posterior mean of x given z) is the generator.

Gaussian likelihood with one learned scale: loss = -ELBO per sample (in nats), so it is a proper
bound on -log p(x) and decreases as the model fits. `generator()` returns the decoder alone, an
nn.Module z (B, latent_dim) -> x (B, *event_shape) in [-1, 1] with a `latent_dim` attribute.
"""
import math

import torch
from torch import nn


def _mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


class Decoder(nn.Module):
    def __init__(self, event_shape, latent_dim, hidden, layers):
        super().__init__()
        self.event_shape, self.latent_dim = tuple(event_shape), latent_dim
        self.net = _mlp([latent_dim] + [hidden] * layers + [math.prod(self.event_shape)])

    def forward(self, z):
        return torch.tanh(self.net(z)).view(len(z), *self.event_shape)


class VAE(nn.Module):
    def __init__(self, event_shape, latent_dim=8, hidden=256, layers=2):
        super().__init__()
        self.event_shape, self.latent_dim = tuple(event_shape), latent_dim
        d = math.prod(self.event_shape)
        self.encoder = _mlp([d] + [hidden] * layers + [2 * latent_dim])
        self.decoder = Decoder(event_shape, latent_dim, hidden, layers)
        self.log_scale = nn.Parameter(torch.tensor(math.log(0.3)))

    def loss(self, x):
        """-ELBO per sample: Gaussian reconstruction NLL + KL(q(z|x) || N(0, I)), summed over dimensions."""
        mu, log_var = self.encoder(x.flatten(1)).chunk(2, dim=1)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
        diff = (x - self.decoder(z)).flatten(1)
        d = diff.shape[1]
        nll = 0.5 * (diff / self.log_scale.exp()).pow(2).sum(1) + d * (self.log_scale + 0.5 * math.log(2 * math.pi))
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(1)
        return nll + kl

    def generator(self):
        return self.decoder
