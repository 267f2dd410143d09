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
    parts = {"domain": OmegaConf.to_container(cfg.domain), "prior": {k: v for k, v in OmegaConf.to_container(cfg.prior).items() if k != "wait_s"},
             "process": {k: cfg.process[k] for k in ("kind", "num_train_steps", "schedule")}, "seed": cfg.seed,
             **_data(cfg)}
    from .domains import DOMAINS     # imported here: domains are loaded after this module

    # Domain settings that do not shape the prior (control: alpha, critic, evaluation) stay out of its key.
    ignore = getattr(DOMAINS.get(cfg.domain.name), "prior_key_ignores", ())
    parts["domain"] = {k: v for k, v in parts["domain"].items() if k not in ignore}
    if cfg.process.kind == "masked":
        # The masked chain's training draws mask counts from its step schedule; the reward model,
        # evaluation settings and conditions-per-context do not affect the prior.
        parts["process"]["num_steps"] = cfg.process.num_steps
        parts["domain"] = {k: v for k, v in parts["domain"].items()
                           if k not in ("reward_model", "eval", "samples_per_context")}
        parts["data"] = OmegaConf.to_container(cfg.data)
    return _hash(parts)


# Each classifier trains with its own noise level: the reward's can change without moving the judge.
CLASSIFIER_NOISE_KEY = {"reward": "noise_max", "eval": "eval_noise_max"}


def classifier_key(cfg, role: str) -> str:
    other = {k for r, k in CLASSIFIER_NOISE_KEY.items() if r != role}
    settings = {k: v for k, v in OmegaConf.to_container(cfg.classifier).items() if k not in other}
    parts = {"domain": OmegaConf.to_container(cfg.domain), "classifier": settings,
             "role": role, "seed": cfg.seed, **_data(cfg)}
    return _hash(parts)


def generator_key(cfg) -> str:
    """An embedded generator: its domain (data, kind, architecture), training settings and seed."""
    train = {k: cfg.generator[k] for k in ("steps", "batch_size", "lr")}
    return _hash({"domain": OmegaConf.to_container(cfg.domain), "generator": train, "seed": cfg.seed})


def generator_path(cfg) -> Path:
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-generator-{generator_key(cfg)}.pt"


def classifier_path(cfg, role: str) -> Path:
    """role: 'reward' or 'eval' (the separate evaluation classifier)."""
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-classifier-{role}-{classifier_key(cfg, role)}.pt"


def prior_path(cfg) -> Path:
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-prior-{prior_key(cfg)}.pt"


def save_prior(net, cfg, path, domain_state=None, key=None, **extra):
    """domain_state: what later users must agree on (text: the tokenizer), checked by load_prior."""
    atomic_torch_save({"state_dict": net.state_dict(), "key": key or prior_key(cfg), "domain_state": domain_state or {},
                       "config": OmegaConf.to_container(cfg, resolve=True), **extra}, path)


def load_prior(net, path, domain=None, what="prior"):
    """Load a cached network (a prior, or a classifier with what='classifier')."""
    if not Path(path).is_file():
        raise UserError(f"{what} checkpoint not found: {path}", f"check the path, or train it with stage={what}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UserError(f"cannot read {what} checkpoint {path}: {e}", f"delete it to retrain the {what}") from None
    if domain is not None and blob.get("domain_state"):
        domain.load_state_dict(blob["domain_state"], where=f"prior checkpoint {path}")
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise UserError(f"{what} checkpoint {path} does not fit the configured {what} network: "
                        f"{first[1].strip() if len(first) > 1 else first[0]}",
                        f"use the {what} network settings it was trained with, or delete the file to retrain") from None
    return net
