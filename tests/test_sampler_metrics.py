"""Sampler metrics on known cases: W2^2, effective sample size, log Z errors, EUBO."""
import math

import pytest
import torch

from rtb_lightning.metrics import effective_sample_size, importance_metrics, w2_sq


def test_w2_sq_of_identical_sets_is_zero_and_of_a_shift_is_its_squared_length():
    x = torch.randn(300, 3)
    assert w2_sq(x, x[torch.randperm(300)]) == pytest.approx(0.0, abs=1e-9)
    assert w2_sq(x, x + torch.tensor([1.0, 2.0, 2.0])) == pytest.approx(9.0, rel=1e-6)


def test_w2_sq_between_point_masses_and_gaussian_scale():
    # two sets of points on a line, matched by sorting: W2^2 = mean squared gap of the sorted values
    a, b = torch.randn(400, 1), 2.0 * torch.randn(400, 1) + 1.0
    expect = (a.sort(0).values - b.sort(0).values).pow(2).mean().item()
    assert w2_sq(a, b) == pytest.approx(expect, rel=1e-6)


def test_ess_of_exact_weights_is_n_and_of_one_dominant_weight_is_one():
    assert effective_sample_size(torch.full((500,), -3.7)) == pytest.approx(500.0)
    lw = torch.full((100,), -1000.0)
    lw[3] = 0.0
    assert effective_sample_size(lw) == pytest.approx(1.0)
    # two weights 1 and 3: (4)^2 / (1 + 9)
    assert effective_sample_size(torch.tensor([0.0, math.log(3.0)])) == pytest.approx(1.6)


def test_importance_metrics_on_exact_and_gaussian_weights():
    m = importance_metrics(torch.full((100,), 2.5), 2.5)
    assert m["log_z_error"] == pytest.approx(0.0, abs=1e-12) and m["log_z_iw_error"] == pytest.approx(0.0, abs=1e-12)
    assert m["ess_frac"] == pytest.approx(1.0)
    # log w ~ N(log Z - s^2/2, s^2) has E[w] = Z: the ELBO gap is s^2/2, the IW estimate is close to log Z
    s, n = 0.5, 200000
    lw = 1.0 - s * s / 2 + s * torch.randn(n, dtype=torch.float64)
    m = importance_metrics(lw, 1.0)
    assert m["log_z_error"] == pytest.approx(s * s / 2, abs=0.01)
    assert m["log_z_iw_error"] < 0.01
    assert m["ess_frac"] == pytest.approx(math.exp(-s * s), rel=0.02)     # 1 / E[w^2] for lognormal w
