"""Neal's funnel in d dimensions: x_0 ~ N(0, 3^2), x_i | x_0 ~ N(0, e^{x_0}) for i >= 1. Normalised: log Z = 0.

Far out in x_0 the density under- or overflows in float32; such samples give NaN/inf rewards,
which the reward guard drops and counts (conf/domain/funnel.yaml sets reward.nonfinite=drop).
"""
import math

import torch

from .base import EnergyDomain


class Funnel(EnergyDomain):
    name = "funnel"

    def __init__(self, batch_size=300, stage="posterior", dim=10, scale=3.0, eval_seed=1234):
        super().__init__(batch_size, stage, eval_seed)
        if dim < 2:
            raise ValueError("the funnel needs dim >= 2")
        self.dim, self.scale = dim, scale

    def log_density(self, x):
        x0, rest = x[:, 0], x[:, 1:]
        lp0 = -0.5 * (x0 / self.scale) ** 2 - math.log(self.scale) - 0.5 * math.log(2 * math.pi)
        # x_i ~ N(0, e^{x0}): -x_i^2 e^{-x0} / 2 - x0 / 2 - log(2 pi) / 2 per coordinate
        lpr = -0.5 * rest.pow(2).sum(1) * torch.exp(-x0) - 0.5 * (self.dim - 1) * (x0 + math.log(2 * math.pi))
        return lp0 + lpr

    @property
    def log_z(self):
        return 0.0

    def sample(self, n, generator=None):
        x0 = self.scale * torch.randn(n, 1, generator=generator)
        return torch.cat([x0, torch.randn(n, self.dim - 1, generator=generator) * torch.exp(0.5 * x0)], 1)
