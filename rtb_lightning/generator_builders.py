"""Config -> the frozen generator and reward of domain=latent, and stage=generator.

A generator is one of: generator.name (an embedded generator: a generator domain such as
digits_vae, trained by stage=generator with that domain file's settings and this run's seed and
cache_dir, trained here first when not cached), generator.target (pkg.mod:attr -> an nn.Module or
a zero-argument factory), generator.checkpoint (a torch.save'd nn.Module, or a cached embedded
generator, rebuilt from the config stored in it).
The reward: reward.target (a function of x), else the reward classifier of the embedded
generator's data domain with reward.classes; its evaluation classifier then gives image metrics.
"""
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .errors import ConfigError
from .import_path import load_object
from .prior_cache import generator_path, load_prior, save_prior
from .rewards import CallableReward, load_target


def generator_domains():
    from .domains import DOMAINS

    return sorted(k for k, cls in DOMAINS.items() if getattr(cls, "is_generator", False))


def train_generator(cfg, run_dir):
    """stage=generator: train the domain's embedded generator and cache it; returns the trained model."""
    from .builders import build_domain, build_trainer
    from .generator_module import GeneratorModule

    if cfg.domain.name not in generator_domains():
        raise ConfigError(f"stage=generator needs a generator domain; {cfg.domain.name} is not one",
                          f"use domain={' or domain='.join(generator_domains())}")
    torch.manual_seed(cfg.seed)
    domain = build_domain(cfg, "generator")
    domain.batch_size = cfg.generator.batch_size
    net = domain.build_generator()
    trainer = build_trainer(cfg, run_dir, subdir="generator/", max_steps=cfg.generator.steps,
                            enable_checkpointing=False, devices=1, num_nodes=1, strategy="auto")
    trainer.fit(GeneratorModule(net, cfg.generator.lr, cfg.generator.steps), datamodule=domain)
    net = net.cpu().eval()
    with torch.no_grad():
        loss = net.loss(domain.data[0][domain.split()[1]]).mean().item()
    print(f"[rtb] {cfg.domain.name}: held-out loss {loss:.2f} nats per image; cached at {generator_path(cfg)}")
    if trainer.is_global_zero:
        save_prior(net, cfg, generator_path(cfg), key=generator_path(cfg).stem, held_out_loss=loss)
    return net


def embedded_config(cfg, name):
    """The stage=generator config that trains (and caches) the embedded generator `name`."""
    from .config import load_config

    if name not in generator_domains():
        raise ConfigError(f"generator={name} is not an embedded generator",
                          f"choose one of: {', '.join(generator_domains())}; or generator.target / generator.checkpoint")
    return load_config(["stage=generator", f"domain={name}", f"seed={cfg.seed}", f"cache_dir={cfg.cache_dir}",
                        f"trainer.accelerator={cfg.trainer.accelerator}"])


def _rebuild(gcfg, path):
    """An embedded generator's model from its config, with the cached (or trained) weights."""
    from .builders import build_domain

    domain = build_domain(gcfg, "generator")
    return load_prior(domain.build_generator(), path, what="generator"), domain


def load_embedded(cfg, run_dir):
    """(the whole trained model (VAE / flow), its generator domain) for generator.name."""
    gcfg = embedded_config(cfg, cfg.generator.name)
    path = generator_path(gcfg)
    if not path.is_file():
        print(f"[rtb] no cached generator at {path}: training it first ({gcfg.generator.steps} steps)")
        train_generator(gcfg, run_dir)
    return _rebuild(gcfg, path)


def load_checkpoint(path, run_dir):
    """A torch.save'd nn.Module, or a cached embedded generator -> (model, its generator domain or None)."""
    from .config import load_config

    if not Path(path).is_file():
        raise ConfigError(f"generator checkpoint not found: {path}", "check generator.checkpoint")
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and "state_dict" in obj and "config" in obj:       # written by stage=generator
        c = obj["config"]
        overrides = [f"{k}={v}" for k, v in (("seed", c["seed"]), ("cache_dir", c["cache_dir"]))]
        gcfg = load_config(["stage=generator", f"domain={c['domain']['name']}", *overrides])
        gcfg.domain = OmegaConf.create(c["domain"])
        return _rebuild(gcfg, path)
    return _as_module(obj, "generator.checkpoint"), None


def _as_module(obj, what):
    if isinstance(obj, torch.nn.Module):
        return obj
    if callable(obj):
        out = obj()
        if isinstance(out, torch.nn.Module):
            return out
    raise ConfigError(f"{what} must be an nn.Module or a zero-argument callable returning one",
                      "e.g. a function that builds the generator and loads its weights")


def build_generator(cfg, run_dir):
    """(generator z -> x, the data domain name of an embedded generator or None)."""
    g = cfg.generator
    given = [k for k in ("name", "target", "checkpoint") if g[k] is not None]
    if len(given) != 1:
        raise ConfigError(f"domain=latent needs exactly one of generator.name / generator.target / generator.checkpoint"
                          f" (given: {', '.join(given) or 'none'})",
                          "e.g. generator=digits_vae, or generator.target=my_pkg.models:load_gan")
    if g.target is not None:
        return _as_module(load_object(g.target, "generator.target"), "generator.target"), None
    model, domain = load_embedded(cfg, run_dir) if g.name is not None else load_checkpoint(g.checkpoint, run_dir)
    if domain is None:
        return model, None
    return model.generator(), domain.data_domain


def data_domain_parts(cfg, data_domain, run_dir):
    """The image domain whose classifiers score an embedded generator's output (reward + evaluator)."""
    from .builders import build_domain
    from .config import load_config
    from .reward_builders import build_reward

    dcfg = load_config([f"domain={data_domain}", f"seed={cfg.seed}", f"cache_dir={cfg.cache_dir}"])
    dcfg.classifier = cfg.classifier
    dcfg.reward.classes = cfg.reward.classes
    dcfg.reward.target = None
    domain = build_domain(dcfg, "posterior")
    build_reward(dcfg, domain, run_dir)
    return domain


def latent_parts(cfg, run_dir):
    """Keyword arguments of the Latent domain: generator, reward, evaluator, reward_input_shape."""
    generator, data_domain = build_generator(cfg, run_dir)
    if cfg.reward.target:
        if cfg.reward.classes is not None:
            raise ConfigError("reward.target and reward.classes both given for domain=latent",
                              "reward.classes picks the data domain's classifier reward; drop one of them")
        return {"generator": generator, "reward": CallableReward(load_target(cfg.reward.target), cfg.reward.target)}
    if data_domain is None:
        raise ConfigError("domain=latent with a user generator needs reward.target (a function of the generator's output)",
                          "e.g. reward.target=my_pkg.rewards:score; reward.classes is for embedded generators (generator=digits_vae)")
    images = data_domain_parts(cfg, data_domain, run_dir)
    return {"generator": generator, "reward": lambda x: images.log_reward(x), "evaluator": images.evaluate,
            "reward_input_shape": images.event_shape}
