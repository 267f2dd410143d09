"""DDPM-style variance-preserving chain driven by a noise-prediction network eps(x, t, cond).

Trained on `num_train_steps` steps, sampled on a respaced subset of `num_steps`. State 0 is
N(0, I) at the noisiest sampling timestep; state num_steps is the data.
"""
import torch

from ..noise_schedule import make_betas, respace
from .gaussian import GaussianProcess


class VPProcess(GaussianProcess):
    output_sign = -1           # the network predicts noise: mean = (x - c * eps) / sqrt(alpha)

    def __init__(self, event_shape, num_steps=100, num_train_steps=1000, schedule="linear",
                 variance="large", min_std=0.01):
        super().__init__()
        self.event_shape, self.num_steps, self.num_train_steps = tuple(event_shape), num_steps, num_train_steps
        betas_train = make_betas(schedule, num_train_steps)
        abar_train = torch.cumprod(1 - betas_train, 0)
        taus = respace(num_train_steps, num_steps).flip(0)              # descending: noisiest first
        a_t = abar_train[taus]
        a_prev = torch.cat([a_t[1:], torch.ones(1, dtype=a_t.dtype)])    # the last step lands on clean data
        betas = 1 - a_t / a_prev
        if variance == "large":
            var = betas
        elif variance == "small":
            var = betas * (1 - a_prev) / (1 - a_t)
        else:
            raise ValueError(f"variance must be 'large' or 'small', got {variance!r}")
        # The last step's std is tiny (~0.01; exactly 0 for "small"): a floor keeps every step a
        # proper density and posterior/prior log-ratios bounded there.
        if min_std <= 0 and bool((var <= 0).any()):
            raise ValueError("a step has zero variance; set min_std > 0 (e.g. 0.01)")
        std = var.sqrt().clamp(min=min_std)
        f = torch.get_default_dtype()
        self.register_buffer("abar_train", abar_train.to(f))
        self.register_buffer("t_in", (taus.to(torch.float64) / num_train_steps).to(f))   # network time input
        self.register_buffer("eps_coef", (betas / (1 - a_t).sqrt()).to(f))
        self.register_buffer("inv_sqrt_alpha", (1 / (1 - betas).sqrt()).to(f))
        self.register_buffer("std", std.to(f))
        self.register_buffer("betas", betas.to(f))
        self.register_buffer("a_prev", a_prev.to(f))
        # Output scale that turns a unit change of a residual network into a one-std change of the
        # step's mean (|d mean| = c / sqrt(alpha) * |d eps|), tabulated by training timestep.
        unit = torch.ones(num_train_steps, dtype=torch.float64)
        unit[taus] = std / (betas / (1 - a_t).sqrt()) * (1 - betas).sqrt()
        self.register_buffer("unit_shift_table", unit.to(f))

    def initial(self, n, device):
        return torch.randn(n, *self.event_shape, device=device)

    def step_size(self, idx):
        return self.betas[idx]

    def transition(self, model, x, idx, cond):
        eps = model(x, self._time(idx, len(x)), cond)
        c = self._bcast(self.eps_coef[idx], x)
        mean = (x - c * eps) * self._bcast(self.inv_sqrt_alpha[idx], x)
        return mean, self.std[idx]

    @torch.no_grad()
    def sample_backward(self, x):
        """Noise x forward in diffusion time along the sampling steps: q(x_i | x_{i+1}) = N(sqrt(1-b) x, b)."""
        n = x.shape[0]
        states = torch.empty(n, self.num_steps + 1, *self.event_shape, device=x.device, dtype=x.dtype)
        states[:, -1] = x
        for i in reversed(range(self.num_steps)):
            b = self.betas[i]
            x = (1 - b).sqrt() * x + b.sqrt() * torch.randn_like(x)
            states[:, i] = x
        return states

    # --- DDPM training of a prior network on data (used by the prior stage) ---
    def diffusion_loss(self, model, x0, cond=None):
        """Standard eps-prediction loss over uniformly drawn training timesteps."""
        t = torch.randint(0, self.num_train_steps, (x0.shape[0],), device=x0.device)
        abar = self._bcast(self.abar_train[t], x0)
        noise = torch.randn_like(x0)
        xt = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        pred = model(xt, t.to(x0.dtype) / self.num_train_steps, cond)
        return (pred - noise).pow(2).flatten(1).sum(1).mean() / x0[0].numel()

    def unit_shift(self, t_in):
        """Per-row factor s(t): a residual output s(t) * g moves the step's mean by std * |g|."""
        return self.unit_shift_table[(t_in * self.num_train_steps).round().long().clamp(0, self.num_train_steps - 1)]

    def alpha_bar(self, t_in):
        """alpha-bar at network time input(s) t_in = tau / num_train_steps (for analytic priors)."""
        tau = (t_in * self.num_train_steps).round().long().clamp(0, self.num_train_steps - 1)
        return self.abar_train[tau]
