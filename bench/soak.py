"""Soak test: a long toy2d run under injected faults and repeated SIGKILLs, against a clean run.

    python bench/soak.py                                 # >= 10 min: 3000 steps, a SIGKILL every ~60-120 s
    python bench/soak.py --steps 60 --kill-every 15 --quick   # smoke test (~1-2 min)
    python bench/soak.py --json bench/results/soak.json

The faulty run's reward returns NaN for ~1% of samples (reward.nonfinite=drop drops and counts them)
and raises an exception every few hundred calls (reward.retries=1 absorbs it). The run is killed
with SIGKILL at random times and restarted with ckpt_path=auto until it finishes. Both runs use the
default config (one thread each, run side by side). Afterwards: every checkpoint left on disk must
load, and the faulty run's final metrics should be within sampling noise of the clean run's
(different random streams: the injected faults and restarts change which numbers are drawn).
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("emd", "mode_tv", "off_mode_frac", "mean_log_r", "log_z", "log_z_iw")


class FaultyReward:
    """Wraps a reward: NaN on a fraction of samples, an exception every `raise_every` calls; counts both."""

    def __init__(self, reward, log_path, nan_frac=0.01, raise_every=300):
        self.reward, self.log_path, self.nan_frac, self.raise_every = reward, log_path, nan_frac, raise_every
        self.calls = 0

    def _log(self, kind, n):
        with open(self.log_path, "a") as f:          # survives SIGKILL (one line per fault)
            f.write(f"{kind} {n}\n")

    def __call__(self, x, cond=None):
        import torch
        self.calls += 1
        if self.raise_every and self.calls % self.raise_every == self.raise_every // 2:
            self._log("exception", 1)
            raise RuntimeError("injected reward failure")
        log_r = self.reward(x, cond)
        bad = torch.rand(len(x), device=x.device) < self.nan_frac
        if bad.any():
            self._log("nan", int(bad.sum()))
        return torch.where(bad, torch.full_like(log_r, float("nan")), log_r)


def worker(args):
    """train.py's posterior stage with the faulty reward, resuming from the newest checkpoint if any."""
    sys.path.insert(0, str(ROOT))
    import lightning as L
    from rtb_lightning.builders import build_posterior_run, resolve_run_dir
    from rtb_lightning.config import load_config
    from rtb_lightning.resume import resolve_checkpoint

    cfg = load_config(args.overrides)
    run_dir = resolve_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, _ = resolve_checkpoint("auto", run_dir)
    L.seed_everything(cfg.seed, verbose=False)
    trainer, module, domain = build_posterior_run(cfg, run_dir)
    if args.faults:
        module.reward = FaultyReward(module.reward, run_dir / "faults.log")
    trainer.fit(module, datamodule=domain, ckpt_path=None if ckpt_path is None else str(ckpt_path))


