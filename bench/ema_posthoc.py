"""Post-hoc EMA of a run's posterior weights, from its periodic checkpoints: one checkpoint per decay.

    python train.py domain=digits run_dir=runs/c3 checkpoint.every_n_steps=5 checkpoint.keep=-1
    python bench/ema_posthoc.py runs/c3 0.5 0.8 0.9        # decay per checkpoint interval (here 5 steps)
    python bench/image_repeats.py --ckpt runs/c3/checkpoints/last.ckpt runs/c3/checkpoints/ema0.5.ckpt ... domain=digits

An EMA does not change training, so every decay is compared with the raw weights of the same run: the
paired measurement asks only "would sampling from averaged weights be better?". Each ema<d>.ckpt is
last.ckpt with the posterior's floating-point tensors replaced by their EMA over the periodic checkpoints
(oldest first); log Z, the buffer and the optimizer state stay the last step's.
"""
import re
import sys
from pathlib import Path

import torch


def step_of(path):
    return int(re.search(r"step=(\d+)", path.name).group(1))


def main(run, decays):
    ckpts = sorted(run.glob("checkpoints/*step=*.ckpt"), key=step_of)
    if len(ckpts) < 2:
        sys.exit(f"{run}/checkpoints holds {len(ckpts)} periodic checkpoints: train with checkpoint.keep=-1 "
                 "and a small checkpoint.every_n_steps")
    last = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    keys = [k for k, v in last["state_dict"].items() if k.startswith("posterior.") and v.is_floating_point()]
    states = [torch.load(p, map_location="cpu", weights_only=False)["state_dict"] for p in ckpts]
    if not all(torch.equal(states[-1][k], last["state_dict"][k]) for k in keys):
        sys.exit("last.ckpt is not the newest periodic checkpoint: set checkpoint.every_n_steps to divide max_steps")
    for d in decays:
        ema = {k: states[0][k].clone() for k in keys}
        for s in states[1:]:
            for k in keys:
                ema[k].lerp_(s[k], 1 - d)
        torch.save({**last, "state_dict": {**last["state_dict"], **ema}}, run / f"checkpoints/ema{d:g}.ckpt")
        print(f"ema{d:g}.ckpt: {len(ckpts)} checkpoints, steps {step_of(ckpts[0])}..{step_of(ckpts[-1])}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), [float(d) for d in sys.argv[2:]])
