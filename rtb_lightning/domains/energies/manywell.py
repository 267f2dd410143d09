"""Manywell (gfn-diffusion): d/2 independent pairs with log p(x1, x2) = -x1^4 + 6 x1^2 + x1/2 - x2^2/2.

Each pair's normaliser is Z1 * sqrt(2 pi) with Z1 = int exp(-x^4 + 6x^2 + x/2) dx (~11784.50927), so
log Z = d/2 (log Z1 + log(2 pi)/2). Z1 and exact samples of x1 come from a fine 1-D grid
(inverse CDF of the piecewise-linear density; the mass outside [-4, 4] is below e^-50).
"""
import math

import torch

from .base import EnergyDomain


def _well_1d(x):
    return -x ** 4 + 6 * x ** 2 + 0.5 * x


class Manywell(EnergyDomain):
    name = "manywell"

    def __init__(self, batch_size=300, stage="posterior", dim=32, eval_seed=1234, grid_points=200_001):
        super().__init__(batch_size, stage, eval_seed)
        if dim < 2 or dim % 2:
            raise ValueError("manywell needs an even dim >= 2")
        self.dim = dim
        grid = torch.linspace(-4.0, 4.0, grid_points, dtype=torch.float64)
        dens = torch.exp(_well_1d(grid))
        cell = (dens[1:] + dens[:-1]) * 0.5 * (grid[1] - grid[0])         # trapezoid mass per cell
        self.log_z1 = float(torch.log(cell.sum()))
        self._grid, self._cdf = grid, torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(cell, 0) / cell.sum()])
        self.minor_well_mass = float(self._cdf[torch.searchsorted(grid, torch.tensor(0.0, dtype=torch.float64))])

    def log_density(self, x):
        x1, x2 = x[:, 0::2], x[:, 1::2]
        return (_well_1d(x1) - 0.5 * x2 ** 2).sum(1)

    @property
    def log_z(self):
        return self.dim / 2 * (self.log_z1 + 0.5 * math.log(2 * math.pi))

    def evaluate(self, x, cond=None):
        """Adds mode coverage: the share of x1 coordinates in the lesser (left) well, exact ~0.156.
        A sampler that drops that well in every pair misses d/2 * -log(1 - 0.156) ~ 2.7 nats of log Z."""
        out = super().evaluate(x, cond)
        out["minor_well_frac"] = (x[:, 0::2] < 0).float().mean().item()
        out["minor_well_frac_true"] = self.minor_well_mass
        return out

    def sample(self, n, generator=None):
        half = self.dim // 2
        u = torch.rand(n * half, generator=generator, dtype=torch.float64)
        i = torch.searchsorted(self._cdf, u).clamp(1, len(self._grid) - 1)
        # linear interpolation of the inverse CDF inside the cell (the density is ~constant on it)
        c0, c1 = self._cdf[i - 1], self._cdf[i]
        x1 = self._grid[i - 1] + (u - c0) / (c1 - c0).clamp_min(1e-300) * (self._grid[i] - self._grid[i - 1])
        x1 = x1.view(n, half).to(torch.get_default_dtype())
        x2 = torch.randn(n, half, generator=generator)
        return torch.stack([x1, x2], 2).reshape(n, self.dim)