def _spawn(overrides, faults, log):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("RTB_RUN_DIR", None)
    cmd = [sys.executable, __file__, "--worker", *(["--faults"] if faults else []), "--", *overrides]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _check_checkpoints(run_dir):
    import torch
    files = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    bad = []
    for f in files:
        try:
            ckpt = torch.load(f, map_location="cpu", weights_only=True)
            if not all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()):
                bad.append(f"{f.name}: non-finite parameters")
        except Exception as e:  # noqa: BLE001
            bad.append(f"{f.name}: {type(e).__name__}")
    return len(files), bad


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--kill-every", type=float, default=90.0, help="mean seconds between SIGKILLs (uniform 2/3x-4/3x)")
    p.add_argument("--out", default="runs/soak", help="folder for the two runs (wiped first)")
    p.add_argument("--quick", action="store_true", help="small eval sample for a smoke test")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--faults", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    import shutil
    out = ROOT / args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    common = [f"trainer.max_steps={args.steps}", "trainer.enable_progress_bar=false", "reward.nonfinite=drop",
              "reward.retries=1", f"seed={args.seed}"] + (["eval.num_samples=500"] if args.quick else [])
    # The prior is shared (cache): train it once before timing anything.
    prep = subprocess.run([sys.executable, "train.py", *common, "trainer.max_steps=1", f"run_dir={out / 'prep'}"],
                          cwd=ROOT, capture_output=True, text=True)
    if prep.returncode:
        sys.exit(f"prior preparation failed:\n{prep.stderr[-2000:]}")
    rng = random.Random(args.seed)
    t0 = time.time()
    clean_log, faulty_log = open(out / "clean.log", "w"), open(out / "faulty.log", "w")
    clean = _spawn(common + [f"run_dir={out / 'clean'}"], False, clean_log)
    faulty_args = common + [f"run_dir={out / 'faulty'}"]
    faulty, kills, starts, started = _spawn(faulty_args, True, faulty_log), 0, 1, time.time()
    next_kill = time.time() + rng.uniform(2 / 3, 4 / 3) * args.kill_every
    clean_wall = None
    while True:
        time.sleep(0.5)
        if clean_wall is None and clean.poll() is not None:
            clean_wall = time.time() - t0
        code = faulty.poll()
        if code is not None:
            if (out / "faulty" / "metrics.json").exists():
                break
            if code not in (0, -signal.SIGKILL):
                sys.exit(f"faulty run failed (exit {code}); see {out / 'faulty.log'}")
        # Kill only once this start has saved a new checkpoint, so that every start makes progress.
        progressed = any(f.stat().st_mtime > started for f in (out / "faulty" / "checkpoints").glob("*.ckpt"))
        if (time.time() >= next_kill and progressed) or code is not None:
            if code is None:
                faulty.send_signal(signal.SIGKILL)
                faulty.wait()
                kills += 1
            faulty, starts, started = _spawn(faulty_args, True, faulty_log), starts + 1, time.time()
            next_kill = time.time() + rng.uniform(2 / 3, 4 / 3) * args.kill_every
    faulty_wall = time.time() - t0
    clean.wait()
    clean_wall = clean_wall or time.time() - t0
    if clean.returncode:
        sys.exit(f"clean run failed; see {out / 'clean.log'}")

    counts = {"nan": 0, "exception": 0}
    log = out / "faulty" / "faults.log"
    for line in (log.read_text().splitlines() if log.exists() else []):
        kind, n = line.split()
        counts[kind] += int(n)
    m_clean = json.loads((out / "clean" / "metrics.json").read_text())
    m_faulty = json.loads((out / "faulty" / "metrics.json").read_text())
    n_ckpt, bad = _check_checkpoints(out / "faulty")
    result = {"steps": args.steps, "faulty_wall_s": round(faulty_wall, 1), "clean_wall_s": round(clean_wall, 1),
              "sigkills": kills, "starts": starts, "nan_samples_injected": counts["nan"],
              "reward_exceptions_injected": counts["exception"], "checkpoints_checked": n_ckpt,
              "corrupt_checkpoints": bad, "clean": {k: m_clean.get(k) for k in KEYS},
              "faulty": {k: m_faulty.get(k) for k in KEYS}}
    print(f"# soak: {args.steps} steps; faulty run {faulty_wall / 60:.1f} min with {kills} SIGKILLs "
          f"({starts} starts), clean run {clean_wall / 60:.1f} min (side by side, one thread each)")
    print(f"  injected: {counts['nan']} NaN rewards (dropped), {counts['exception']} reward exceptions "
          f"(retried); checkpoints on disk: {n_ckpt}, corrupt: {len(bad)} {bad if bad else ''}")
    print(f"  {'metric':<14}{'clean':>10}{'faulty':>10}")
    for k in KEYS:
        a, b = m_clean.get(k), m_faulty.get(k)
        print(f"  {k:<14}{a:>10.4f}{b:>10.4f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
