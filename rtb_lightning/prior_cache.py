"""Trained priors are cached by a hash of everything that determines them; trained once, reused."""
import hashlib
import json
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .checkpoint_io import atomic_torch_save
from .errors import UserError


def _hash(parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _data(cfg):
    """The data source, where a domain reads one from a folder (absent keys keep older hashes valid)."""
    return {"data": OmegaConf.to_container(cfg.data)} if "data" in cfg and cfg.data.path is not None else {}


def prior_key(cfg) -> str:
    parts = {"domain": OmegaConf.to_container(cfg.domain), "prior": OmegaConf.to_container(cfg.prior),
             "process": {k: cfg.process[k] for k in ("kind", "num_train_steps", "schedule")}, "seed": cfg.seed,
             **_data(cfg)}
    return _hash(parts)


def classifier_key(cfg, role: str) -> str:
    parts = {"domain": OmegaConf.to_container(cfg.domain), "classifier": OmegaConf.to_container(cfg.classifier),
             "role": role, "seed": cfg.seed, **_data(cfg)}
    return _hash(parts)


def classifier_path(cfg, role: str) -> Path:
    """role: 'reward' or 'eval' (the separate evaluation classifier)."""
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-classifier-{role}-{classifier_key(cfg, role)}.pt"


def prior_path(cfg) -> Path:
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-prior-{prior_key(cfg)}.pt"


def save_prior(net, cfg, path, key=None, **extra):
    atomic_torch_save({"state_dict": net.state_dict(), "key": key or prior_key(cfg),
                       "config": OmegaConf.to_container(cfg, resolve=True), **extra}, path)


def load_prior(net, path, what="prior"):
    """Load a cached network (a prior, or a classifier with what='classifier')."""
    if not Path(path).is_file():
        raise UserError(f"{what} checkpoint not found: {path}", f"check the path, or train it with stage={what}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UserError(f"cannot read {what} checkpoint {path}: {e}", f"delete it to retrain the {what}") from None
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise UserError(f"{what} checkpoint {path} does not fit the configured {what} network: "
                        f"{first[1].strip() if len(first) > 1 else first[0]}",
                        f"use the {what} network settings it was trained with, or delete the file to retrain") from None
    return net
