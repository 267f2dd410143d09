"""Training objectives as pure functions of per-trajectory log-prob sums (all shape (B,)).

log_pf:  sum_t log p_post(x_{t+1}|x_t)            (the trained model)
log_ref: sum_t log p_prior(x_{t+1}|x_t) for RTB, or sum_t log p_B(x_t|x_{t+1}) for TB
log_r:   log reward of the terminal; beta multiplies it (inverse temperature)
Each returns a scalar loss whose gradient w.r.t. log_pf and log_z is the estimator's.
"""
import torch
import torch.nn.functional as F


def rtb_delta(log_pf, log_ref, log_r, log_z, beta=1.0):
    """The trajectory-balance residual; zero for every trajectory iff the posterior is exact."""
    return log_z + log_pf - log_ref - beta * log_r


def _squared(delta, clip, huber=0.0):
    """delta^2, or with huber > 0 the Huber loss (delta^2 inside |delta| <= huber, linear outside, scaled
    to match delta^2 there): each trajectory's gradient is bounded by 2 huber. Why: off-policy trajectories
    whose residual no posterior in reach can cancel (a prior rollout ending where log r sits at its floor:
    beta * 10 = 200 nats at beta 20) otherwise outweigh the on-policy ones and drag log Z. Zero residuals
    stay the only minimum, so the exact posterior is still the optimum."""
    sq = (2 * F.huber_loss(delta, torch.zeros_like(delta), reduction="none", delta=huber) if huber > 0
          else delta.pow(2))                     # torch's Huber is half of delta^2 inside
    return torch.relu(sq - clip) if clip > 0 else sq


def rtb(log_pf, log_ref, log_r, log_z, beta=1.0, clip=0.0, huber=0.0, **_):
    """Relative trajectory balance with a learned log Z; `clip` > 0 trains on relu(delta^2 - clip)."""
    return _squared(rtb_delta(log_pf, log_ref, log_r, log_z, beta), clip, huber).mean()


def tb(log_pf, log_ref, log_r, log_z, beta=1.0, clip=0.0, huber=0.0, **_):
    """Trajectory balance against a fixed reference's backward kernel: the same algebra as RTB."""
    return rtb(log_pf, log_ref, log_r, log_z, beta, clip, huber)


def vargrad_log_z(log_pf, log_ref, log_r, beta=1.0, groups=None):
    """Per-batch (or per-group) estimate of log Z = mean(beta log r + log_ref - log_pf), detached."""
    est = (beta * log_r + log_ref - log_pf).detach()
    if groups is None:
        return est.mean().expand_as(est)
    _, inv, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), dtype=est.dtype, device=est.device).index_add_(0, inv, est)
    return (sums / counts)[inv]


def vargrad(log_pf, log_ref, log_r, log_z=None, beta=1.0, clip=0.0, groups=None, huber=0.0, **_):
    """RTB with log Z replaced by its batch estimate (needs >= 2 trajectories per condition)."""
    lz = vargrad_log_z(log_pf, log_ref, log_r, beta, groups)
    return _squared(rtb_delta(log_pf, log_ref, log_r, lz, beta), clip, huber).mean()


def rl_kl(log_pf, log_ref, log_r, log_z=None, beta=1.0, kl_weight=1.0, **_):
    """REINFORCE on beta log r - kl_weight * (log_pf - log_prior), with a batch-mean baseline.

    The KL term's score-function gradient is E[(log_pf - log_prior) grad log_pf], so both parts
    share one advantage. With kl_weight = 1 its optimum is the same posterior as RTB's. On-policy only.
    """
    with torch.no_grad():
        ret = beta * log_r - kl_weight * (log_pf - log_ref)
        adv = ret - ret.mean()
    return -(adv * log_pf).mean()


def ddpo(log_pf, log_ref, log_r, log_z=None, beta=1.0, **_):
    """DDPO-style policy gradient: REINFORCE on log r alone (no KL to the prior; trajectory-level,
    without PPO's per-step clipped ratios), with DDPO's standardised advantage (r - mean) / std over
    the batch: invariant to beta and to the reward's scale, which at beta 20 made the unnormalised
    version diverge. Maximises reward, so it may collapse to few modes."""
    with torch.no_grad():
        ret = beta * log_r
        adv = (ret - ret.mean()) / (ret.std() + 1e-8) if len(ret) > 1 else torch.zeros_like(ret)
    return -(adv * log_pf).mean()


def target_nll(log_pf, rows, weight=1.0):
    """weight · the negative log-likelihood of the target's own paths (rows: a mask of draws of the target,
    sampling.target), per trajectory of the batch. A forward-KL term: its gradient vanishes where the posterior's
    path measure is the target's, so RTB's optimum stays the optimum, while it pulls mass onto every part of the
    target it is shown, at once and with no residual multiplying it (RTB's own pull on a path scales with δ)."""
    return -weight * (log_pf * rows).sum() / len(log_pf)


OBJECTIVES = {"rtb": rtb, "tb": tb, "vargrad": vargrad, "rl_kl": rl_kl, "ddpo": ddpo}
LEARNS_LOG_Z = {"rtb", "tb"}
