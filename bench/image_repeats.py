"""Image metrics of trained posteriors and training-free baselines over repeated evaluation sets.

    python bench/image_repeats.py --ckpt runs/d0/checkpoints/last.ckpt --guidance dps:3 cg:10 \
        --repeats 5 --num-samples 500 --json bench/results/digits_repeats.json domain=digits seed=0

One FID on 500 samples moves by ±0.5–1 between sample sets of the same sampler (digits class 3), which
is the size of the gaps being compared; this draws `--repeats` independent sets of `--num-samples` from
each sampler and reports the mean ± std of every metric per set, and the metrics pooled over all sets
(FID on repeats·n samples: less noise and less small-sample bias). `--guidance method:scale` adds a
training-free baseline (cg or dps) on the same prior and reward. `--resample K` adds, for every sampler,
a row of it importance-resampled to the target p·r^β (each output one of K of its own paths, picked by
p_prior(τ)·r^β / q(τ); rtb_lightning/path_resampling.py): K× its sampling cost. Trailing `key=value` arguments build
everything exactly as train.py would (give the run's own overrides; the cache must hold its prior and
classifiers). The last line lists, per checkpoint, the baselines at least as accurate with a mean FID at
or below the posterior's (the digits target asks for none).
"""
import argparse
import json
import math
import time
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rtb_lightning.baselines import draw_terminals  # noqa: E402
from rtb_lightning.checkpoint_io import atomic_write_text  # noqa: E402
from rtb_lightning.errors import run_script  # noqa: E402
from rtb_lightning.guidance import METHODS, GuidedPrior  # noqa: E402
from rtb_lightning.path_resampling import (ResampledSampler, posterior_resampler,  # noqa: E402
                                             scored_process_sampler)  # noqa: E402
from rtb_lightning.trained_module import load_trained_module, split_checkpoint_args  # noqa: E402

METRICS = ("eval_accuracy", "fid", "fid_in_class", "diversity", "diversity_in_class", "mean_log_r", "class_tv",
           "real_diversity")


def evaluate_sets(domain, x, cond, repeats):
    """Per-set metrics of `repeats` equal slices of x, and the metrics of all of x at once."""
    n = len(x) // repeats
    sl = lambda i: (x[i * n:(i + 1) * n], None if cond is None else cond[i * n:(i + 1) * n])
    per_set = [domain.evaluate(*sl(i)) for i in range(repeats)]
    return {"sets": [{k: s[k] for k in METRICS if k in s} for s in per_set],
            "pooled": {k: v for k, v in domain.evaluate(x, cond).items() if k in METRICS}}


