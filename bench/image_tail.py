"""Where a trained image posterior's off-class samples come from.

    python bench/image_tail.py --ckpt runs/c3/checkpoints/last.ckpt --num-samples 2000 \
        --json bench/results/out.json domain=digits            # then the run's own overrides

Draws whole paths from the checkpoint and reports (1) what the *reward* says of the samples the evaluation
classifier puts outside the class set (are they clear other digits, borderline shapes, or reward hacks the
reward likes?), (2) which classes the judge gives them, and (3) along each path, the share of states whose
prior denoised estimate x0_hat the judge already puts in the class set, for the samples that end in the set
and for those that end outside: the steps where the class is settled. Unconditional posteriors on a VP prior.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rtb_lightning.checkpoint_io import atomic_write_text  # noqa: E402
from rtb_lightning.errors import run_script  # noqa: E402
from rtb_lightning.trained_module import load_trained_module  # noqa: E402

QUANTILES = (0.1, 0.5, 0.9)


def tail_report(final_hit, log_r, judged, step_hit):
    """Pure summary. final_hit (n,) bool: judge puts the sample in the set; log_r (n,): the reward's log r;
    judged (n,) the judge's class; step_hit (n, T) bool: x0_hat at step k judged in the set."""
    off = ~final_hit

    def stats(v):
        if len(v) == 0:
            return None
        return {"mean": v.mean().item(), **{f"q{q:g}": v.quantile(q).item() for q in QUANTILES}}

    # a path is settled from the first step after which its estimate stays in the set to the end
    stays = step_hit.flip(1).cumprod(1).flip(1).bool()
    first = torch.where(stays.any(1), stays.float().argmax(1), torch.full_like(judged, step_hit.shape[1]))
    return {"n": len(final_hit), "accuracy": final_hit.float().mean().item(), "off_class": int(off.sum()),
            "log_r_in_class": stats(log_r[final_hit].double()), "log_r_off_class": stats(log_r[off].double()),
            "log_r_share_off_class": (log_r[off].sum() / log_r.sum()).item() if log_r.sum() != 0 else 0.0,
            "off_class_judged_as": torch.bincount(judged[off], minlength=int(judged.max()) + 1).tolist(),
            "in_set_by_step_in_class": step_hit[final_hit].float().mean(0).tolist() if final_hit.any() else [],
            "in_set_by_step_off_class": step_hit[off].float().mean(0).tolist() if off.any() else [],
            "settled_step_in_class": stats(first[final_hit].double())}


@torch.no_grad()
def estimates(module, states, batch):
    """x0_hat of every state but the last, from the frozen prior's noise prediction: (n, T, *event)."""
    proc, out = module.process, []
    for k in range(states.shape[1] - 1):
        t = proc.t_in[k].expand(len(states))
        abar = proc.alpha_bar(t).to(states.dtype).view(-1, *([1] * (states.dim() - 2)))
        eps = torch.cat([module.prior(states[i:i + batch, k], t[i:i + batch]) for i in range(0, len(states), batch)])
        out.append((states[:, k] - (1 - abar).sqrt() * eps) / abar.sqrt())
    return torch.stack(out, 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True)
    p.add_argument("--num-samples", type=int, default=2000)
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    p.add_argument("overrides", nargs="*", help="the run's own key=value overrides (domain=digits ...)")
    a = p.parse_args(argv)
    if not Path(a.ckpt).is_file():
        sys.exit(f"checkpoint {a.ckpt} not found")
    module, domain, cfg = load_trained_module(a.overrides, a.ckpt)
    if cfg.process.kind != "vp" or cfg.posterior.conditional or getattr(domain, "evaluator", None) is None:
        sys.exit("image_tail needs an unconditional image posterior on a VP prior with an evaluation classifier")
    classes = torch.as_tensor(domain.evaluator.classes)
    judge = domain.evaluator.classifier
    torch.manual_seed(a.seed)
    with torch.no_grad():
        states = torch.cat([module.sample(min(a.batch, a.num_samples - i), None)[0]
                            for i in range(0, a.num_samples, a.batch)])
        x = states[:, -1]
        judged = judge(x).argmax(1)
        log_r = domain.log_reward(x, None)
        x0 = estimates(module, states, a.batch)
        step_judged = torch.stack([judge(x0[:, k].clamp(-1, 1)).argmax(1) for k in range(x0.shape[1])], 1)
    r = tail_report(torch.isin(judged, classes), log_r, judged, torch.isin(step_judged, classes))
    r.update(ckpt=a.ckpt, classes=classes.tolist(), overrides=a.overrides, seed=a.seed)
    print(f"{a.ckpt}: {r['n']} samples, accuracy {r['accuracy']:.4f} ({r['off_class']} off the set "
          f"{classes.tolist()}; judged as {r['off_class_judged_as']})")
    for side in ("in_class", "off_class"):
        s = r[f"log_r_{side}"]
        if s:
            print(f"  reward log r, {side.replace('_', ' ')}: mean {s['mean']:.3f}, "
                  + ", ".join(f"q{q:g} {s[f'q{q:g}']:.3g}" for q in QUANTILES))
    print(f"  share of the samples' total log r from off-class ones: {r['log_r_share_off_class']:.2f}")
    T = len(r["in_set_by_step_in_class"])
    print("  step | x0_hat judged in the set: ends in class / ends off class")
    for k in range(0, T, max(1, T // 10)):
        off = r["in_set_by_step_off_class"]
        print(f"  {k:4d} | {r['in_set_by_step_in_class'][k]:.3f} / " + (f"{off[k]:.3f}" if off else "-"))
    if a.json:
        atomic_write_text(json.dumps(r, indent=1), Path(a.json))
    return r


if __name__ == "__main__":
    run_script(main)
