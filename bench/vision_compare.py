"""Prior / classifier guidance / DPS / rl_kl / DDPO / RTB on the same prior and reward (digits by default).

    python bench/vision_compare.py --json bench/results/vision_digits.json [--steps 300] [--classes 3] [-- extra overrides]

Each method is one `train.py` run (fresh process) sharing one cache (prior and classifiers trained
once); training methods get the same number of steps and batch size; the guidance baselines sweep
their scale. Writes a markdown table (mean log r, eval accuracy, FID, diversity, wall time) and JSON.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(args, run_dir):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("RTB_RUN_DIR", None)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "train.py", *args, f"run_dir={run_dir}", "trainer.enable_progress_bar=false"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"train.py {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads((Path(run_dir) / "metrics.json").read_text()), time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", default="digits")
    ap.add_argument("--classes", default="3", help="comma-separated target classes")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default="runs/vision_compare")
    ap.add_argument("--json", default=None)
    ap.add_argument("extra", nargs="*", help="overrides passed to every run (e.g. data.path=...)")
    a = ap.parse_args()
    common = [f"domain={a.domain}", f"reward.classes=[{a.classes}]", f"cache_dir={a.out}/cache", *a.extra]
    train = [f"trainer.max_steps={a.steps}", f"eval.every_n_steps={a.steps}"]
    methods = {"prior": ["method=dps", "method.guidance_scales=[0]"], "cg": ["method=cg"], "dps": ["method=dps"],
               "rl_kl": ["method=rl_kl", *train], "ddpo": ["method=ddpo", *train], "rtb": ["method=rtb", *train]}
    # the prior and classifiers are trained by the first run; its time is reported separately
    rows = {}
    for name, args in methods.items():
        m, wall = run([*common, *args], f"{a.out}/{name}")
        rows[name] = {k: m.get(k) for k in ("mean_log_r", "eval_accuracy", "fid", "diversity", "log_z", "best_scale")}
        rows[name]["wall_s"] = round(wall, 1)
        print(name, rows[name], flush=True)
    lines = [f"| method ({a.domain}, classes {a.classes}) | mean log r | eval accuracy | FID | diversity | wall s |",
             "|---|---|---|---|---|---|"]
    fmt = lambda v: "" if v is None else f"{v:.3f}"
    for name, r in rows.items():
        label = name + (f" (scale {r['best_scale']:g})" if r.get("best_scale") not in (None, 0.0) or name in ("cg", "dps") else "")
        lines.append(f"| {label} | {fmt(r['mean_log_r'])} | {fmt(r['eval_accuracy'])} | {fmt(r['fid'])} | "
                     f"{fmt(r['diversity'])} | {r['wall_s']:.0f} |")
    table = "\n".join(lines)
    print(table)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"rows": rows, "table": table, "steps": a.steps}, indent=2))


if __name__ == "__main__":
    main()
