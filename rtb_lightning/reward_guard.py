"""Checks on what a reward returns, before it can reach a loss.

-inf (a violated constraint) is legal and clamped to a floor so the posterior learns to avoid it.
NaN / +inf are bugs in the reward: an error naming step and count, or dropped with
nonfinite='drop'. A wrong shape is always an error.
"""
from dataclasses import dataclass

import torch

from .errors import RewardError


@dataclass
class GuardedReward:
    log_r: torch.Tensor        # clamped, finite
    keep: torch.Tensor         # bool mask of samples to train on
    num_neg_inf: int
    num_nonfinite: int


def guard_log_r(log_r, batch_size: int, name: str, step: int, log_r_min: float = -1e4,
                nonfinite: str = "error") -> GuardedReward:
    if not torch.is_tensor(log_r):
        raise RewardError(f"reward {name} returned {type(log_r).__name__}, expected a tensor of shape ({batch_size},)",
                          "return one log-reward per sample as a 1-D tensor")
    if log_r.shape != (batch_size,):
        raise RewardError(f"reward {name} returned shape {tuple(log_r.shape)} for a batch of {batch_size}; "
                          f"expected ({batch_size},)",
                          "return one log-reward per sample (reduce over event dims, e.g. .sum(-1))")
    neg_inf = torch.isneginf(log_r)
    bad = torch.isnan(log_r) | torch.isposinf(log_r)
    n_bad = int(bad.sum())
    if n_bad and nonfinite != "drop":
        raise RewardError(f"reward {name} returned NaN/+inf for {n_bad} of {batch_size} samples at step {step}",
                          "fix the reward, or set reward.nonfinite=drop to drop and count such samples")
    clean = torch.where(neg_inf | bad, torch.full_like(log_r, log_r_min), log_r).clamp(min=log_r_min)
    return GuardedReward(clean, ~bad, int(neg_inf.sum()), n_bad)


def call_reward(fn, x, cond, *, name: str, step: int, retries: int = 0, failure_path=None):
    """fn(x, cond), re-called up to `retries` times if it raises (flaky remote or GPU rewards); then an
    error naming the step, with the offending batch saved to `failure_path` for debugging."""
    for attempt in range(retries + 1):
        try:
            return fn(x, cond)
        except Exception as e:              # noqa: BLE001 - any failure of user code is reported the same way
            if attempt < retries:
                continue
            saved = ""
            if failure_path is not None:
                from .checkpoint_io import atomic_torch_save
                atomic_torch_save({"x": x.detach().cpu(), "cond": None if cond is None else cond.detach().cpu(),
                                   "step": step, "error": repr(e)}, failure_path)
                saved = f"; the batch is saved in {failure_path}"
            raise RewardError(f"reward {name} raised {type(e).__name__}: {e} at step {step} "
                              f"(after {retries + 1} attempt{'s' if retries else ''}){saved}",
                              "fix the reward (load the saved batch with torch.load to reproduce), "
                              "or set reward.retries=N for transient failures") from e
