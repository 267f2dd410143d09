"""Rebuild a trained posterior module from its checkpoint and the run's overrides, as train.py built it
(for scripts that re-evaluate finished runs: bench/log_z_repeats.py, bench/path_kl.py)."""
import re
import tempfile
from pathlib import Path

import torch

from .errors import UserError


def load_trained_module(overrides, ckpt):
    """(module in eval mode, domain, cfg). The frozen prior comes from the config (cache or pretrained
    path): checkpoints leave it out."""
    from .builders import build_posterior_run
    from .config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config([*overrides, f"run_dir={tmp}"])
        _, module, domain = build_posterior_run(cfg, Path(tmp))
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    hint = "pass the run's own key=value overrides after the options"
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as e:                                          # same names, other shapes
        raise UserError(f"checkpoint {ckpt} does not fit the config: {str(e).splitlines()[-1].strip()}", hint) from None
    missing = [k for k in missing if not k.startswith("prior.")]
    if missing or unexpected:
        raise UserError(f"checkpoint {ckpt} does not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})",
                        hint)
    return module.eval(), domain, cfg


def split_checkpoint_args(ckpts, overrides):
    """(checkpoints, overrides): `--ckpt a b key=value` lets argparse's nargs="+" swallow the overrides that
    follow; words shaped key=value (a dotted key) that are not existing files go back to the overrides
    (Lightning's `epoch=0-step=300.ckpt` inside a folder keeps its '/' before the '=')."""
    is_override = lambda w: re.match(r"^[A-Za-z_][\w.]*=", w) is not None and not Path(w).exists()
    return [c for c in ckpts if not is_override(c)], [*(c for c in ckpts if is_override(c)), *overrides]
