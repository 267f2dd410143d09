"""Rewards for image domains: a classifier's log-probability of a class set, or any callable by import path.

Classifier reward: log r(x) = log sum_{c in S} p(c | x) (a logsumexp of log-softmax outputs, never
a max); with a condition (amortized posterior) log r(x | c) = log p(c | x).
"""
import importlib
import inspect

import torch
from torch import nn

from .errors import ConfigError, RewardError


class ClassifierReward(nn.Module):
    def __init__(self, classifier: nn.Module, classes=(3,)):
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.register_buffer("classes", torch.as_tensor(list(classes), dtype=torch.long))

    def log_probs(self, x):
        p = next(self.classifier.parameters())
        if p.device != x.device:
            self.to(x.device)
        return torch.log_softmax(self.classifier(x.to(p.dtype)), dim=1).to(x.dtype)

    def forward(self, x, cond=None):
        logp = self.log_probs(x)
        if cond is not None:
            return logp.gather(1, cond.long().view(-1, 1).to(x.device)).squeeze(1)
        return torch.logsumexp(logp[:, self.classes.to(x.device)], dim=1)


def load_target(target: str):
    """'pkg.mod:fn' -> the callable, with one clear error per way it can fail."""
    hint = "write reward.target=package.module:function (the module importable from the working directory)"
    if not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":")):
        raise ConfigError(f"reward.target={target!r} is not of the form package.module:function", hint)
    mod_name, attr = target.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:           # ImportError, or any error raised while importing the user's module
        raise ConfigError(f"reward.target: cannot import module '{mod_name}': {type(e).__name__}: {e}", hint) from None
    fn = mod
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise ConfigError(f"reward.target: module '{mod_name}' has no attribute '{attr}'", hint)
        fn = getattr(fn, part)
    if not callable(fn):
        raise ConfigError(f"reward.target: '{target}' is a {type(fn).__name__}, not a callable", hint)
    return fn


class CallableReward:
    """Adapts fn(x) or fn(x, cond) to the domain reward signature and checks its output."""

    def __init__(self, fn, name: str):
        self.fn, self.name = fn, name
        try:
            params = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
            self.takes_cond = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):   # builtins without a signature
            self.takes_cond = False

    def __call__(self, x, cond=None):
        out = self.fn(x, cond) if self.takes_cond else self.fn(x)
        if not torch.is_tensor(out) or out.shape != (len(x),):
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise RewardError(f"reward {self.name} returned {shape} for a batch of {len(x)}; expected a tensor of "
                              f"shape ({len(x)},)", "return one log-reward per sample (reduce over pixels)")
        return out


def check_reward(reward, x, cond=None, name="reward"):
    """Call the reward once on a few real inputs before training: wrong shapes fail here, not at step 0."""
    with torch.no_grad():
        out = reward(x, cond)
    if not torch.is_tensor(out) or out.shape != (len(x),):
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise RewardError(f"{name} returned {shape} for a batch of {len(x)}; expected ({len(x)},)",
                          "return one log-reward per sample")
    return out
