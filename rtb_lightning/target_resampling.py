"""method=sir: samples of the posterior target itself, by importance resampling of prior samples.

The fine-tuned posterior's target is p(x)·r(x)^β, with p the prior's own sampling distribution (the
same process and steps RTB scores). Drawing K prior samples and resampling them with weights
r(x)^β (reward floored at reward.log_r_min, as in training) gives samples of that target, exact as
K → ∞; the effective sample size ESS = (Σw)²/Σw² says how far from that K is. Its metrics are what
a perfectly converged RTB posterior would score, so they separate "RTB has not converged" from
"the target itself scores this" (e.g. when a guidance baseline, which samples some other
distribution, beats both on FID). log Ẑ = log mean r^β is the target's normaliser, to compare
with RTB's learned log Z, and β E[log r] − log Ẑ its KL to the prior, which RTB's optimal posterior
also has over whole trajectories (p_post(τ) = p(τ) r^β / Z). Training-free; costs K prior samples.
"""
import json
import math
import time

import torch

from .checkpoint_io import atomic_write_text
from .errors import ConfigError


def importance_resample(log_w: torch.Tensor, n: int, generator=None):
    """Multinomial resampling: (n indices drawn with probability ∝ exp(log_w), ESS, log mean w).

    Non-finite log-weights get weight 0; at least one must be finite."""
    log_w = torch.where(torch.isfinite(log_w), log_w.double(), torch.tensor(-math.inf, dtype=torch.float64))
    if not torch.isfinite(log_w).any():
        raise ValueError("importance_resample: every log-weight is -inf or non-finite")
    w = (log_w - log_w.max()).exp()
    ess = (w.sum() ** 2 / (w ** 2).sum()).item()
    log_mean = (torch.logsumexp(log_w, 0) - math.log(len(log_w))).item()
    idx = torch.multinomial(w / w.sum(), n, replacement=True, generator=generator)
    return idx, ess, log_mean


@torch.no_grad()
def run_resampling(cfg, run_dir, start_time=None):
    from .baselines import build_training_free
    from .builders import build_domain

    start = time.time() if start_time is None else start_time
    k, n = int(cfg.method.proposals), int(cfg.eval.num_samples)
    if k < n:
        raise ConfigError(f"method.proposals={k} is below eval.num_samples={n}",
                          "resampling needs many more prior samples than it returns, e.g. method.proposals=20000")
    domain = build_domain(cfg, "posterior")
    if getattr(domain, "reward_is_density", False):
        raise ConfigError(f"method=sir reweights prior samples by r^beta; domain={cfg.domain.name}'s reward is the "
                          "target density itself (no prior to reweight)", "use method=tb or vargrad on energies")
    if domain.conditional:
        raise ConfigError("method=sir resamples one unconditional target; this run has conditions "
                          "(posterior.conditional=true or a conditioned domain)", "run one class set at a time")
    domain, process, prior, device = build_training_free(cfg, run_dir, domain)
    beta = float(cfg.beta.end)
    torch.manual_seed(cfg.seed)
    xs, log_r, batch, left = [], [], max(cfg.posterior.batch_size, 256), k
    while left > 0:
        m = min(left, batch)
        x = process.sample(prior, m, None)[0][:, -1]
        xs.append(x.cpu())
        log_r.append(domain.log_reward(x, None).float().cpu())
        left -= m
    x, log_r = torch.cat(xs), torch.cat(log_r)
    finite = torch.isfinite(log_r)
    log_w = beta * log_r.clamp(min=cfg.reward.log_r_min)
    idx, ess, log_z = importance_resample(torch.where(finite, log_w, -math.inf), n,
                                          torch.Generator().manual_seed(cfg.seed))
    post = x[idx].to(device)
    # KL(target || prior) = beta E_target[log r] - log Z; RTB's optimum has this trajectory KL too
    kl = (log_w[idx].mean() - log_z).item()
    metrics = {**domain.evaluate(post, None), "log_z": log_z, "kl_post_prior": kl, "ess": ess, "proposals": k,
               "unique": int(idx.unique().numel()), "nonfinite_rewards": int((~finite).sum()), "beta": beta}
    if "mean_log_r" not in metrics:
        metrics["mean_log_r"] = domain.log_reward(post, None).mean().item()
    metrics["prior_mean_log_r"] = log_r[finite].mean().item()
    fig = domain.plot(x[:n], post.cpu(), run_dir / "samples.png")
    if fig is not None:
        import matplotlib.pyplot as plt
        plt.close(fig)
    if ess < 2 * n:
        print(f"[rtb] warning: sir ESS {ess:.0f} < 2 x eval.num_samples ({n}): many duplicates; raise method.proposals")
    metrics = {**metrics, "method": "sir", "wall_s": round(time.time() - start, 2)}
    print("[rtb] sir: " + ", ".join(f"{key} {v:.4f}" if isinstance(v, float) else f"{key} {v}"
                                    for key, v in metrics.items() if "_c" not in key and key != "method"))
    atomic_write_text(json.dumps(metrics, indent=2), run_dir / "metrics.json")
    return metrics
