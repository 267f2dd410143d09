"""Benchmark: diffusion samplers of unnormalised densities, in the form of gfn-diffusion's Table 1.

    python bench/energies.py --quick                              # smoke test (seconds per run)
    python bench/energies.py --steps 25000 --seeds 3 --device cuda --json bench/results/energies.json
    python bench/energies.py --energies gmm25 --methods tb_expl_ls --steps 3000 --seeds 3
    python bench/energies.py --parallel 12 --threads 1 ...     # a many-core host: one process per run, side by side
    python bench/energies.py --steps 2000 --json bench/results/energies_cpu_2000.json --resume   # add to / finish a table

The JSON is rewritten after every finished run; with --resume, runs already in it (same energy, variant
and seed, and the same steps, device and overrides) are kept and not rerun, so a table too long for one
sitting is filled in over several, and an interrupted one loses only its unfinished runs. Each run
records a digest of its resolved config; --resume refuses to add seeds to a cell whose earlier runs
were made under another config (a default changed in between).

For each energy (25GMM d=2, Funnel d=10, Manywell d=32) and sampler variant it trains with
train.py's builders (conf/domain/<energy>.yaml plus the variant's overrides below) and reports,
mean +- std over seeds, from 2,000 samples at the end of training:
  dlogZ     = |log Z - ELBO|                 (ELBO = mean of log R + sum log p_B - sum log p_F)
  dlogZ_IW  = |log Z - log mean exp(...)|    (importance weighted)
  W2^2      = exact EMD with squared Euclidean cost to 2,000 exact samples (POT)
plus EUBO - log Z, ESS/n, wall time of training (evaluation excluded as far as possible: one
evaluation at the end) and the number of energy evaluations during training (rows passed to the
density: on-policy rewards, Langevin-parametrisation gradients, local-search MALA steps, log Z
initialisation). The published numbers (notes/rtb.md section 5; only those recorded there) are
printed beside ours.

Variants (gfn-diffusion's names; exploration 0.2 per step = exploration.std 2.0 at T = 100, decayed
linearly to 0 over min(5000, steps) steps):
  tb               TB, on-policy
  tb_expl          + exploration
  tb_expl_ls       + local search (MALA on buffer samples, every 100 steps, 200 steps, 100 burn-in);
                   half of each batch replays the rank-prioritised buffer through backward trajectories
  vargrad_expl_lp_ls  VarGrad (batch log Z) + exploration + Langevin parametrisation + local search
  tb_expl_lp       (ours, not in the published table) TB, on-policy, Langevin parametrisation, with the
                   exploration decayed over the whole run instead of 5000 steps (Manywell: keeps the
                   lesser wells, which on-policy TB without LP drops in every pair)
Everything runs on --device (cpu or cuda); the processes, networks, buffer and local search live
on that device, metrics are computed on CPU at the end.
"""
import argparse
import contextlib
import hashlib
import io
import json
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENERGIES = ("gmm25", "funnel", "manywell")
METHODS = ("tb", "tb_expl", "tb_expl_ls", "vargrad_expl_lp_ls", "tb_expl_lp")
LABELS = {"tb": "TB", "tb_expl": "TB+Expl.", "tb_expl_ls": "TB+Expl.+LS", "vargrad_expl_lp_ls": "VarGrad+Expl.+LP+LS",
          "tb_expl_lp": "TB+Expl.(run)+LP"}
# (dlogZ, dlogZ_IW, W2) as recorded in notes/rtb.md; None: not recorded there. The third number is printed
# there as "W2^2", but the reference code's "2-Wasserstein" is sqrt(EMD with squared cost) on 2,000 samples,
# i.e. W2: compare it with our w2 column (w2_sq's root), not with w2_sq.
PUBLISHED = {
    ("gmm25", "tb_expl_ls"): (0.171, 0.004, 1.25),
    ("manywell", "tb_expl_ls"): (4.57, 0.19, None),
    ("funnel", "tb_expl_ls"): (0.653, 0.285, None),
}
KEYS = ("log_z_error", "log_z_iw_error", "w2_sq", "w2", "eubo_error", "ess_frac", "wall_s", "energy_evals")


def variant_overrides(method, steps):
    def explore(decay):
        return ["exploration.std=2.0", "exploration.end_std=0.0", "exploration.hold_steps=0", f"exploration.decay_steps={decay}"]

    expl = explore(min(5000, steps))
    on_policy = ["sampling.on_policy=1.0", "sampling.buffer=0.0", "sampling.prior=0.0"]
    ls = ["sampler.local_search=true", "sampling.on_policy=0.5", "sampling.buffer=0.5", "sampling.prior=0.0"]
    return {
        "tb": ["method=tb", "exploration.std=0.0", *on_policy],
        "tb_expl": ["method=tb", *expl, *on_policy],
        "tb_expl_ls": ["method=tb", *expl, *ls],
        "vargrad_expl_lp_ls": ["method=vargrad", *expl, *ls, "sampler.langevin=true"],
        "tb_expl_lp": ["method=tb", *explore(steps), *on_policy, "sampler.langevin=true"],
    }[method]


