"""log Z errors of trained energy samplers over repeated evaluation sets, and pooled over all of them.

    python bench/log_z_repeats.py --ckpt runs/fn_s0/checkpoints/last.ckpt runs/fn_s1/checkpoints/last.ckpt \
        --repeats 10 --num-samples 2000 --json bench/results/funnel_repeats.json domain=funnel method=tb

One evaluation's Δlog Ẑ_IW on a heavy-tailed energy moves a lot between sets of 2,000 samples (the
IW estimate is a log-mean of weights); this reads its mean and spread over `--repeats` independent
sets per checkpoint (and the largest |x| among each set's samples: an escaped sample shows there), and
the IW estimate pooled over all repeats·n samples (less biased: the
log-mean-exp estimate underestimates log Z by about Var(w)/(2n·E[w]²)). Trailing `key=value`
arguments build the module exactly as train.py would (give the run's own overrides).

With --w2, each set's terminal samples are also compared with a fresh set of exact samples (W2² by
exact EMD), beside the floor: W2² between two exact sets of the same size, drawn in the same run. One
evaluation's W2² on 25-GMM scatters by ±0.3 around a floor of ≈1.16, so a target near the floor is
read on the mean over sets. W2 (each set's root) is printed beside it: the published tables' scale.
"""
import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rtb_lightning.checkpoint_io import atomic_write_text  # noqa: E402
from rtb_lightning.errors import UserError, run_script  # noqa: E402
from rtb_lightning.metrics import importance_metrics, w2_sq  # noqa: E402
from rtb_lightning.trained_module import load_trained_module, split_checkpoint_args  # noqa: E402


def load_module(overrides, ckpt):
    module, domain, cfg = load_trained_module(overrides, ckpt)
    if getattr(domain, "log_z", None) is None:
        raise UserError(f"domain {cfg.domain.name} has no exact log Z", "use an energy domain (gmm25, funnel, manywell)")
    return module, domain


@torch.no_grad()
def log_weights(module, n, batch=2000, terminals=False):
    """log r + log p_ref - log p_post of n fresh posterior trajectories (no exploration); with
    terminals=True also their final states."""
    out, xs = [], []
    for i in range(0, n, batch):
        states, log_pf, log_ref = module.sample_scored(min(batch, n - i))
        out.append(module.reward_log_r(states[:, -1]).log_r + log_ref - log_pf)
        xs.append(states[:, -1].detach().float().cpu())
    log_w = torch.cat(out).double()
    return (log_w, torch.cat(xs)) if terminals else log_w


def repeat_w2(x, domain, repeats, seed=0):
    """W2² of each of `repeats` equal slices of x against fresh exact samples, and the floor: W2²
    between two fresh exact sets of the same size (one pair per slice)."""
    sets = x.view(repeats, -1, *x.shape[1:])
    n = sets.shape[1]
    draw = lambda k: domain.sample(n, generator=torch.Generator().manual_seed(seed * 100_003 + k))
    w2 = [w2_sq(s[torch.isfinite(s).flatten(1).all(1)], draw(3 * i)) for i, s in enumerate(sets)]
    floor = [w2_sq(draw(3 * i + 1), draw(3 * i + 2)) for i in range(repeats)]
    return {"w2_sq": w2, "w2_sq_floor": floor, "w2": [math.sqrt(v) for v in w2], "w2_floor": [math.sqrt(v) for v in floor]}


def repeat_errors(log_w, log_z, repeats):
    """Per-set ELBO / IW errors of `repeats` equal slices of log_w, and the IW error of all of them."""
    sets = log_w.view(repeats, -1)
    iw = torch.logsumexp(sets, 1) - math.log(sets.shape[1])
    return {"elbo_errors": (log_z - sets.mean(1)).abs().tolist(), "iw_errors": (log_z - iw).abs().tolist(),
            "pooled_iw_error": importance_metrics(log_w, log_z)["log_z_iw_error"], "pooled_n": len(log_w)}


def repeat_max_abs(x, repeats):
    """The largest |coordinate| among each set's terminal samples (inf where one overflowed): an escaped
    trajectory shows here (Manywell: ~1e20) however little it moves the IW estimate."""
    a = x.view(repeats, -1).abs().nan_to_num(nan=math.inf)
    return a.amax(1).tolist()


def _ms(v):
    """mean ± std of the finite values; an escaped sample can make one set's error inf (statistics.stdev
    raises on it), so such sets are counted instead of averaged."""
    fin = [x for x in v if math.isfinite(x)]
    bad = f" ({len(v) - len(fin)} of {len(v)} non-finite)" if len(fin) < len(v) else ""
    if not fin:
        return f"n/a{bad}"
    return f"{statistics.mean(fin):.3f} ± {statistics.stdev(fin) if len(fin) > 1 else 0.0:.3f}{bad}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", nargs="+", action="extend", required=True, help="one or more; may be repeated")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--num-samples", type=int, default=2000, help="samples per evaluation set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--w2", action="store_true", help="also W2² per set against exact samples, beside the exact-vs-exact floor")
    a, overrides = ap.parse_known_args(argv)
    a.ckpt, overrides = split_checkpoint_args(a.ckpt, overrides)
    if a.repeats < 1 or a.num_samples < 2:
        raise SystemExit("--repeats must be >= 1 and --num-samples >= 2")
    for c in a.ckpt:
        if not Path(c).is_file():
            raise SystemExit(f"checkpoint {c} not found (give the .ckpt file of a finished run)")
    rows = {}
    print(f"| checkpoint | Δlog Ẑ ({a.repeats} sets of {a.num_samples}) | Δlog Ẑ_IW per set | "
          f"Δlog Ẑ_IW pooled ({a.repeats * a.num_samples}) | largest \\|x\\| (all sets) |" + (" W2² per set | W2² floor (exact vs exact) | W2 per set | W2 floor |" if a.w2 else ""))
    print("|---|---|---|---|---|" + ("---|---|---|---|" if a.w2 else ""))
    for c in a.ckpt:
        module, domain = load_module(overrides, c)
        torch.manual_seed(a.seed)
        log_w, x = log_weights(module, a.repeats * a.num_samples, terminals=True)
        r = repeat_errors(log_w, domain.log_z, a.repeats)
        r["max_abs"] = repeat_max_abs(x, a.repeats)
        if a.w2:
            r.update(repeat_w2(x, domain, a.repeats, a.seed))
        rows[c] = r
        w2 = f" {_ms(r['w2_sq'])} | {_ms(r['w2_sq_floor'])} | {_ms(r['w2'])} | {_ms(r['w2_floor'])} |" if a.w2 else ""
        print(f"| {c} | {_ms(r['elbo_errors'])} | {_ms(r['iw_errors'])} | {r['pooled_iw_error']:.3f} | {max(r['max_abs']):.3g} |{w2}", flush=True)
    if len(rows) > 1:
        means = [statistics.mean(r["iw_errors"]) for r in rows.values()]
        print(f"\nover checkpoints: Δlog Ẑ_IW per set {_ms(means)}; pooled "
              f"{_ms([r['pooled_iw_error'] for r in rows.values()])}"
              + (f"; W2² per set {_ms([statistics.mean(r['w2_sq']) for r in rows.values()])}, W2 per set "
                 f"{_ms([statistics.mean(r['w2']) for r in rows.values()])}" if a.w2 else ""))
    if a.json:
        atomic_write_text(json.dumps({"overrides": overrides, "repeats": a.repeats, "num_samples": a.num_samples,
                                       "seed": a.seed, "w2": a.w2, "rows": rows}, indent=2), a.json)
    return rows


if __name__ == "__main__":
    run_script(main)
