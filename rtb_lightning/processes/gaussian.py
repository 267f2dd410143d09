"""Processes whose transitions are diagonal Gaussians: one loop for sampling, one batched call for scoring.

A subclass only says, for step indices i, how the model's output becomes a mean and std
(`transition`), how much time a step spans (`step_size`, which scales exploration noise), and how
to noise terminals backward.
"""
import math

import torch

from .base import Process, repeat_cond

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(x, mean, std):
    """Diagonal Gaussian log-density summed over all but the first dim (checked against torch.distributions)."""
    z = (x - mean) / std
    lp = -0.5 * z * z - torch.log(std) - 0.5 * LOG_2PI
    return lp.flatten(1).sum(1)


class GaussianProcess(Process):
    output_sign = 1            # a positive network output moves the step's mean up (a drift); VP: -1 (noise prediction)

    def transition(self, model, x, idx, cond):
        """Mean (N, *event) and std of p(x_{i+1} | x_i) for a flat batch x. idx: step indices (N,)
        (std (N,) or (N, *event) per dimension), or one int step for every row (std then a scalar
        tensor unless per dimension; the network gets an expanded time tensor, which lets it embed the
        time once)."""
        raise NotImplementedError

    def step_size(self, idx):
        """Per-step time increment h_i; exploration adds extra_std**2 * h_i to the step variance."""
        raise NotImplementedError

    def initial(self, n, device):
        raise NotImplementedError

    def _bcast(self, v, x):
        return v if v.dim() == x.dim() else v.reshape(-1, *([1] * (x.dim() - 1)))

    def _time(self, idx, n):
        """Network time input for step indices idx, or an int step expanded to n rows (stride 0)."""
        return self.t_in[idx].expand(n) if isinstance(idx, int) else self.t_in[idx]

    @torch.no_grad()
    def sample(self, model, n, cond=None, extra_std=0.0):
        device = self.device
        x = self.initial(n, device)
        states = torch.empty(n, self.num_steps + 1, *self.event_shape, device=device, dtype=x.dtype)
        log_pf = torch.empty(n, self.num_steps, device=device, dtype=x.dtype)
        states[:, 0] = x
        for i in range(self.num_steps):
            # One step index for all rows: scalar coefficients, no per-row gathers in this hot loop.
            mean, std = self.transition(model, x, i, cond)
            beh = torch.sqrt(std ** 2 + extra_std ** 2 * self._bcast(self.step_size(i), std)) if extra_std else std
            x = mean + self._bcast(beh, x) * torch.randn_like(x)
            # Fused scoring: the untempered log-prob of the step just taken costs no extra network call.
            log_pf[:, i] = gaussian_log_prob(x, mean, self._bcast(std, x))
            states[:, i + 1] = x
        return states, log_pf

    def log_prob(self, model, states, cond=None, start=0, stop=None):
        stop = self.num_steps if stop is None else stop
        b, n = states.shape[0], stop - start
        x = states[:, start:stop].reshape(b * n, *self.event_shape)
        y = states[:, start + 1:stop + 1].reshape(b * n, *self.event_shape)
        idx = torch.arange(start, stop, device=states.device).repeat(b)
        mean, std = self.transition(model, x, idx, repeat_cond(cond, n))
        return gaussian_log_prob(y, mean, self._bcast(std, y)).view(b, n)

    @property
    def device(self):
        return next(iter(self.buffers())).device
