"""Which checkpoint to resume from (`ckpt_path=`), checked before training starts.

last: the newest complete checkpoint of run_dir (an error if there is none); auto: the same, or a
fresh start when there is none (for scripts that are requeued, e.g. on SLURM); or a file path.
"Complete" means it loads: saves are atomic, but a file from elsewhere may still be cut short.
"""
from pathlib import Path

import torch

from .errors import ConfigError


def _load(path):
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:                  # noqa: BLE001 - truncated, not a torch file, ...
        return None, f"{type(e).__name__}: {e}"
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        return None, "not a Lightning checkpoint (no state_dict)"
    return ckpt, ""


def candidates(run_dir: Path):
    files = list((run_dir / "checkpoints").glob("*.ckpt")) + list(run_dir.glob("hpc_ckpt_*.ckpt"))
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def resolve_checkpoint(ckpt_path, run_dir: Path):
    """(path, loaded checkpoint) to resume from, or (None, None) for a fresh start."""
    if ckpt_path in (None, ""):
        return None, None
    if ckpt_path in ("last", "auto"):
        skipped = []
        for path in candidates(run_dir):
            ckpt, why = _load(path)
            if ckpt is not None:
                if skipped:
                    print(f"[rtb] skipped unreadable checkpoints: {'; '.join(skipped)}")
                return path, ckpt
            skipped.append(f"{path.name} ({why})")
        if ckpt_path == "auto":
            return None, None
        found = f"; unreadable: {'; '.join(skipped)}" if skipped else ""
        raise ConfigError(f"ckpt_path=last: no complete checkpoint in {run_dir / 'checkpoints'}{found}",
                          "pass run_dir=<the run to resume>; ckpt_path=auto starts fresh when there is none")
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such file", "give an existing .ckpt file, or ckpt_path=last")
    ckpt, why = _load(path)
    if ckpt is None:
        raise ConfigError(f"ckpt_path={ckpt_path} cannot be loaded: {why}",
                          "the file is damaged or not a checkpoint; ckpt_path=last picks the newest complete one")
    return path, ckpt


def check_compatible(module, ckpt, path):
    """The checkpoint's parameters must match the module built from this config (the prior is not saved)."""
    own = {k: v for k, v in module.state_dict().items() if not k.startswith("prior.")}
    theirs = ckpt["state_dict"]
    hint = "resume with the config the checkpoint was trained with (saved as config.yaml in its run_dir)"
    for k, v in own.items():
        if k not in theirs:
            raise ConfigError(f"checkpoint {path} has no parameter {k}: it was made with a different architecture", hint)
        if tuple(theirs[k].shape) != tuple(v.shape):
            raise ConfigError(f"checkpoint {path} does not fit this config: {k} has shape {tuple(theirs[k].shape)} "
                              f"in the checkpoint but {tuple(v.shape)} here", hint)
    extra = [k for k in theirs if k not in own]
    if extra:
        raise ConfigError(f"checkpoint {path} has parameters this config does not build: {', '.join(extra[:3])}", hint)
    saved = ckpt.get("optimizer_states") or []
    if saved:                      # same parameters, other optimizer groups: Lightning's own error names neither
        opt = module.configure_optimizers()        # Lightning's return forms: optimizer, ([opt], [sched]), dict
        opt = opt["optimizer"] if isinstance(opt, dict) else opt[0][0] if isinstance(opt, (tuple, list)) else opt
        groups = len(opt.param_groups)
        if len(saved[0]["param_groups"]) != groups:
            raise ConfigError(f"checkpoint {path} was trained with {len(saved[0]['param_groups'])} optimizer parameter "
                              f"groups, this config builds {groups} (sampler.langevin_lr gives the Langevin scales their "
                              "own group; digits.yaml sets it since session 17)",
                              "resume with the checkpoint's config.yaml, or set sampler.langevin_lr as it was (null: "
                              "no group of its own)")
