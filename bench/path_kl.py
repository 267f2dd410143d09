"""Path KLs of trained posteriors against their target p·r^β, step by step (image and other VP domains).

    python bench/path_kl.py --ckpt runs/a/checkpoints/last.ckpt --ckpt runs/b/checkpoints/last.ckpt \
        --json bench/results/path_kl.json domain=digits

For each checkpoint: KL(post‖prior) on posterior trajectories; the target's own trajectories (prior
rollouts resampled by r^β, `--proposals` of them) scored under the posterior, which gives the forward
KL(target‖post) — the target's paths the posterior makes improbable, i.e. the mass it misses — and the
reverse KL(post‖target); the learned log Z beside the target's. Then the per-step averages of
log p_post − log p_prior on both kinds of trajectory: where along the chain the posterior departs
from the target. Trailing `key=value`: the runs' own overrides (all checkpoints share them).
"""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rtb_lightning.checkpoint_io import atomic_write_text  # noqa: E402
from rtb_lightning.errors import UserError, run_script  # noqa: E402
from rtb_lightning.metrics import path_kl  # noqa: E402
from rtb_lightning.trained_module import load_trained_module, split_checkpoint_args  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", nargs="+", action="extend", required=True, help="one or more; may be repeated")
    ap.add_argument("--num-samples", type=int, default=500, help="posterior and resampled target trajectories")
    ap.add_argument("--proposals", type=int, default=4000, help="prior rollouts resampled into target trajectories")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a, overrides = ap.parse_known_args(argv)
    a.ckpt, overrides = split_checkpoint_args(a.ckpt, overrides)
    if a.num_samples < 2 or a.proposals < a.num_samples:
        raise SystemExit("--num-samples must be >= 2 and --proposals >= --num-samples")
    for c in a.ckpt:
        if not Path(c).is_file():
            raise SystemExit(f"checkpoint {c} not found (give the .ckpt file of a finished run)")
    rows = {}
    print("| checkpoint | KL(post‖prior) | KL(target‖prior) | forward KL(target‖post) | reverse KL(post‖target) "
          "| log Z learned / target | ESS |")
    print("|---|---|---|---|---|---|---|")
    for c in a.ckpt:
        module, domain, cfg = load_trained_module(overrides, c)
        if domain.conditional:
            raise UserError("path_kl scores one unconditional target", "run it on an unconditional posterior")
        if module.scorer.reference != "prior":
            raise UserError(f"domain {cfg.domain.name} is scored against a reference process, not a prior whose "
                            "rollouts can be resampled into its target", "use bench/log_z_repeats.py for energies")
        torch.manual_seed(a.seed)
        r = path_kl(module, domain.log_reward, float(cfg.beta.end), float(cfg.reward.log_r_min), a.num_samples,
                    a.proposals, seed=a.seed)
        rows[c] = r
        print(f"| {c} | {r['kl_post_prior']:.2f} | {r['kl_target_prior']:.2f} | {r['forward_kl']:.2f} | "
              f"{r['reverse_kl']:.2f} | {r['learned_log_z']:.2f} / {r['target_log_z']:.2f} | {r['ess']:.0f} |", flush=True)
    names = list(rows)
    print("\nper step, E[log p_post − log p_prior] on posterior / target trajectories (" + "; ".join(
        f"{i}: {n}" for i, n in enumerate(names)) + ")")
    print("| step | " + " | ".join(f"{i}: post / target" for i in range(len(names))) + " |")
    print("|---|" + "---|" * len(names))
    for t in range(len(rows[names[0]]["per_step_post"])):
        print(f"| {t} | " + " | ".join(f"{rows[n]['per_step_post'][t]:.3f} / {rows[n]['per_step_target'][t]:.3f}"
                                      for n in names) + " |")
    if a.json:
        atomic_write_text(json.dumps({"overrides": overrides, "num_samples": a.num_samples,
                                       "proposals": a.proposals, "seed": a.seed, "rows": rows}, indent=2), a.json)
    return rows


if __name__ == "__main__":
    run_script(main)
