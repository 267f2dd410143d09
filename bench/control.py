"""Offline RL control benchmark: BC (the diffusion behaviour prior alone), IQL (its advantage-weighted
Gaussian policy) and RTB (the prior fine-tuned towards exp(alpha*Q)) on an embedded dataset
(--domain pendulum: Pendulum-v1; --domain halfcheetah: HalfCheetah-v5).

Each seed runs the stages as separate `train.py` processes on a fresh cache, so each stage's wall
time is measured: BC = prior training; IQL = critic training; RTB = prior + critic + RTB fine-tuning
(it needs both). The dataset (domain.dataset.seed) is the same for all seeds; the seed changes every
network's initialisation and training draws. Normalized returns: 0 = uniform random actions, 100 =
the noise-free expert (swing-up controller, searched gait), over the same 10 evaluation episodes
(fixed reset seeds).

    python bench/control.py --seeds 3 --json bench/results/control.json [key=value ...]
    python bench/control.py --domain halfcheetah --seeds 3 --json bench/results/halfcheetah.json
"""
import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from train_run import train_run  # noqa: E402


def one_seed(seed, extra, threads, root, domain="pendulum"):
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cache, runs = root / f"cache{seed}", root / f"runs{seed}"
    base = [f"domain={domain}", f"seed={seed}", f"cache_dir={cache}", *extra]
    t_data = train_run([*base, "stage=dataset"], runs / "dataset", env)[1]
    t_prior = train_run([*base, "stage=prior"], runs / "prior", env)[1]
    t_critic = train_run([*base, "stage=critic"], runs / "critic", env)[1]
    m, t_rtb = train_run(base, runs / "rtb", env)
    return {"seed": seed, "bc": m["bc_normalized_return"], "iql": m["iql_normalized_return"], "rtb": m["normalized_return"],
            "bc_return": m["bc_mean_return"], "iql_return": m["iql_mean_return"], "rtb_return": m["mean_return"],
            "kl_post_prior": m["kl_post_prior"], "random_return": m["random_return"],
            "reference_return": m["reference_return"], "wall_s": {"dataset": t_data, "prior": t_prior,
                                                                  "critic": t_critic, "rtb_finetune": t_rtb}}


def summary(rows):
    ms = lambda k: (statistics.mean(r[k] for r in rows), statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0)
    w = lambda *ks: statistics.mean(sum(r["wall_s"][k] for k in ks) for r in rows)
    return {"bc": (*ms("bc"), w("prior")), "iql": (*ms("iql"), w("critic")),
            "rtb": (*ms("rtb"), w("prior", "critic", "rtb_finetune"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", default="pendulum", choices=("pendulum", "halfcheetah"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("overrides", nargs="*", help="key=value config overrides for every run")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for s in range(a.seeds):
            rows.append(one_seed(s, a.overrides, a.threads, Path(tmp), a.domain))
            r = rows[-1]
            print(f"seed {s}: BC {r['bc']:.1f}  IQL {r['iql']:.1f}  RTB {r['rtb']:.1f}  (wall s {r['wall_s']})", flush=True)
    table = summary(rows)
    print(f"\n| policy | normalized return (mean ± std, {a.seeds} seeds) | training wall s |\n|---|---|---|")
    for name, (mean, std, wall) in zip(("BC (diffusion prior)", "IQL (AWR policy)", "RTB (prior·exp(αQ))"), table.values()):
        print(f"| {name} | {mean:.1f} ± {std:.1f} | {wall:.0f} |")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"domain": a.domain, "overrides": a.overrides, "threads": a.threads, "rows": rows,
                                            "summary": {k: dict(zip(("mean", "std", "wall_s"), v)) for k, v in table.items()}},
                                           indent=2))


if __name__ == "__main__":
    main()
