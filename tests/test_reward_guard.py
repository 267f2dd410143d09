"""What a reward may return (issue 2, "Bad input"): -inf is legal and clamped; NaN/+inf is an error
naming the reward, step and count (or dropped with nonfinite='drop'); a wrong shape is an error."""
import math

import pytest
import torch

from rtb_lightning.errors import RewardError, UserError
from rtb_lightning.reward_guard import guard_log_r

INF = math.inf


def test_finite_rewards_pass_through_unchanged():
    log_r = torch.tensor([0.0, -3.5, 2.0])
    g = guard_log_r(log_r, 3, "toy", step=0)
    assert torch.equal(g.log_r, log_r)
    assert g.keep.all() and g.num_neg_inf == 0 and g.num_nonfinite == 0


def test_neg_inf_is_clamped_to_the_floor_and_counted():
    log_r = torch.tensor([0.0, -INF, 1.0, -INF])
    g = guard_log_r(log_r, 4, "toy", step=3, log_r_min=-50.0)
    assert torch.equal(g.log_r, torch.tensor([0.0, -50.0, 1.0, -50.0]))
    assert g.num_neg_inf == 2 and g.num_nonfinite == 0
    assert g.keep.all()                                   # constraint violations are trained on


def test_values_below_the_floor_are_clamped():
    g = guard_log_r(torch.tensor([-1e6, -5.0]), 2, "toy", step=0, log_r_min=-100.0)
    assert torch.equal(g.log_r, torch.tensor([-100.0, -5.0]))
    assert g.num_neg_inf == 0


@pytest.mark.parametrize("bad", [math.nan, INF])
def test_nan_or_pos_inf_raises_naming_reward_step_and_count(bad):
    log_r = torch.tensor([0.0, bad, 1.0, bad, bad])
    with pytest.raises(RewardError) as e:
        guard_log_r(log_r, 5, "my_domain.log_reward", step=17)
    msg = str(e.value)
    assert "my_domain.log_reward" in msg
    assert "step 17" in msg
    assert "3 of 5" in msg
    assert "nonfinite=drop" in e.value.hint                # says how to opt out
    assert isinstance(e.value, UserError)                 # printed without a traceback by train.py


def test_nonfinite_drop_drops_and_counts():
    log_r = torch.tensor([0.0, math.nan, -INF, INF, 2.0])
    g = guard_log_r(log_r, 5, "toy", step=1, log_r_min=-10.0, nonfinite="drop")
    assert torch.equal(g.keep, torch.tensor([True, False, True, False, True]))
    assert g.num_nonfinite == 2 and g.num_neg_inf == 1
    assert torch.isfinite(g.log_r).all()
    assert torch.equal(g.log_r[g.keep], torch.tensor([0.0, -10.0, 2.0]))


@pytest.mark.parametrize("shape", [(6, 1), (5,), (6, 2), ()])
def test_wrong_shape_names_the_expected_shape(shape):
    with pytest.raises(RewardError) as e:
        guard_log_r(torch.zeros(shape), 6, "toy.log_reward", step=0)
    msg = str(e.value)
    assert "toy.log_reward" in msg and "(6,)" in msg and str(tuple(shape)) in msg


def test_non_tensor_reward_is_an_error():
    with pytest.raises(RewardError, match=r"toy.*expected a tensor of shape \(3,\)"):
        guard_log_r([0.0, 1.0, 2.0], 3, "toy", step=0)
