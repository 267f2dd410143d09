"""Text infilling table over seeds: RTB posterior vs the prior (beginning only), the prior prompted
with beginning and end by masking (no fine-tuning), best-of-N by reward, and the supervised upper bound.

Each seed is a full `python train.py domain=text seed=S` from an empty cache (reward model, prior
and posterior all trained; the corpus and held-out split stay fixed: domain.corpus_seed), so the
wall time is that of the whole command (including the supervised upper-bound baseline, trained at
the start of the posterior run: domain.eval.sft_steps=800 unless given). Extra arguments go to train.py.

    python bench/text.py --seeds 0 1 2 --json bench/results/text.json [key=value ...]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from train_run import train_run  # noqa: E402
KEYS = ("bleu4", "gleu4", "mean_log_r", "exact_match", "distinct_2")
OPTIONAL = (("prior prompted with beginning+end (masking)", "prompted_"), ("supervised (upper bound)", "sft_"))


def run_seed(seed, extra, work):
    m, wall = train_run(["domain=text", f"seed={seed}", f"cache_dir={work / f'cache-s{seed}'}", *extra], work / f"text-s{seed}",
                        {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    return {**m, "command_wall_s": round(wall, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", default=None)
    # key=value overrides may sit anywhere, even right after --seeds' numbers (nargs=+ would swallow them)
    argv = sys.argv[1:]
    extra = [a for a in argv if "=" in a and not a.startswith("-")]
    args = ap.parse_args([a for a in argv if a not in extra])
    if not any(a.startswith("domain.eval.sft_steps=") for a in extra):
        extra.append("domain.eval.sft_steps=800")       # the supervised upper bound, as long as the prior
    work = Path(tempfile.mkdtemp(prefix="rtb-text-bench-"))
    runs = [run_seed(s, extra, work) for s in args.seeds]
    best = next(k[:-len("_bleu4")] for k in runs[0] if k.startswith("best_of_") and k.endswith("_bleu4"))
    cols = [("RTB posterior", ""), ("prior (beginning only)", "prior_"), (best.replace("_", "-"), best + "_")]
    cols += [(name, p) for name, p in OPTIONAL if p + "bleu4" in runs[0]]
    table = {}
    for name, prefix in cols:
        table[name] = {}
        for k in KEYS:
            vals = [r[prefix + k] for r in runs]
            table[name][k] = {"mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
    lines = [f"| method ({len(runs)} seeds, mean ± std) | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 1) + "|"]
    for name, _ in cols:
        lines.append(f"| {name} | " + " | ".join(f"{table[name][k]['mean']:.3f} ± {table[name][k]['std']:.3f}"
                                                  for k in KEYS) + " |")
    walls = [r["command_wall_s"] for r in runs]
    lines.append(f"\nwall time per seed (whole command, empty cache): {', '.join(f'{w:.0f} s' for w in walls)}")
    print("\n".join(lines))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "extra_args": extra, "table": table,
                                               "wall_s": walls, "runs": [{k: v for k, v in r.items() if k != "history"}
                                                                         for r in runs]}, indent=2))


if __name__ == "__main__":
    main()