def run_argv(energy, method, seed, steps, device, extra, run_dir):
    return [f"domain={energy}", *variant_overrides(method, steps), f"seed={seed}", f"trainer.max_steps={steps}",
            f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}", "trainer.devices=1",
            "trainer.enable_progress_bar=false", "eval.every_n_steps=0", f"checkpoint.every_n_steps={steps}",
            f"run_dir={run_dir}", *extra]


def digest(cfg):
    """A short hash of a resolved config, seed and run_dir left out: equal for every seed of one table
    cell, different once a default in conf/ (or a variant) changes."""
    from omegaconf import OmegaConf

    c = OmegaConf.to_container(cfg, resolve=True)
    c.pop("seed"), c.pop("run_dir")
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_digest(energy, method, steps, device, extra):
    """digest() of the config a run of this cell would use."""
    from rtb_lightning.config import load_config

    return digest(load_config(run_argv(energy, method, 0, steps, device, extra, ".")))


def run_one(energy, method, seed, steps, device, extra, run_root):
    import lightning as L
    import torch

    from rtb_lightning.builders import build_posterior_run
    from rtb_lightning.callbacks import EvaluationCallback
    from rtb_lightning.config import load_config

    class EnergyCounter(L.Callback):
        """Energy evaluations made by training only (the final evaluation's are excluded)."""

        def __init__(self, domain):
            self.domain, self.total, self.mark, self.t0 = domain, 0, 0, None

        def on_train_start(self, trainer, module):          # after log Z initialisation
            self.total, self.t0 = self.domain.num_energy_evals, time.perf_counter()

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.mark = self.domain.num_energy_evals

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.total += self.domain.num_energy_evals - self.mark
            if device == "cuda":
                torch.cuda.synchronize()
            self.train_s = time.perf_counter() - self.t0

    run_dir = Path(run_root) / f"{energy}-{method}-{seed}"
    cfg = load_config(run_argv(energy, method, seed, steps, device, extra, run_dir))
    L.seed_everything(seed, verbose=False)
    trainer, module, domain = build_posterior_run(cfg, run_dir)
    counter = EnergyCounter(domain)
    trainer.callbacks.insert(0, counter)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):       # the per-run final table; ours is printed below
        trainer.fit(module, datamodule=domain)
    total_s = time.perf_counter() - t0
    ev = next(c for c in trainer.callbacks if isinstance(c, EvaluationCallback))
    m = ev.final
    return {"energy": energy, "method": method, "seed": seed, "steps": steps, "device": device,
            **{k: m[k] for k in ("log_z_error", "log_z_iw_error", "w2_sq", "w2", "eubo", "eubo_error", "ess", "ess_frac",
                                 "log_z", "log_z_elbo", "log_z_iw", "skipped_steps")},
            **{k: m[k] for k in ("minor_well_frac", "minor_well_frac_true") if k in m},       # Manywell's mode coverage
            "wall_s": round(counter.train_s, 2), "total_s": round(total_s, 2), "energy_evals": counter.total,
            "config": digest(cfg)}


def _job(energy, method, seed, steps, device, extra, threads, root):
    """One run, also in a worker process (which needs its own thread count and log level)."""
    import logging
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    if threads:
        torch.set_num_threads(threads)
    return run_one(energy, method, seed, steps, device, extra, root)


def report(r):
    print(f"[bench] {r['energy']} {LABELS[r['method']]} seed {r['seed']}: dlogZ {r['log_z_error']:.3f} dlogZ_IW "
          f"{r['log_z_iw_error']:.3f} W2^2 {r['w2_sq']:.3f} W2 {r['w2']:.3f} ({r['wall_s']:.0f} s)", flush=True)
    return r


def _fmt(values, digits=3):
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "n/a"
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.mean(vals):.{digits}f}±{sd:.{digits}f}"


def table(results, energies, methods):
    lines = []
    for e in energies:
        lines.append(f"\n{e}")
        lines.append(f"  {'method':<22}{'dlogZ':>16}{'dlogZ_IW':>16}{'W2^2':>16}{'W2':>16}{'EUBO-logZ':>16}{'ESS/n':>14}"
                     f"{'train s':>10}{'energy evals':>14}   published (dlogZ / dlogZ_IW / W2)")
        for m in methods:
            rs = [r for r in results if r["energy"] == e and r["method"] == m]
            if not rs:
                continue
            col = lambda k, d=3: _fmt([r.get(k) for r in rs], d)
            pub = PUBLISHED.get((e, m))
            pub_s = " / ".join("n/a" if v is None else f"{v}" for v in pub) if pub else "n/a"
            lines.append(f"  {LABELS[m]:<22}{col('log_z_error'):>16}{col('log_z_iw_error'):>16}{col('w2_sq'):>16}{col('w2'):>16}"
                         f"{col('eubo_error'):>16}{col('ess_frac'):>14}{col('wall_s', 0):>10}"
                         f"{statistics.mean(r['energy_evals'] for r in rs):>14.3g}   {pub_s}")
    return "\n".join(lines)


