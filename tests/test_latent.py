"""domain=latent: RTB in the noise space of a frozen generator, with the N(0, I)-invariant VP reference."""
import math

import pytest
import torch
from torch import nn

from rtb_lightning.builders import build_domain, build_module, build_posterior, build_prior, build_process, check_method
from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError

TARGET = torch.tensor([2.0, -1.0, 0.5, 1.0, 0.0, -2.0])


def make_generator():
    """A fixed linear generator R^4 -> R^6 (importable as tests.test_latent:make_generator)."""
    g = torch.Generator().manual_seed(0)
    lin = nn.Linear(4, 6)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(6, 4, generator=g))
        lin.bias.zero_()
    return lin


def log_reward(x):
    return -0.5 * (x - TARGET.to(x.device)).pow(2).sum(1)


def bad_shape_reward(x):
    return -x.pow(2)


BASE = ["domain=latent", "generator.target=tests.test_latent:make_generator",
        "reward.target=tests.test_latent:log_reward", "domain.latent_dim=4", "method=rtb",
        "posterior.batch_size=64", "process.num_steps=10", "posterior.network.hidden=32", "posterior.network.layers=2"]


def _build(tmp_path, *extra):
    cfg = load_config([*BASE, f"run_dir={tmp_path}", *extra])
    check_method(cfg)
    d = build_domain(cfg, "posterior")
    p = build_process(cfg, d)
    prior = build_prior(cfg, d, p, tmp_path)
    return build_module(cfg, d, p, prior, build_posterior(cfg, prior, d, p)), d


@pytest.mark.parametrize("extra, message", [
    (["domain.latent_dim=3"], "latent_dim"),
    (["reward.target=tests.test_latent:bad_shape_reward"], r"returned \(4, 6\)"),
    (["reward.target=tests.test_latent:nope"], "no attribute"),
    (["generator.target=no_such_pkg.x:y"], "cannot import"),
    (["generator.target=null"], "exactly one"),
    (["generator.checkpoint=/no/such/file.pt"], "exactly one"),
    (["generator.target=null", "generator.checkpoint=/no/such/file.pt"], "not found"),
    (["reward.target=null"], "needs reward.target"),
    (["domain.latent_dim=null"], "no latent_dim attribute"),
])
def test_latent_config_errors_before_training(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        _build(tmp_path, *extra)


def test_reference_prior_is_the_standard_normal_and_rtb_improves_the_reward(tmp_path):
    torch.manual_seed(0)
    m, d = _build(tmp_path)
    assert m.scorer.reference == "prior" and m.scorer.shares_prior
    states, lp, lref = m.sample_scored(2000)
    z = states[:, -1]
    assert z.mean(0).abs().max() < 0.1 and (z.std(0) - 1).abs().max() < 0.1    # prior terminal: N(0, I)
    torch.testing.assert_close(lp, lref)                                     # posterior starts as the prior
    before = d.log_reward(z).mean().item()
    w = d.log_reward(z) + lref - lp
    m.log_z.initialise(float(torch.logsumexp(w, 0) - math.log(len(w))))
    m.log_z_ready.fill_(True)
    opt = torch.optim.Adam([{"params": m.posterior.parameters(), "lr": 1e-2}, {"params": m.log_z.parameters(), "lr": 0.1}])
    for step in range(60):
        opt.zero_grad()
        m.accumulate_gradients(None, step)
        opt.step()
    states, lp, lref = m.sample_scored(1000)
    after = d.log_reward(states[:, -1]).mean().item()
    kl = (lp - lref).mean().item()
    assert after > before + 1.0, (before, after)
    assert math.isfinite(kl) and 0 <= kl < 50
