"""Noise-space ("outsourced") posterior of a frozen generator x = f(z), z ~ N(0, I).

The target in z-space is N(z; 0, I) * r(f(z))^beta. The process is a VP chain with variance=large
and prior.kind=reference: its uncontrolled version leaves N(0, I) invariant, so its terminal
marginal is exactly the generator's latent prior and this is RTB with an analytic prior; the
posterior learns a drift correction. log r(f(z)) is the domain's reward.

The generator (an nn.Module) and the reward (a callable x -> log r (B,)) are resolved by
builders (generator_builders.py) and checked here on a probe batch before training: a latent
dimension or an output shape the reward cannot take is a ConfigError. With an `evaluator` (an
embedded generator's image metrics), decoded samples are scored like a data-space posterior's.
"""
import torch

from ..errors import ConfigError, UserError
from .base import Domain


class Latent(Domain):
    name = "latent"
    owns_reward = True            # the reward is a function of f(z): build_reward leaves it alone

    def __init__(self, batch_size=128, stage="posterior", latent_dim=None, generator=None, reward=None,
                 evaluator=None, reward_input_shape=None, probe_batch=4):
        super().__init__(batch_size, stage)
        if generator is None or reward is None:
            raise ConfigError("domain=latent needs a generator and a reward (builders.build_domain attaches them)")
        self.generator = generator.requires_grad_(False).eval()
        self.reward_fn, self.evaluator = reward, evaluator
        self.latent_dim = self._latent_dim(latent_dim)
        self._check(probe_batch, reward_input_shape)

    def _latent_dim(self, configured):
        own = getattr(self.generator, "latent_dim", None)
        if configured is not None and (not isinstance(configured, int) or configured < 1):
            raise ConfigError(f"domain.latent_dim={configured!r} is not a positive integer", "e.g. domain.latent_dim=64")
        if configured is not None and own is not None and configured != own:
            raise ConfigError(f"domain.latent_dim={configured} but the generator's latent dimension is {own}",
                              f"set domain.latent_dim={own}, or drop it (null takes the generator's)")
        if configured is None and own is None:
            raise ConfigError("the generator has no latent_dim attribute, so domain.latent_dim must be given",
                              "set domain.latent_dim to the generator's latent size")
        return configured if configured is not None else own

    @property
    def event_shape(self):
        return (self.latent_dim,)

    @torch.no_grad()
    def _check(self, n, reward_input_shape):
        z = torch.zeros(n, self.latent_dim)
        try:
            x = self.generator(z)
        except Exception as e:      # a wrong latent size surfaces as a shape error inside the generator
            raise ConfigError(f"the generator failed on a batch of latents of shape {tuple(z.shape)}: {e}",
                              "set domain.latent_dim to the generator's latent size") from None
        if reward_input_shape is not None and tuple(x.shape[1:]) != tuple(reward_input_shape):
            raise ConfigError(f"the generator outputs shape {tuple(x.shape[1:])} but the reward takes "
                              f"{tuple(reward_input_shape)}", "use a generator of the reward's data domain, or reward.target")
        try:
            log_r = self.reward_fn(x)
        except UserError as e:      # the reward's own check (e.g. CallableReward's output shape)
            raise ConfigError(e.message, e.hint) from None
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
        out = {"latent_norm_sq": z.pow(2).sum(1).mean().item() / self.latent_dim}
        if self.evaluator is not None:
            out.update(self.evaluator(self.decode(z)))
        return out

    def plot(self, prior_z, post_z, path=None, cond=None):
        if self.evaluator is None:
            return None
        from ..plotting import image_grid_figure

        return image_grid_figure(self.decode(prior_z).cpu(), self.decode(post_z).cpu(), path)