def previous_runs(path, steps, device, extra):
    """The runs already in `path` (--resume), after checking they were made with the same settings."""
    if not Path(path).is_file():
        return []
    old = json.loads(Path(path).read_text())
    mine = {"steps": steps, "device": device, "overrides": extra}
    diff = [f"{k} {old.get(k)!r} there, {v!r} here" for k, v in mine.items() if old.get(k) != v]
    if diff:
        sys.exit(f"error: --resume: {path} holds runs made with other settings ({'; '.join(diff)}); "
                 "give the same --steps/--device/overrides, or another --json")
    return old["runs"]


def check_configs(todo, done):
    """Refuse to add runs to a table cell whose earlier runs had another resolved config (a default
    changed between sittings); rows saved before digests were recorded are not checked."""
    recorded, now = {(r["energy"], r["method"]) for r in done if "config" in r}, {}
    for e, m, _seed, steps, device, extra, _threads in todo:
        if (e, m) in recorded and (e, m) not in now:        # only cells that already hold runs
            now[(e, m)] = config_digest(e, m, steps, device, extra)
    for r in done:
        key = (r["energy"], r["method"])
        if "config" in r and key in now and r["config"] != now[key]:
            sys.exit(f"error: --resume: {r['energy']} {LABELS[r['method']]}'s runs in the JSON used another config "
                     f"(digest {r['config']}, now {now[key]}: a default in conf/ or the variant changed); "
                     "start a new --json, or rerun that cell")


def pending(jobs, done):
    """The jobs (energy, method, seed, ...) with no run in `done`."""
    have = {(r["energy"], r["method"], r["seed"]) for r in done}
    return [j for j in jobs if tuple(j[:3]) not in have]


def save(path, steps, device, parallel, extra, results):
    """Write the table's runs so far, atomically (a run killed mid-write leaves the previous file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps({"steps": steps, "seeds": sorted({r["seed"] for r in results}), "device": device,
                               "parallel": parallel, "overrides": extra,
                               "published": {f"{e}/{m}": v for (e, m), v in PUBLISHED.items()}, "runs": results}, indent=2))
    tmp.replace(p)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny runs (T=10, 20 steps, batch 64) for a smoke test")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run (default 25000; --quick: 20)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from here: first-seed .. first-seed+seeds-1")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--energies", nargs="+", choices=ENERGIES, default=list(ENERGIES))
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--json", type=str, default=None, help="write every run's numbers here (after each run)")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --json; run only the missing ones")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    ap.add_argument("--parallel", type=int, default=1, help="runs side by side, each in its own process")
    ap.add_argument("--out", type=str, default=None, help="keep the run directories here (default: a temporary one)")
    ap.add_argument("overrides", nargs="*", help="extra config overrides for every run, e.g. posterior.lr=0.002")
    args = ap.parse_args(argv)
    if args.resume and not args.json:
        ap.error("--resume reads and extends the --json file: give --json")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")
    steps = args.steps or (20 if args.quick else 25000)
    extra = list(args.overrides)
    if args.quick:
        extra = ["process.num_steps=10", "posterior.batch_size=64", "posterior.log_z_init_samples=64",
                 "eval.num_samples=200", "sampler.ls_every=10", "sampler.ls_steps=20", "sampler.ls_burn_in=10",
                 "sampler.ls_keep_every=5", *extra]
    jobs = [(e, m, s, steps, args.device, extra, args.threads) for e in args.energies for m in args.methods
            for s in range(args.first_seed, args.first_seed + args.seeds)]
    results = previous_runs(args.json, steps, args.device, extra) if args.resume else []
    todo = pending(jobs, results)
    check_configs(todo, results)
    if args.resume:
        print(f"[bench] --resume: {len(jobs) - len(todo)} of {len(jobs)} runs already in {args.json}", flush=True)

    def finished(r):
        results.append(report(r))
        if args.json:
            save(args.json, steps, args.device, args.parallel, extra, results)

    with contextlib.ExitStack() as stack:
        root = args.out or stack.enter_context(tempfile.TemporaryDirectory())
        if args.parallel > 1 and todo:
            ctx = multiprocessing.get_context("spawn")       # fresh interpreters: no forked torch/CUDA state
            pool = stack.enter_context(ProcessPoolExecutor(args.parallel, mp_context=ctx))
            for f in as_completed([pool.submit(_job, *j, root) for j in todo]):
                finished(f.result())
        else:
            for j in todo:
                finished(_job(*j, root))
    seeds = sorted({r["seed"] for r in results})
    print(f"\n{steps} steps per run, seeds {seeds}, device {args.device}; overrides: {' '.join(extra) or 'none'}")
    print(table(results, args.energies, args.methods))


if __name__ == "__main__":
    main()
