"""log Z errors of trained energy samplers over repeated evaluation sets, and pooled over all of them.

    python bench/log_z_repeats.py --ckpt runs/fn_s0/checkpoints/last.ckpt runs/fn_s1/checkpoints/last.ckpt \
        --repeats 10 --num-samples 2000 --json bench/results/funnel_repeats.json domain=funnel method=tb

One evaluation's Δlog Ẑ_IW on a heavy-tailed energy moves a lot between sets of 2,000 samples (the
IW estimate is a log-mean of weights); this reads its mean and spread over `--repeats` independent
sets per checkpoint, and the IW estimate pooled over all repeats·n samples (less biased: the
log-mean-exp estimate underestimates log Z by about Var(w)/(2n·E[w]²)). Trailing `key=value`
arguments build the module exactly as train.py would (give the run's own overrides).
"""
import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rtb_lightning.errors import UserError  # noqa: E402
from rtb_lightning.metrics import importance_metrics  # noqa: E402


def load_module(overrides, ckpt):
    from rtb_lightning.builders import build_posterior_run
    from rtb_lightning.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config([*overrides, f"run_dir={tmp}"])
        _, module, domain = build_posterior_run(cfg, Path(tmp))
    if getattr(domain, "log_z", None) is None:
        raise UserError(f"domain {cfg.domain.name} has no exact log Z", "use an energy domain (gmm25, funnel, manywell)")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    hint = "pass the run's own key=value overrides after the options"
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as e:                                          # same names, other shapes
        raise UserError(f"checkpoint {ckpt} does not fit the config: {str(e).splitlines()[-1].strip()}", hint) from None
    missing = [k for k in missing if not k.startswith("prior.")]       # checkpoints leave the frozen prior out
    if missing or unexpected:
        raise UserError(f"checkpoint {ckpt} does not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})",
                        hint)
    return module.eval(), domain


@torch.no_grad()
def log_weights(module, n, batch=2000):
    """log r + log p_ref - log p_post of n fresh posterior trajectories (no exploration)."""
    out = []
    for i in range(0, n, batch):
        states, log_pf, log_ref = module.sample_scored(min(batch, n - i))
        out.append(module.reward_log_r(states[:, -1]).log_r + log_ref - log_pf)
    return torch.cat(out).double()


def repeat_errors(log_w, log_z, repeats):
    """Per-set ELBO / IW errors of `repeats` equal slices of log_w, and the IW error of all of them."""
    sets = log_w.view(repeats, -1)
    iw = torch.logsumexp(sets, 1) - math.log(sets.shape[1])
    return {"elbo_errors": (log_z - sets.mean(1)).abs().tolist(), "iw_errors": (log_z - iw).abs().tolist(),
            "pooled_iw_error": importance_metrics(log_w, log_z)["log_z_iw_error"], "pooled_n": len(log_w)}


def _ms(v):
    return f"{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", nargs="+", required=True)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--num-samples", type=int, default=2000, help="samples per evaluation set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a, overrides = ap.parse_known_args(argv)
    if a.repeats < 1 or a.num_samples < 2:
        raise SystemExit("--repeats must be >= 1 and --num-samples >= 2")
    for c in a.ckpt:
        if not Path(c).is_file():
            raise SystemExit(f"checkpoint {c} not found (give the .ckpt file of a finished run)")
    rows = {}
    print(f"| checkpoint | Δlog Ẑ ({a.repeats} sets of {a.num_samples}) | Δlog Ẑ_IW per set | "
          f"Δlog Ẑ_IW pooled ({a.repeats * a.num_samples}) |")
    print("|---|---|---|---|")
    for c in a.ckpt:
        module, domain = load_module(overrides, c)
        torch.manual_seed(a.seed)
        r = repeat_errors(log_weights(module, a.repeats * a.num_samples), domain.log_z, a.repeats)
        rows[c] = r
        print(f"| {c} | {_ms(r['elbo_errors'])} | {_ms(r['iw_errors'])} | {r['pooled_iw_error']:.3f} |", flush=True)
    if len(rows) > 1:
        means = [statistics.mean(r["iw_errors"]) for r in rows.values()]
        print(f"\nover checkpoints: Δlog Ẑ_IW per set {_ms(means)}; pooled "
              f"{_ms([r['pooled_iw_error'] for r in rows.values()])}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"overrides": overrides, "repeats": a.repeats,
                                            "num_samples": a.num_samples, "seed": a.seed, "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    try:
        main()
    except UserError as e:
        raise SystemExit(f"error: {e}")
