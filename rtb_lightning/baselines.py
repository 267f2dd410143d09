"""Training-free baselines (method=cg | dps): a guidance-scale sweep on the same prior and reward.

For each scale: sample eval.num_samples images with the guided prior, evaluate them with the same
metrics as the posterior runs, save a sample grid; metrics.json holds the sweep.
"""
import json
import time

import torch

from .checkpoint_io import atomic_write_text
from .errors import ConfigError
from .guidance import METHODS, GuidedPrior

TRAINING_FREE = METHODS


def build_training_free(cfg, run_dir, domain=None):
    """Domain, process, frozen prior and device of a training-free method (reward built and cached)."""
    from .builders import build_domain, build_prior, build_process
    from .reward_builders import build_reward

    domain = domain or build_domain(cfg, "posterior")
    process = build_process(cfg, domain)
    build_reward(cfg, domain, run_dir)
    prior = build_prior(cfg, domain, process, run_dir).eval().requires_grad_(False)
    device = "cuda" if torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda") else "cpu"
    return domain, process.to(device), prior.to(device), device


@torch.no_grad()
def draw_terminals(sample, domain, n, batch, device="cpu"):
    """n terminal samples and their conditions (None when unconditional) from sample(m, cond), in batches
    of at most `batch`, each batch's conditions drawn from the domain first."""
    xs, cs = [], []
    while n > 0:
        m = min(n, batch)
        c = domain.sample_conditions(m)
        c = None if c is None else c.to(device)
        xs.append(sample(m, c))
        cs.append(c)
        n -= m
    return torch.cat(xs), None if cs[0] is None else torch.cat(cs)


@torch.no_grad()
def run_guidance(cfg, run_dir, start_time=None):
    start = time.time() if start_time is None else start_time
    if cfg.process.kind != "vp":
        raise ConfigError(f"method={cfg.method.name} guides a DDPM prior and needs process.kind=vp")
    scales = [float(s) for s in cfg.method.guidance_scales]
    if not scales or any(s < 0 for s in scales):
        raise ConfigError(f"method.guidance_scales={scales} must be a non-empty list of scales >= 0",
                          "e.g. method.guidance_scales=[0,1,2,5]")
    domain, process, prior, device = build_training_free(cfg, run_dir)
    batch, sweep, prior_x = cfg.posterior.batch_size, [], None
    for scale in scales:
        t0 = time.time()
        model = GuidedPrior(prior, domain.log_reward, process.alpha_bar, scale, cfg.method.name)
        torch.manual_seed(cfg.seed)
        x, cond = draw_terminals(lambda m, c: process.sample(model, m, c)[0][:, -1], domain, cfg.eval.num_samples,
                                 batch, device)
        metrics = {"scale": scale, **domain.evaluate(x, cond), "sample_s": round(time.time() - t0, 2)}
        if "mean_log_r" not in metrics:
            metrics["mean_log_r"] = domain.log_reward(x, cond).mean().item()
        sweep.append(metrics)
        prior_x = x if scale == 0 or prior_x is None else prior_x
        fig = domain.plot(prior_x.cpu(), x.cpu(), run_dir / f"samples_scale{scale:g}.png")
        if fig is not None:
            import matplotlib.pyplot as plt
            plt.close(fig)
        print(f"[rtb] {cfg.method.name} scale {scale:g}: " +
              ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "scale" and "_c" not in k))
    best = max(sweep, key=lambda r: (r.get("eval_accuracy", 0.0), r["mean_log_r"]))
    out = {**{k: v for k, v in best.items()}, "method": cfg.method.name, "best_scale": best["scale"],
           "wall_s": round(time.time() - start, 2), "sweep": sweep}
    atomic_write_text(json.dumps(out, indent=2), run_dir / "metrics.json")
    return out
