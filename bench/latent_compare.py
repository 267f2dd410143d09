"""Noise-space RTB vs MALA / Langevin in noise space vs data-space RTB, on equal reward-evaluation budgets.

    python bench/latent_compare.py --json bench/results/latent_compare.json          # defaults: a few CPU minutes
    python bench/latent_compare.py --steps 600 --classes 7 --generators digits_vae   # larger budget
    python bench/latent_compare.py --no-data-space                                   # skip the digits UNet prior

Target: the digits of `--classes` under the reward classifier, log r(x) = log sum_{c in S} p(c | x).
Rows (all judged by the digits domain's separate evaluation classifier on --samples samples):
  rtb-latent (<gen>)  train.py domain=latent generator=<gen>: RTB in the generator's noise space
  mala-latent (<gen>) MALA on log N(z; 0, I) + log r(f(z)): --chains chains, step size adapted towards
                      acceptance 0.574 during the first half, states kept evenly over the second half
  ula-latent (<gen>)  unadjusted Langevin, same chains and budget, MALA's adapted step size
  rtb-data            train.py domain=digits: RTB on the 8x8 pixels against the UNet diffusion prior
The budget: every RTB run has the same batch, steps, sampling fractions and log Z initialisation, so
the same number of reward evaluations during training: init + batch + (steps - 1) * (batch - buffer
replays); MALA / ULA get that many rows of log r(f(z)) and its gradient (chains x steps). Generators,
classifiers and the digits prior are trained first (cached, shared by all rows; their time is
reported apart). Wall time: training plus the final evaluation (RTB, from train.py's metrics.json),
sampling (MALA / ULA).
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from train_run import train_run  # noqa: E402
sys.path.insert(0, str(REPO))
KEYS = ("eval_accuracy", "fid", "diversity", "mean_log_r")


def rtb_budget(steps, batch, buffer_frac, init):
    return init + batch + (steps - 1) * (batch - int(round(buffer_frac * batch)))


def langevin_rows(cfg, budget, chains, samples, seed):
    """MALA and ULA in noise space on the same budget; returns {name: metrics}."""
    import torch

    from rtb_lightning.builders import build_domain
    from rtb_lightning.local_search import MALA

    domain = build_domain(cfg, "posterior")
    log_target = lambda z, cond=None: -0.5 * z.pow(2).sum(1) + domain.log_reward(z)
    steps = max(2, budget // chains - 1)            # + 1 evaluation at the start of each chain
    burn = steps // 2
    keep_every = max(1, (steps - burn) // max(1, samples // chains))
    out = {}
    torch.manual_seed(seed)
    z0 = torch.randn(chains, domain.latent_dim)
    t0 = time.time()
    mala = MALA(log_target, step_size=0.05)
    kept, _, acc, _ = mala.run(z0.clone(), steps, burn, keep_every)
    out["mala"] = {**domain.evaluate(kept[-samples:]), "wall_s": time.time() - t0, "accept": acc,
                   "step_size": mala.step_size, "reward_evals": chains * (steps + 1)}
    torch.manual_seed(seed)
    t0 = time.time()
    z, h, kept = z0.clone(), mala.step_size, []
    for i in range(steps):
        with torch.enable_grad():
            zg = z.detach().requires_grad_(True)
            g, = torch.autograd.grad(log_target(zg).sum(), zg)
        z = (z + h * torch.nan_to_num(g) + math.sqrt(2 * h) * torch.randn_like(z)).detach()
        if i >= burn and (i + 1 - burn) % keep_every == 0:
            kept.append(z)
    out["ula"] = {**domain.evaluate(torch.cat(kept)[-samples:]), "wall_s": time.time() - t0,
                  "step_size": h, "reward_evals": chains * steps}
    return out


def format_table(rows, classes, budget):
    f = lambda v, d=3: "" if v is None else f"{v:.{d}f}"
    lines = [f"| method (digits, classes {classes}; {budget} reward evaluations) | eval accuracy | FID | diversity | "
             "mean log r | wall s |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {f(r['eval_accuracy'])} | {f(r['fid'], 1)} | {f(r['diversity'])} | "
                     f"{f(r['mean_log_r'], 2)} | {f(r['wall_s'], 1)} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", default="7", help="comma-separated target classes")
    ap.add_argument("--generators", default="digits_vae,digits_flow")
    ap.add_argument("--steps", type=int, default=100, help="RTB training steps (sets the budget)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--chains", type=int, default=64)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-data-space", action="store_true")
    ap.add_argument("--out", default="runs/latent_compare")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    init, buffer_frac = 256, 0.2
    common = [f"cache_dir={a.out}/cache", f"seed={a.seed}"]
    rtb = [f"reward.classes=[{a.classes}]", "method=rtb", f"trainer.max_steps={a.steps}", f"posterior.batch_size={a.batch}",
           f"posterior.log_z_init_samples={init}", "sampling.on_policy=0.5", f"sampling.buffer={buffer_frac}",
           "sampling.prior=0.3", f"eval.every_n_steps={a.steps}", f"eval.num_samples={a.samples}"]
    budget = rtb_budget(a.steps, a.batch, buffer_frac, init)
    gens = [g for g in a.generators.split(",") if g]
    setup = {}
    for g in gens:                                  # cached models first, timed apart
        setup[f"generator {g}"] = round(train_run(["stage=generator", f"domain={g}", *common], f"{a.out}/setup-{g}")[1], 1)
    setup["classifiers"] = round(train_run(["stage=classifier", "domain=digits", *common], f"{a.out}/setup-cls")[1], 1)
    if not a.no_data_space:
        setup["digits prior"] = round(train_run(["stage=prior", "domain=digits", *common], f"{a.out}/setup-prior")[1], 1)
    print("setup wall s:", setup, flush=True)
    rows = {}
    for g in gens:
        m, _ = train_run(["domain=latent", f"generator={g}", *common, *rtb], f"{a.out}/rtb-{g}")
        rows[f"rtb-latent ({g})"] = {**{k: m.get(k) for k in KEYS}, "wall_s": m["wall_s"], "reward_evals": budget,
                                     "prior_eval_accuracy": m.get("prior_eval_accuracy"), "prior_fid": m.get("prior_fid")}
        print(g, rows[f"rtb-latent ({g})"], flush=True)
        from rtb_lightning.config import load_config
        cfg = load_config(["domain=latent", f"generator={g}", f"reward.classes=[{a.classes}]", *common,
                           f"run_dir={a.out}/langevin-{g}"])
        for name, r in langevin_rows(cfg, budget, a.chains, a.samples, a.seed).items():
            rows[f"{name}-latent ({g})"] = {**{k: r.get(k) for k in KEYS}, **{k: r[k] for k in r if k not in KEYS}}
            print(name, g, rows[f"{name}-latent ({g})"], flush=True)
    if not a.no_data_space:
        # without the digits default's Langevin term: it takes a reward gradient at every sampling step,
        # outside the equal reward-evaluation budget of this comparison
        m, _ = train_run(["domain=digits", *common, *rtb, "sampler.langevin=false"], f"{a.out}/rtb-data")
        rows["rtb-data (digits UNet prior)"] = {**{k: m.get(k) for k in KEYS}, "wall_s": m["wall_s"], "reward_evals": budget,
                                                "prior_eval_accuracy": m.get("prior_eval_accuracy"), "prior_fid": m.get("prior_fid")}
    table = format_table(rows, a.classes, budget)
    print(table)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"rows": rows, "setup_wall_s": setup, "table": table, "budget": budget,
                                            "args": vars(a)}, indent=2))


if __name__ == "__main__":
    main()
