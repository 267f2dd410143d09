"""method=sir: the posterior target p(x) r(x)^beta by importance resampling of prior samples."""
import math

import pytest
import torch

from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError
from rtb_lightning.target_resampling import importance_resample, run_resampling


def test_resampling_a_gaussian_prior_by_a_gaussian_likelihood_gives_the_closed_form_posterior():
    # N(0, 1) * exp(-(x - 2)^2 / 2) = N(1, 1/2) * Z, Z = exp(-1) / sqrt(2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400_000, generator=g)
    log_w = -(x - 2) ** 2 / 2
    idx, ess, log_z = importance_resample(log_w, 100_000, g)
    y = x[idx]
    assert abs(y.mean().item() - 1.0) < 0.01 and abs(y.var().item() - 0.5) < 0.01
    assert abs(log_z - (-1 - 0.5 * math.log(2))) < 0.01
    w = log_w.exp()
    assert ess == pytest.approx((w.sum() ** 2 / (w ** 2).sum()).item(), rel=1e-4)


def test_non_finite_weights_are_never_drawn_and_all_bad_is_an_error():
    log_w = torch.tensor([0.0, math.nan, -math.inf, math.inf, 1.0])
    idx, ess, _ = importance_resample(log_w, 1000, torch.Generator().manual_seed(0))
    assert set(idx.tolist()) == {0, 4} and 1 < ess < 2
    with pytest.raises(ValueError, match="every log-weight"):
        importance_resample(torch.tensor([math.nan, -math.inf]), 3)


@pytest.mark.parametrize("args, match", [
    (["domain=gmm25", "method=sir"], "target density itself"),
    (["domain=digits", "method=sir", "posterior.conditional=true"], "unconditional"),
    (["domain=digits", "method=sir", "method.proposals=100", "eval.num_samples=500"], "method.proposals=100"),
])
def test_bad_sir_runs_are_refused_before_anything_is_trained(tmp_path, args, match):
    with pytest.raises(ConfigError, match=match):
        run_resampling(load_config([*args, f"cache_dir={tmp_path}"]), tmp_path)
    assert not any(tmp_path.glob("*.pt"))


def test_domains_declare_whether_they_are_conditioned():
    from rtb_lightning.domains.base import Domain
    from rtb_lightning.domains.control import ControlDomain
    from rtb_lightning.domains.text import TextDomain
    from rtb_lightning.builders import build_domain

    assert TextDomain.conditional and ControlDomain.conditional and not Domain.conditional
    assert not build_domain(load_config(["domain=gmm25"]), "posterior").conditional
