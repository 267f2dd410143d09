"""Prior / classifier guidance / DPS / rl_kl / DDPO / RTB on the same prior and reward (digits by default),
beside the target p(x) r(x)^beta itself (method=sir: importance resampling of --proposals prior samples),
which shows what a converged RTB posterior would score.

    python bench/vision_compare.py --json bench/results/vision_digits.json [--steps 300] [--tasks "3;0,2,4,6,8"] [-- extra overrides]
    python bench/vision_compare.py --steps 100 --eval-samples 200 ...   # reduced budget (~15 min on 2 CPU cores)
    python bench/vision_compare.py --parallel 6 ...                      # a GPU or many-core host: runs side by side

Each method is one `train.py` run (fresh process) sharing one cache (`--cache`, default the repository's
`cache/`: prior and classifiers trained once); training methods get the same number of steps and batch size; the guidance baselines sweep
their scale. With --parallel N, after the first run has filled the cache, up to N runs go side by side
(wall times then include that contention, equally for every method). Writes a markdown table (mean log r, eval accuracy, FID, diversity, wall time) and JSON.
"""
import argparse
import json
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from train_run import train_run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", default="digits")
    ap.add_argument("--tasks", default="3;0,2,4,6,8", help="target class sets: ';' between tasks, ',' within one")
    ap.add_argument("--steps", type=int, default=300, help="training steps of rl_kl / DDPO / RTB (full: 300)")
    ap.add_argument("--eval-samples", type=int, default=500)
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--out", default="runs/vision_compare")
    ap.add_argument("--json", default=None)
    ap.add_argument("--parallel", type=int, default=1, help="runs side by side once the cache is filled")
    ap.add_argument("--methods", default="target,prior,cg,dps,rl_kl,ddpo,rtb", help="comma-separated subset (rtb always runs)")
    ap.add_argument("--proposals", type=int, default=20000, help="prior samples resampled for the target row (method=sir)")
    ap.add_argument("--rtb-set", default=SET_RECIPE,
                    help="overrides RTB gets on tasks of more than one class (space-separated; '' for the plain default)")
    ap.add_argument("--rtb-seeds", default="",
                    help="comma-separated posterior.seed values: one RTB run each (same prior and reward), a row and a "
                         "verdict per run and a summary of how many meet each target ('' : one run, the default stream)")
    ap.add_argument("extra", nargs="*", help="overrides passed to every run (e.g. data.path=...)")
    a = ap.parse_args()
    tasks = a.tasks.split(";")
    keep = set(a.methods.split(",")) | {"rtb"}
    runs = [(c, name, args) for c in tasks for name, args in methods(a, c).items() if name.split("@")[0] in keep]
    measured = [one(a, *runs[0])]             # trains the prior and classifiers if not cached
    with ThreadPoolExecutor(max(1, a.parallel)) as pool:
        measured += list(pool.map(lambda r: one(a, *r), runs[1:]))
    results, tables = {}, []
    for classes in tasks:
        rows = {name: row for (c, name, _), row in zip(runs, measured) if c == classes}
        results[classes] = {"rows": rows, "verdict": verdicts(rows)}
        tables.append(table(a.domain, classes, rows) + "\n\n" + results[classes]["verdict"])
        print(tables[-1], flush=True)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"tasks": results, "tables": tables, "steps": a.steps,
                                            "eval_samples": a.eval_samples, "parallel": a.parallel, "extra": a.extra}, indent=2))
        Path(a.json).with_suffix(".md").write_text("\n\n".join(tables) + "\n")


# RTB on a set of classes: the bank of the target's own paths plus its forward-KL term (docs/vision.md, "Training on
# the target's own paths"); the plain default leaves the class proportions far off on "even"
SET_RECIPE = "sampling.target=0.3 sampling.prior=0.1 sampling.on_policy=0.4 sampling.target_nll=1"


def methods(a, classes):
    """train.py arguments of each compared method for one target class set."""
    common = [f"domain={a.domain}", f"reward.classes=[{classes}]", f"cache_dir={a.cache}",
              f"eval.num_samples={a.eval_samples}", *a.extra]
    train = [f"trainer.max_steps={a.steps}", f"eval.every_n_steps={a.steps}"]
    return {"target": [*common, "method=sir", f"method.proposals={a.proposals}"],
            "prior": [*common, "method=dps", "method.guidance_scales=[0]"], "cg": [*common, "method=cg"],
            "dps": [*common, "method=dps"], "rl_kl": [*common, "method=rl_kl", *train],
            "ddpo": [*common, "method=ddpo", *train],
            **{name: [*common, "method=rtb", *train, *rtb_overrides(a, classes), *seed] for name, seed in rtb_runs(a)}}


def rtb_runs(a):
    """(row name, overrides) of each RTB run: one on the run's own stream, or one per --rtb-seeds value."""
    seeds = [k.strip() for k in getattr(a, "rtb_seeds", "").split(",") if k.strip()]
    return [("rtb", [])] if not seeds else [(f"rtb@{k}", [f"posterior.seed={k}"]) for k in seeds]


def is_rtb(name):
    return name.split("@")[0] == "rtb"


def rtb_overrides(a, classes):
    return a.rtb_set.split() if "," in classes else []


