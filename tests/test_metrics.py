"""Evaluation metrics: EMD, mode statistics, log Z estimates."""
import math

import pytest
import torch

from rtb_lightning.metrics import emd, log_z_estimates, mode_tv, mode_weights, off_mode_fraction


def test_emd_of_identical_sets_is_zero_and_of_a_shift_is_its_length():
    x = torch.randn(200, 2)
    assert emd(x, x.clone()) == pytest.approx(0.0, abs=1e-9)
    assert emd(x, x + torch.tensor([3.0, 4.0])) == pytest.approx(5.0, rel=1e-6)
    assert emd(x, x[torch.randperm(200)]) == pytest.approx(0.0, abs=1e-9)     # order does not matter


def test_mode_weights_and_tv():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([centres[0].expand(50, 2), centres[1].expand(30, 2), centres[2].expand(20, 2)]) + 0.1
    torch.testing.assert_close(mode_weights(x, centres), torch.tensor([0.5, 0.3, 0.2]))
    assert mode_tv(x, centres, torch.tensor([0.5, 0.3, 0.2])) == pytest.approx(0.0, abs=1e-7)
    assert mode_tv(x, centres, torch.tensor([0.0, 0.5, 0.5])) == pytest.approx(0.5)


def test_off_mode_fraction():
    centres = torch.zeros(1, 2)
    x = torch.tensor([[0.5, 0.0], [1.9, 0.0], [2.1, 0.0], [0.0, -3.0]])
    assert off_mode_fraction(x, centres, 2.0) == 0.5


def test_log_z_estimates_exact_when_weights_are_constant():
    log_ref = torch.randn(100, dtype=torch.float64)
    log_r = torch.randn(100, dtype=torch.float64)
    log_pf = log_ref + 2 * log_r - 0.8                  # perfect posterior, log Z = 0.8
    elbo, iw, kl = log_z_estimates(log_pf, log_ref, log_r, beta=2.0)
    assert elbo == pytest.approx(0.8) and iw == pytest.approx(0.8)
    assert kl == pytest.approx((log_pf - log_ref).mean().item())


def test_elbo_below_importance_weighted_estimate():
    w = torch.randn(500, dtype=torch.float64) * 2
    elbo, iw, _ = log_z_estimates(-w, torch.zeros(500, dtype=torch.float64), torch.zeros(500, dtype=torch.float64))
    assert elbo == pytest.approx(w.mean().item())
    assert iw == pytest.approx((torch.logsumexp(w, 0) - math.log(500)).item())
    assert elbo < iw


def test_evaluation_trims_gathered_rank_shares_to_num_samples():
    from rtb_lightning.callbacks.evaluation import _trim

    parts = [(torch.arange(4), None), (torch.arange(4, 7), None), (torch.arange(7, 10), None)]   # 2 ranks' shares
    out = _trim(parts, 6)
    assert torch.equal(torch.cat([p[0] for p in out]), torch.arange(6)) and out[-1][1] is None
