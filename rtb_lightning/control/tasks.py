"""The embedded datasets by gymnasium id: each module has generate(**domain.dataset, env_kwargs=...) and
expert_from(arrays) (the 100-point policy) and picks its own behaviour policy's expert."""
import importlib

from ..errors import ConfigError

EMBEDDED = {"Pendulum-v1": "pendulum", "HalfCheetah-v5": "halfcheetah"}


def embedded_task(env_id):
    if env_id not in EMBEDDED:
        raise ConfigError(f"there is no embedded dataset for {env_id}",
                          f"use domain=pendulum or domain=halfcheetah, or give a D4RL-style file: "
                          f"domain=offline_rl data.path=...")
    return importlib.import_module(f".{EMBEDDED[env_id]}", __package__)