def one(a, classes, name, args):
    keys = ("mean_log_r", "eval_accuracy", "fid", "fid_in_class", "diversity", "diversity_in_class", "real_diversity", "log_z", "kl_post_prior", "best_scale", "ess", "class_tv")
    try:
        m, wall = train_run(args, f"{a.out}/{classes.replace(',', '')}/{name}")
    except SystemExit as e:                   # one failed method (e.g. a diverged baseline) keeps the others' rows
        print(e, flush=True)
        return {**dict.fromkeys(keys), "wall_s": None, "error": str(e).strip().splitlines()[-2:]}
    row = {**{k: m.get(k) for k in keys}, "wall_s": round(wall, 1)}
    if m.get("sweep"):                        # every guidance scale: the verdict judges each, not only the row's
        row["sweep"] = [{k: s.get(k) for k in ("scale", "eval_accuracy", "fid")} for s in m["sweep"]]
    if is_rtb(name):
        row["overrides"] = rtb_overrides(a, classes)
    print(classes, name, row, flush=True)
    return row


def table(domain, classes, rows):
    lines = [f"| method ({domain}, classes {classes}) | mean log r | eval accuracy | FID | in class | diversity | in class | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "" if v is None else f"{v:.3f}"
    for name, r in rows.items():
        if r.get("error"):
            lines.append(f"| {name} | failed: {r['error'][0][:110]} | | | | | | |")
            continue
        label = name + (f" (scale {r['best_scale']:g})" if name in ("cg", "dps") and r.get("best_scale") is not None else "")
        if name == "target":
            label = f"target p·r^β itself (importance resampling, ESS {r['ess']:.0f})"
        if is_rtb(name):
            seed = [f"posterior.seed={name.split('@')[1]}"] if "@" in name else []
            label = "rtb" + (f" (`{' '.join(r.get('overrides', []) + seed)}`)" if r.get("overrides") or seed else "")
        lines.append(f"| {label} | {fmt(r['mean_log_r'])} | {fmt(r['eval_accuracy'])} | {fmt(r['fid'])} | "
                     f"{fmt(r.get('fid_in_class'))} | {fmt(r['diversity'])} | {fmt(r.get('diversity_in_class'))} | {r['wall_s']:.0f} |")
    real = next((r["real_diversity"] for r in rows.values() if r.get("real_diversity")), None)
    if real is not None:
        lines.append(f"| real images of the class(es) | | 1 | 0 | 0 | {real:.3f} | {real:.3f} | |")
    return "\n".join(lines)


def verdicts(rows):
    """One verdict line per RTB run, and with several runs a count of the runs that meet each target."""
    names = [n for n in rows if is_rtb(n)]
    lines = [(f"{n}: " if len(names) > 1 else "") + verdict(rows, n) for n in names]
    done = [rows[n] for n in names if not rows[n].get("error")]
    if len(names) > 1 and done:
        acc = sum(r["eval_accuracy"] >= 0.95 for r in done)
        fid = sum(not beaten_by(rows, r) for r in done)
        div = sum(r["diversity"] >= 0.9 * (r.get("real_diversity") or float("nan")) for r in done)
        fids = [r["fid"] for r in done]
        lines.append(f"over {len(names)} RTB runs ({len(names) - len(done)} failed): accuracy target met in {acc}, FID target in "
                     f"{fid}, diversity target in {div}; FID {statistics.mean(fids):.2f} (min {min(fids):.2f}, max {max(fids):.2f})")
    return "\n\n".join(lines)


def beaten_by(rows, rtb):
    """Baselines (every swept scale) at least as accurate as this RTB row with a FID at or below its own."""
    ok = {n: r for n, r in rows.items() if not is_rtb(n) and n != "target" and not r.get("error")}
    beats = lambda r: r["eval_accuracy"] >= rtb["eval_accuracy"] and r["fid"] <= rtb["fid"]
    better = [n for n, r in ok.items() if not r.get("sweep") and beats(r)]
    return better + [f"{n} (scale {s['scale']:g})" for n, r in ok.items() for s in r.get("sweep") or [] if beats(s)]


def verdict(rows, name="rtb"):
    """The issue's targets for one RTB run, checked on the measured numbers."""
    rtb = rows[name]
    if rtb.get("error"):
        return "RTB failed: no verdict"
    better = beaten_by(rows, rtb)
    failed = sorted(n for n, r in rows.items() if r.get("error") and not is_rtb(n))
    real = rtb.get("real_diversity") or float("nan")
    # off-class samples inflate the spread: the in-class ratio says whether the class itself is covered
    in_class = "" if rtb.get("diversity_in_class") is None else f", in class {rtb['diversity_in_class'] / real:.2f}"
    tg = rows.get("target")
    target = "" if not tg or tg.get("error") else (
        f"; the target itself: accuracy {tg['eval_accuracy']:.3f}, FID {tg['fid']:.2f}, log Z {tg['log_z']:.2f}, KL to the prior "
        f"{tg['kl_post_prior']:.2f} (RTB: log Z {rtb['log_z']:.2f}, KL {rtb['kl_post_prior']:.2f})")
    return (f"RTB accuracy {rtb['eval_accuracy']:.3f} (target >= 0.95: {'met' if rtb['eval_accuracy'] >= 0.95 else 'not met'}); "
            f"baselines at least as accurate with FID <= RTB's: {', '.join(better) or 'none'} "
            f"(target: none){'; failed: ' + ', '.join(failed) if failed else ''}; RTB diversity / real = {rtb['diversity'] / real:.2f} (target >= 0.9)"
            f"{in_class}{target}")


if __name__ == "__main__":
    main()
