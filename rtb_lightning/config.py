"""Config composition and validation: conf/config.yaml + one file per group + dotted overrides.

The defaults define the schema: an override must name an existing key (else: the closest valid
keys), and its value must have the default's type (ints are accepted for floats; null defaults
accept anything). Group choices (domain=..., method=...) pick conf/<group>/<choice>.yaml, which
is merged at the root. Precedence, lowest first: conf/config.yaml, the domain file, the method file,
--config files, the command line. Method files set only what their method needs (rl_kl and ddpo force
on-policy sampling); the generic trajectory mix lives in conf/config.yaml, so a domain's tuned
sampling/exploration hold for rtb, vargrad and tb.
"""
import difflib
import re
from pathlib import Path

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from .errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("domain", "method")
MERGE_ORDER = ("domain", "method")      # later wins: an on-policy method stays on-policy on any domain
SHORTHANDS = {"generator": "generator.name"}      # generator=digits_vae == generator.name=digits_vae
RENAMED = {"domain.generator_target": "generator.target", "domain.generator_checkpoint": "generator.checkpoint",
           "domain.reward_target": "reward.target"}
UNION_KEYS = {"trainer.devices": (int, str, list), "trainer.strategy": (str,), "trainer.accelerator": (str,)}
CHOICES = {
    "stage": ("prior", "classifier", "posterior", "reward_model", "generator", "dataset", "critic"),
    "prior.network.kind": ("mlp", "unet"),
    "posterior.network.kind": ("mlp", "unet"),
    "process.kind": ("vp", "brownian", "masked"),
    "posterior.log_z": ("scalar", "network"),
    "process.schedule": ("linear", "cosine"),
    "process.variance": ("large", "small"),
    "prior.kind": ("trained", "analytic", "reference"),
    "posterior.init": ("copy", "residual", "lora"),
    "posterior.lr_schedule": ("constant", "cosine"),
    "buffer.prioritization": ("rank", "uniform"),
    "buffer.eviction": ("fifo", "lowest"),
    "reward.nonfinite": ("error", "drop"),
    "sampler.langevin_at": ("noisy", "denoised", "estimate", "both"),
}


def _flat_keys(cfg, prefix=""):
    keys = []
    for k, v in cfg.items():
        path = f"{prefix}{k}"
        keys.append(path)
        if isinstance(v, DictConfig):
            keys += _flat_keys(v, path + ".")
    return keys


def group_choices(group: str, conf_dir: Path = CONF_DIR):
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))


def _parse_value(text: str):
    if re.fullmatch(r"\d+(:\d+)+", text.strip()):     # YAML 1.1 reads 1:30 as sexagesimal 90: keep times as text
        return text.strip()
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:                     # YAML 1.1 reads "1e-4" as a string; users mean a number
            return float(value)
        except ValueError:
            pass
    return value


def _check_type(key, old, new):
    if key in UNION_KEYS:
        if not isinstance(new, UNION_KEYS[key]):
            raise ConfigError(f"{key}={new!r} has type {type(new).__name__}; expected one of "
                              f"{', '.join(t.__name__ for t in UNION_KEYS[key])}")
        return new
    if old is None or new is None:
        return new
    if isinstance(old, DictConfig):
        raise ConfigError(f"{key} is a group of settings, not a value",
                          f"set one of its keys, e.g. {key}.{next(iter(old.keys()), 'name')}=...")
    if isinstance(old, bool):
        ok = isinstance(new, bool)
    elif isinstance(old, int):
        ok = isinstance(new, int) and not isinstance(new, bool)
    elif isinstance(old, float):
        if isinstance(new, str):     # YAML 1.1 reads "1e-4" as a string; users mean a number
            try:
                new = float(new)
            except ValueError:
                pass
        ok = isinstance(new, (int, float)) and not isinstance(new, bool)
        new = float(new) if ok else new
    elif isinstance(old, str):
        ok = not isinstance(new, (list, dict))
        new = str(new) if ok else new
    elif isinstance(old, (list, ListConfig)):
        ok = isinstance(new, (list, ListConfig))
    else:
        ok = True
    if not ok:
        expected = "list" if isinstance(old, (list, ListConfig)) else type(old).__name__
        raise ConfigError(f"{key}={new!r} has type {type(new).__name__}; expected {expected} (default: {old!r})")
    return new


def _set(cfg, key, value, source):
    if key in RENAMED:
        raise ConfigError(f"{key} was renamed to {RENAMED[key]} ({source})", f"write {RENAMED[key]}=...")
    node, parts = cfg, key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node:
            close = difflib.get_close_matches(key, _flat_keys(cfg), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else "see conf/config.yaml for the valid keys"
            raise ConfigError(f"unknown config key '{key}' ({source})", hint)
        if i < len(parts) - 1:
            node = node[part]
    if len(parts) == 2 and parts[0] in GROUPS and parts[1] == "name":
        raise ConfigError(f"{key} is chosen with the group syntax, not set ({source})",
                          f"use {parts[0]}=<value>; valid values: {', '.join(group_choices(parts[0]))}")
    old = node[parts[-1]]
    value = _check_type(key, old, value)
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{key}={value!r} is not valid ({source}); choose one of: {', '.join(CHOICES[key])}")
    node[parts[-1]] = value


def _merge_file(cfg, data, source, prefix=""):
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _merge_file(cfg, v, source, key + ".")
        else:
            _set(cfg, SHORTHANDS.get(key, key), v, source)


def load_config(argv=(), conf_dir: Path = CONF_DIR) -> DictConfig:
    """argv: tokens like 'domain=toy2d', 'trainer.max_steps=100', or '--config file.yaml'."""
    conf_dir = Path(conf_dir)
    base = OmegaConf.to_container(OmegaConf.load(conf_dir / "config.yaml"))
    choices = dict(base.pop("defaults"))
    files, overrides = [], []
    argv = list(argv)
    while argv:
        tok = argv.pop(0)
        if tok in ("-c", "--config"):
            if not argv:
                raise ConfigError(f"{tok} needs a YAML file path")
            files.append(argv.pop(0))
            continue
        if "=" not in tok:
            raise ConfigError(f"cannot parse argument '{tok}'", "write overrides as key=value, e.g. trainer.max_steps=100")
        key, value = tok.split("=", 1)
        if key in GROUPS:
            choices[key] = value
        elif key in SHORTHANDS:
            overrides.append((SHORTHANDS[key], value))
        else:
            overrides.append((key, value))
    cfg = OmegaConf.create(base)
    for group in MERGE_ORDER:
        path = conf_dir / group / f"{choices[group]}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown {group} '{choices[group]}'",
                              f"valid {group} values: {', '.join(group_choices(group, conf_dir))}")
        # Group files define their own keys (the schema of that group): merge them unchecked.
        cfg = OmegaConf.merge(cfg, OmegaConf.load(path))
        cfg[group]["name"] = choices[group]
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise ConfigError(f"config file not found: {f}", "pass an existing YAML file to --config")
        data = yaml.safe_load(p.read_text()) or {}
        for group in GROUPS:
            if isinstance(data.get(group), str):
                raise ConfigError(f"{f}: put group choices on the command line ({group}={data[group]})")
        _merge_file(cfg, data, source=f)
    for key, value in overrides:
        _set(cfg, key, _parse_value(value), source="command line")
    OmegaConf.set_struct(cfg, True)
    return cfg
