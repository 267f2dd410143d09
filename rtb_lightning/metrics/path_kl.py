"""Where a fine-tuned posterior's path measure departs from its target's, step by step.

RTB's target over whole trajectories is P*(τ) = p(τ)·r(x_T)^β / Z. Prior rollouts resampled with weights
r^β are (as the proposals grow) trajectories of P* itself, so two per-step averages of the log-ratio
d_t = log p_post(x_{t+1}|x_t) − log p_prior(x_{t+1}|x_t) can be read off:
- on posterior trajectories: Σ_t E_post[d_t] = KL(post‖prior), the cost the posterior pays;
- on target trajectories: Σ_t E_P*[d_t], which for the optimal posterior equals KL(P*‖prior) =
  β E_P*[log r] − log Z. The shortfall is the forward KL(P*‖post): how improbable the target's own
  paths are under the posterior (mass it misses), step by step.
The reverse KL(post‖P*) = KL(post‖prior) − β E_post[log r] + log Z follows from the same numbers.
Unconditional posteriors; log r floored at `log_r_min` as in training.
"""
import torch

from ..target_resampling import importance_resample


def log_ratio_steps(scorer, states, base=None):
    """(B, T) per-step log p_post − log p_prior of trajectories `states` (prior outputs `base` reused)."""
    return scorer.log_post_steps(states, None, base) - scorer.log_ref_steps(states, None, base)


@torch.no_grad()
def path_kl(module, log_reward, beta, log_r_min, n=500, proposals=4000, batch=500, seed=0):
    """Per-step and total path KLs of `module`'s posterior against its target (see the module docstring)."""
    sc, post_d, post_r, prior_s, prior_b, prior_r = module.scorer, [], [], [], [], []
    for i in range(0, n, batch):
        s, _, base = sc.sample_posterior(min(batch, n - i))
        post_d.append(log_ratio_steps(sc, s, base))
        post_r.append(log_reward(s[:, -1], None).clamp(min=log_r_min))
    for i in range(0, proposals, batch):
        s, _, base = sc.sample_prior(min(batch, proposals - i))
        prior_s.append(s), prior_b.append(base)
        prior_r.append(log_reward(s[:, -1], None).clamp(min=log_r_min))
    log_r = torch.cat(prior_r)
    idx, ess, log_z = importance_resample(beta * log_r, n, torch.Generator().manual_seed(seed))
    idx = idx.to(log_r.device)
    states = torch.cat(prior_s)[idx]
    base = None if prior_b[0] is None else torch.cat(prior_b)[idx]
    tgt_d, post_d, post_r = log_ratio_steps(sc, states, base), torch.cat(post_d), torch.cat(post_r)
    kl_post_prior = post_d.sum(1).mean().item()
    kl_target_prior = (beta * log_r[idx]).mean().item() - log_z
    on_target = tgt_d.sum(1).mean().item()
    return {"kl_post_prior": kl_post_prior, "kl_target_prior": kl_target_prior,
            "target_log_ratio": on_target, "forward_kl": kl_target_prior - on_target,
            "reverse_kl": kl_post_prior - beta * post_r.mean().item() + log_z,
            "target_log_z": log_z, "learned_log_z": float(module.log_z(None, 1)[0]),
            "ess": ess, "proposals": proposals, "n": n,
            "per_step_post": post_d.mean(0).tolist(), "per_step_target": tgt_d.mean(0).tolist()}
