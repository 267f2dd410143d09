"""Noise-space ("outsourced") posterior of a frozen generator x = f(z), z ~ N(0, I).

The target in z-space is N(z; 0, I) * r(f(z))^beta. The process is a VP chain with variance=large
and prior.kind=reference: its uncontrolled version leaves N(0, I) invariant, so its terminal
marginal is exactly the generator's latent prior and this is RTB with an analytic prior; the
posterior learns a drift correction. log r(f(z)) is the domain's reward.

The generator is an nn.Module (or a zero-argument callable returning one) given by import path,
or a whole module saved with torch.save; the reward is a callable x -> log r (B,) given by import
path. Both are checked on a probe batch before training: a latent-dimension or output-shape
mismatch is a ConfigError.
"""
import torch
from torch import nn

from ..errors import ConfigError
from ..import_path import load_object
from .base import Domain


def _as_module(obj, what):
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        out = obj()
        if isinstance(out, nn.Module):
            return out
    raise ConfigError(f"{what} must be an nn.Module or a zero-argument callable returning one", "")


class Latent(Domain):
    name = "latent"

    def __init__(self, batch_size=128, stage="posterior", latent_dim=8, generator_target=None,
                 generator_checkpoint=None, reward_target=None, probe_batch=4):
        super().__init__(batch_size, stage)
        if (generator_target is None) == (generator_checkpoint is None):
            raise ConfigError("domain=latent needs exactly one of domain.generator_target / domain.generator_checkpoint",
                              "e.g. domain.generator_target=my_pkg.models:load_gan")
        if reward_target is None:
            raise ConfigError("domain=latent needs domain.reward_target", "e.g. domain.reward_target=my_pkg.rewards:score")
        if generator_target is not None:
            gen = _as_module(load_object(generator_target, "domain.generator_target"), "domain.generator_target")
        else:
            try:
                gen = torch.load(generator_checkpoint, map_location="cpu", weights_only=False)
            except FileNotFoundError:
                raise ConfigError(f"generator checkpoint not found: {generator_checkpoint}", "") from None
            gen = _as_module(gen, "domain.generator_checkpoint")
        self.generator = gen.requires_grad_(False).eval()
        self.reward_fn = load_object(reward_target, "domain.reward_target")
        self.latent_dim = latent_dim
        self._check(probe_batch)

    @property
    def event_shape(self):
        return (self.latent_dim,)

    @torch.no_grad()
    def _check(self, n):
        z = torch.zeros(n, self.latent_dim)
        try:
            x = self.generator(z)
        except Exception as e:      # a wrong latent size surfaces as a shape error inside the generator
            raise ConfigError(f"the generator failed on a batch of latents of shape {tuple(z.shape)}: {e}",
                              "set domain.latent_dim to the generator's latent size") from None
        try:
            log_r = self.reward_fn(x)
        except Exception as e:
            raise ConfigError(f"the reward failed on the generator's output of shape {tuple(x.shape)}: {e}",
                              "the generator's output must be what the reward takes") from None
        if not torch.is_tensor(log_r) or log_r.shape != (n,):
            raise ConfigError(f"the reward returned {getattr(log_r, 'shape', type(log_r).__name__)} for a batch of {n} "
                              f"generator outputs of shape {tuple(x.shape)}; expected ({n},)",
                              "return one log-reward per sample")

    def log_reward(self, z, cond=None):
        self.generator.to(z.device)
        return self.reward_fn(self.generator(z))

    def decode(self, z):
        with torch.no_grad():
            return self.generator.to(z.device)(z)

    def evaluate(self, z, cond=None):
        return {"latent_norm_sq": z.pow(2).sum(1).mean().item() / self.latent_dim}
