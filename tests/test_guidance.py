"""Training-free baselines: classifier guidance and DPS."""
import pytest
import torch

from rtb_lightning.guidance import GuidedPrior
from rtb_lightning.networks import TimeUNet
from rtb_lightning.processes import VPProcess


def _setup():
    torch.manual_seed(0)
    proc = VPProcess((1, 8, 8), num_steps=6, num_train_steps=100)
    prior = TimeUNet((1, 8, 8), channels=8, time_dim=16).requires_grad_(False)
    target = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
    log_r = lambda x, cond=None: -((x - target) ** 2).flatten(1).sum(1)
    return proc, prior, log_r


@pytest.mark.parametrize("method", ["cg", "dps"])
def test_scale_zero_is_the_prior_sampler(method):
    proc, prior, log_r = _setup()
    torch.manual_seed(5)
    want, lp_want = proc.sample(prior, 7)
    torch.manual_seed(5)
    got, lp_got = proc.sample(GuidedPrior(prior, log_r, proc.alpha_bar, 0.0, method), 7)
    assert torch.equal(want, got) and torch.equal(lp_want, lp_got)


@pytest.mark.parametrize("method", ["cg", "dps"])
def test_guidance_shifts_eps_along_the_reward_gradient(method):
    proc, prior, log_r = _setup()
    x, t = torch.randn(4, 1, 8, 8), torch.full((4,), 0.5)
    s = 0.3
    abar = proc.alpha_bar(t).view(-1, 1, 1, 1)
    xg = x.clone().requires_grad_(True)
    if method == "cg":
        g, = torch.autograd.grad(log_r(xg).sum(), xg)
    else:
        x0 = (xg - (1 - abar).sqrt() * prior(xg, t)) / abar.sqrt()
        g, = torch.autograd.grad(log_r(x0).sum(), xg)
    with torch.no_grad():
        out = GuidedPrior(prior, log_r, proc.alpha_bar, s, method)(x, t)
        assert torch.allclose(out, prior(x, t) - s * (1 - abar).sqrt() * g, atol=1e-5)


class StandardNormalEps(torch.nn.Module):
    """The exact eps of N(0, I) data: x_t ~ N(0, I), so eps(x_t) = sqrt(1 - abar) x_t."""

    def __init__(self, alpha_bar):
        super().__init__()
        self.alpha_bar = alpha_bar

    def forward(self, x, t, cond=None):
        return (1 - self.alpha_bar(t)).sqrt().view(-1, 1, 1, 1) * x


def test_guidance_raises_the_reward():
    proc, _, _ = _setup()
    prior = StandardNormalEps(proc.alpha_bar)
    target = torch.full((1, 1, 8, 8), 1.5)
    log_r = lambda x, cond=None: -0.5 * ((x - target) ** 2).flatten(1).sum(1)
    torch.manual_seed(1)
    base = log_r(proc.sample(prior, 64)[0][:, -1]).mean()
    for method in ("cg", "dps"):
        torch.manual_seed(1)
        guided = log_r(proc.sample(GuidedPrior(prior, log_r, proc.alpha_bar, 0.5, method), 64)[0][:, -1]).mean()
        assert guided > base + 10, (method, guided, base)
