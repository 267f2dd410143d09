"""MALA local search: leaves a Gaussian invariant (fixed seed), adapts towards the target acceptance,
and pushes its chains' states into the replay buffer."""
import math

import pytest
import torch

from rtb_lightning.local_search import MALA, LocalSearch
from rtb_lightning.replay_buffer import ReplayBuffer

MEAN = torch.tensor([1.0, -2.0, 0.5])
STD = torch.tensor([0.5, 2.0, 1.0])


def gaussian_log_density(x, cond=None):
    return (-0.5 * ((x - MEAN) / STD).pow(2) - STD.log() - 0.5 * math.log(2 * math.pi)).sum(1)


def test_mala_keeps_a_gaussian_invariant_and_adapts_acceptance():
    torch.manual_seed(0)
    n = 4000
    x0 = MEAN + STD * torch.randn(n, 3)                        # start exactly at the target
    mala = MALA(gaussian_log_density, step_size=1.0)           # far too large: adaptation must shrink it
    kept, lp, acc_after, _ = mala.run(x0, steps=120, burn_in=60, keep_every=30)
    assert kept.shape == (2 * n, 3)
    assert 0.45 < acc_after < 0.70                             # adapted towards 0.574
    assert mala.step_size < 1.0
    torch.testing.assert_close(lp, gaussian_log_density(kept))
    final = kept[n:]
    # 4000 independent chains: standard errors ~ STD / 63 for the mean, ~2.2% for the std
    assert ((final.mean(0) - MEAN).abs() / STD).max() < 0.06
    assert ((final.std(0) / STD) - 1).abs().max() < 0.06


def test_mala_from_a_bad_start_reaches_the_target():
    torch.manual_seed(1)
    x0 = torch.full((2000, 3), 6.0)
    kept, _, _, _ = MALA(gaussian_log_density, step_size=0.05).run(x0, steps=400, burn_in=100)
    assert ((kept.mean(0) - MEAN).abs() / STD).max() < 0.1
    assert ((kept.std(0) / STD) - 1).abs().max() < 0.1


def test_mala_rejects_nonfinite_proposals():
    def log_p(x, cond=None):                                  # -inf (and NaN gradient) on the negative half-line
        return torch.where(x[:, 0] > 0, -0.5 * x[:, 0] ** 2, torch.full_like(x[:, 0], -math.inf))
    torch.manual_seed(2)
    kept, lp, _, _ = MALA(log_p, step_size=0.5).run(torch.full((500, 1), 1.0), steps=50)
    assert (kept > 0).all() and torch.isfinite(lp).all()


def test_local_search_runs_when_due_and_fills_the_buffer():
    buf = ReplayBuffer(10_000)
    buf.add(MEAN + STD * torch.randn(50, 3), torch.zeros(50))
    ls = LocalSearch(gaussian_log_density, every=10, chains=40, steps=30, burn_in=10, keep_every=10)
    assert ls.maybe_run(buf, 0) == 0 and ls.maybe_run(buf, 7) == 0 and len(buf) == 50
    added = ls.maybe_run(buf, 10)
    assert added == 2 * 40 and len(buf) == 50 + 80
    torch.testing.assert_close(buf.log_r[50:], gaussian_log_density(buf.x[50:]))
    assert ls.state_dict()["step_size"] == pytest.approx(ls.mala.step_size)
