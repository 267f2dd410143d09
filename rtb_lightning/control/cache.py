"""Cache files of the control domain: the generated dataset and the trained critic, keyed by what
determines them (like prior_cache.py does for priors)."""
import hashlib
import json
from pathlib import Path

from omegaconf import OmegaConf


def _hash(parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def dataset_path(cache_dir, env_id, dataset_cfg) -> Path:
    return Path(cache_dir) / f"dataset-{env_id}-{_hash({'env_id': env_id, **dataset_cfg})}.npz"


def critic_path(cfg) -> Path:
    d = OmegaConf.to_container(cfg.domain)
    parts = {k: d.get(k) for k in ("env_id", "dataset", "critic")}
    parts.update({k: d[k] for k in ("max_episode_steps", "clock_period") if d.get(k) is not None})
    parts.update(seed=cfg.seed, data=cfg.data.path)
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-critic-{_hash(parts)}.pt"