def summary(row):
    """{metric: (mean, std)} over the sets."""
    out = {}
    for k in METRICS:
        v = [float(s[k]) for s in row["sets"] if k in s and math.isfinite(float(s[k]))]   # NaN: no in-class sample
        if v:
            out[k] = (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
    return out


def guidance_spec(text):
    method, _, scale = text.partition(":")
    if method not in METHODS or not scale:
        raise SystemExit(f"--guidance {text!r}: expected method:scale with method one of {', '.join(METHODS)}, e.g. dps:3")
    try:
        return method, float(scale)
    except ValueError:
        raise SystemExit(f"--guidance {text!r}: the scale {scale!r} is not a number") from None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", nargs="+", action="extend", default=[], help="trained posteriors; may be repeated")
    ap.add_argument("--guidance", nargs="+", action="extend", default=[], help="baselines as method:scale, e.g. dps:3 cg:10")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--num-samples", type=int, default=500, help="samples per evaluation set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resample", type=int, default=0,
                    help="also each sampler importance-resampled, K of its paths per output (0: off)")
    ap.add_argument("--json", default=None)
    a, overrides = ap.parse_known_args(argv)
    a.ckpt, overrides = split_checkpoint_args(a.ckpt, overrides)
    baselines = [guidance_spec(g) for g in a.guidance]
    if a.resample < 0 or a.resample == 1:
        raise SystemExit(f"--resample {a.resample}: give K >= 2 paths per output, or 0 for none")
    if a.repeats < 2 or a.num_samples < 2:
        raise SystemExit("--repeats must be >= 2 and --num-samples >= 2")
    if not a.ckpt and not baselines:
        raise SystemExit("nothing to evaluate: give --ckpt and/or --guidance")
    for c in a.ckpt:
        if not Path(c).is_file():
            raise SystemExit(f"checkpoint {c} not found (give the .ckpt file of a finished run)")
    from rtb_lightning.baselines import build_training_free
    from rtb_lightning.config import load_config

    samplers, domain = {}, None                       # name -> (sample(m, cond), batch, device)
    for c in a.ckpt:
        module, domain, cfg = load_trained_module(overrides, c)
        samplers[c] = (lambda m, cond, module=module: module.sample(m, cond)[0][:, -1], cfg.posterior.batch_size,
                       "cpu")                         # load_trained_module keeps the module on the CPU
        if a.resample:
            samplers[f"{c} + SIR k={a.resample}"] = (posterior_resampler(module, a.resample), cfg.posterior.batch_size,
                                                     "cpu")
    if baselines:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config([*overrides, f"run_dir={tmp}"])
            domain, process, prior, device = build_training_free(cfg, Path(tmp), domain)
        for method, scale in baselines:
            model = GuidedPrior(prior, domain.log_reward, process.alpha_bar, scale, method)
            samplers[f"{method} (scale {scale:g})"] = (lambda m, cond, model=model: process.sample(model, m, cond)[0][:, -1],
                                                       cfg.posterior.batch_size, device)
            if a.resample:
                log_r = lambda x, cond: domain.log_reward(x, cond).clamp(min=cfg.reward.log_r_min)
                samplers[f"{method} (scale {scale:g}) + SIR k={a.resample}"] = (
                    ResampledSampler(scored_process_sampler(process, model, prior), log_r, cfg.beta.end, a.resample),
                    cfg.posterior.batch_size, device)
    rows = {}
    print(f"| sampler ({a.repeats} sets of {a.num_samples}) | eval accuracy | FID | FID in class | diversity in class "
          f"| in class / real | FID pooled ({a.repeats * a.num_samples}) |")
    print("|---|---|---|---|---|---|---|")
    for name, (sample, batch, device) in samplers.items():
        torch.manual_seed(a.seed)
        t0 = time.time()
        x, cond = draw_terminals(sample, domain, a.repeats * a.num_samples, batch, device)
        rows[name] = {**evaluate_sets(domain, x, cond, a.repeats), "sample_s": round(time.time() - t0, 1)}
        if isinstance(sample, ResampledSampler):
            rows[name]["resampling"] = sample.stats()
        s = summary(rows[name])
        rows[name]["summary"] = {k: {"mean": m, "std": sd} for k, (m, sd) in s.items()}
        ms = lambda k, f: f"{s[k][0]:{f}} ± {s[k][1]:{f}}" if k in s else "n/a"
        ratio = (f"{s['diversity_in_class'][0] / s['real_diversity'][0]:.2f}"
                 if "diversity_in_class" in s and s.get("real_diversity", (0,))[0] > 0 else "n/a")
        print(f"| {name} | {ms('eval_accuracy', '.4f')} | {ms('fid', '.2f')} | {ms('fid_in_class', '.2f')} | "
              f"{ms('diversity_in_class', '.4f')} | {ratio} | {rows[name]['pooled'].get('fid', float('nan')):.2f} |", flush=True)
        if "resampling" in rows[name]:
            st = rows[name]["resampling"]
            print(f"  ({name}: mean ESS {st['mean_ess']:.2f} of k={st['k']} per output, "
                  f"{st['rows_without_weight']} outputs without a finite weight; sampling {rows[name]['sample_s']} s)", flush=True)
    verdicts, posteriors = {}, [n for n in rows if n.split(" + SIR")[0] in a.ckpt]
    for c in posteriors:
        mine = rows[c]["summary"]
        verdicts[c] = [b for b in rows if b not in posteriors and rows[b]["summary"]["eval_accuracy"]["mean"]
                       >= mine["eval_accuracy"]["mean"] and rows[b]["summary"]["fid"]["mean"] <= mine["fid"]["mean"]]
        print(f"{c}: baselines at least as accurate with mean FID <= its own: {', '.join(verdicts[c]) or 'none'}")
    if a.json:
        atomic_write_text(json.dumps({"overrides": overrides, "repeats": a.repeats, "num_samples": a.num_samples,
                                       "seed": a.seed, "rows": rows, "verdicts": verdicts}, indent=2), a.json)
    return rows


if __name__ == "__main__":
    run_script(main)
