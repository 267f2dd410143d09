"""Trained priors are cached by a hash of everything that determines them; trained once, reused."""
import hashlib
import json
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .checkpoint_io import atomic_torch_save
from .errors import UserError


def prior_key(cfg) -> str:
    parts = {"domain": OmegaConf.to_container(cfg.domain), "prior": {k: v for k, v in OmegaConf.to_container(cfg.prior).items() if k != "wait_s"},
             "process": {k: cfg.process[k] for k in ("kind", "num_train_steps", "schedule")}, "seed": cfg.seed}
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def prior_path(cfg) -> Path:
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-prior-{prior_key(cfg)}.pt"


def save_prior(net, cfg, path):
    atomic_torch_save({"state_dict": net.state_dict(), "key": prior_key(cfg),
                       "config": OmegaConf.to_container(cfg, resolve=True)}, path)


def load_prior(net, path):
    if not Path(path).is_file():
        raise UserError(f"prior checkpoint not found: {path}", "check the path, or train it with stage=prior")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UserError(f"cannot read prior checkpoint {path}: {e}", "delete it to retrain the prior") from None
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise UserError(f"prior checkpoint {path} does not fit the configured prior network: "
                        f"{first[1].strip() if len(first) > 1 else first[0]}",
                        "use the prior.network settings it was trained with, or delete the file to retrain") from None
    return net
