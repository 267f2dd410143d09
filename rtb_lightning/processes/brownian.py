"""Pinned Brownian motion from the origin, with a drift network u(x, t, cond).

Forward: x_{i+1} = x_i + u(x_i, t_i) dt + sigma sqrt(dt) eps, x_0 = 0, dt = 1/T, sigma^2 = t_scale.
Backward (the Brownian bridge back to 0): p_B(x_{i-1} | x_i) = N(x_i (i-1)/i, sigma^2 dt (i-1)/i);
the step from x_1 to x_0 = 0 is a point mass (log-prob 0).
A model may also output (N, 2, *event) = [drift, log-std correction c] (networks.LearnedVariance):
the step's std is then sigma sqrt(dt) exp(clamp(c, +-log_var_range / 2)), per dimension.
"""
import math

import torch

from .gaussian import GaussianProcess, gaussian_log_prob


class PinnedBrownianProcess(GaussianProcess):
    def __init__(self, event_shape, num_steps=100, t_scale=1.0, log_var_range=4.0):
        super().__init__()
        self.event_shape, self.num_steps, self.t_scale = tuple(event_shape), num_steps, t_scale
        self.log_var_range = log_var_range
        self.dt = 1.0 / num_steps
        self.register_buffer("t_in", torch.arange(num_steps, dtype=torch.get_default_dtype()) * self.dt)
        self.register_buffer("step_std", torch.full((num_steps,), math.sqrt(t_scale * self.dt)))

    def unit_shift(self, t_in):
        """A residual drift s * g moves the step's mean by std * |g| (s = sigma / sqrt(dt))."""
        return torch.full_like(t_in, math.sqrt(self.t_scale / self.dt))

    def initial(self, n, device):
        return torch.zeros(n, *self.event_shape, device=device)

    def step_size(self, idx):
        return torch.full_like(self.t_in[idx], self.dt)

    def transition(self, model, x, idx, cond):
        u = model(x, self._time(idx, len(x)), cond)
        if u.dim() == x.dim() + 1:                  # [drift, log-std correction]
            c = u[:, 1].clamp(-self.log_var_range / 2, self.log_var_range / 2)
            return x + u[:, 0] * self.dt, self._bcast(self.step_std[idx], x) * torch.exp(c)
        return x + u * self.dt, self.step_std[idx]

    @torch.no_grad()
    def sample_backward(self, x):
        n = x.shape[0]
        states = torch.zeros(n, self.num_steps + 1, *self.event_shape, device=x.device, dtype=x.dtype)
        states[:, -1] = x
        for i in range(self.num_steps, 1, -1):
            frac = (i - 1) / i
            x = frac * x + math.sqrt(self.t_scale * self.dt * frac) * torch.randn_like(x)
            states[:, i - 1] = x
        return states

    def log_prob_backward(self, states, start=0, stop=None):
        """Step k (states k -> k+1) scored backward: log p_B(x_k | x_{k+1}); zero for k = 0."""
        stop = self.num_steps if stop is None else stop
        out = torch.zeros(states.shape[0], stop - start, device=states.device, dtype=states.dtype)
        lo = max(start, 1)                          # step 0 lands on the point mass at the origin
        if lo >= stop:
            return out
        k = torch.arange(lo, stop, device=states.device)
        frac = (k / (k + 1)).to(states.dtype)                                     # (n,)
        b, n = states.shape[0], len(k)
        shape = (1, n) + (1,) * (states.dim() - 2)
        mean = (frac.view(shape) * states[:, lo + 1:stop + 1]).reshape(b * n, *self.event_shape)
        std = torch.sqrt(self.t_scale * self.dt * frac).repeat(b)
        x = states[:, lo:stop].reshape(b * n, *self.event_shape)
        out[:, lo - start:] = gaussian_log_prob(x, mean, self._bcast(std, x)).view(b, n)
        return out
