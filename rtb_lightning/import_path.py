"""Resolve user objects given as 'package.module:attribute' (generators, rewards) with clear errors."""
import importlib

from .errors import ConfigError


def load_object(path: str, what: str):
    if not isinstance(path, str) or ":" not in path:
        raise ConfigError(f"{what} must be given as 'package.module:attribute', got {path!r}",
                          "e.g. my_pkg.models:load_generator")
    mod_name, attr = path.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ConfigError(f"cannot import {mod_name} for {what} ({e})", "check the module path and PYTHONPATH") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{mod_name} has no attribute {attr!r} ({what})", f"check the name after ':' in {path}")
        obj = getattr(obj, part)
    return obj
