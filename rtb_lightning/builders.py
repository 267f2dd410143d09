"""Config -> objects. Everything train.py needs is built here, validated before any training."""
import copy
import os
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from .annealing import Schedule
from .callbacks import EvaluationCallback
from .domains import DOMAINS
from .domains.images import ImageDomain
from .errors import ConfigError
from .log_z import LogZ
from .module import RTBLightningModule
from .networks import Residual, TimeMLP, TimeUNet
from .prior_cache import load_prior, prior_path, save_prior
from .prior_module import DiffusionPriorModule
from .processes import PinnedBrownianProcess, VPProcess
from .replay_buffer import ReplayBuffer
from .reward_builders import build_reward


def resolve_run_dir(cfg) -> Path:
    """One run directory for all ranks: the launcher's children inherit it through the environment."""
    run_dir = cfg.run_dir or os.environ.get("RTB_RUN_DIR")
    if not run_dir:
        run_dir = f"runs/{cfg.domain.name}-{cfg.method.name if cfg.stage == 'posterior' else cfg.stage}-{time.strftime('%Y%m%d-%H%M%S')}"
    os.environ["RTB_RUN_DIR"] = str(run_dir)
    return Path(run_dir)


def set_cpu_threads(cfg):
    """CPU processes on one machine share its cores: more threads than cores stalls them all."""
    if cfg.trainer.accelerator in ("cpu", "auto") and not torch.cuda.is_available():
        devices = cfg.trainer.devices if isinstance(cfg.trainer.devices, int) else 1
        if devices > 1 or "LOCAL_WORLD_SIZE" in os.environ:
            per_node = max(devices, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_node))


def build_domain(cfg, stage):
    kw = {k: v for k, v in OmegaConf.to_container(cfg.domain).items() if k != "name"}
    batch = cfg.prior.batch_size if stage == "prior" else cfg.posterior.batch_size
    cls = DOMAINS[cfg.domain.name]
    if issubclass(cls, ImageDomain):      # image domains: target classes, conditioning, data folder
        kw.update(classes=OmegaConf.to_container(cfg.reward.classes) if cfg.reward.classes is not None else None,
                  conditional=cfg.posterior.conditional)
        if getattr(cls, "needs_data_path", False):
            kw["path"] = cfg.data.path
    elif cfg.posterior.conditional:
        raise ConfigError(f"posterior.conditional=true needs a domain with classes; {cfg.domain.name} has none",
                          "use domain=digits or domain=mnist")
    return cls(batch_size=batch, stage=stage, **kw)


def build_process(cfg, domain):
    p = cfg.process
    if p.kind == "vp":
        return VPProcess(domain.event_shape, p.num_steps, p.num_train_steps, p.schedule, p.variance, p.min_std)
    return PinnedBrownianProcess(domain.event_shape, p.num_steps, p.t_scale)


def build_network(net_cfg, domain, zero_init=False, num_classes=0):
    """network.kind: mlp (TimeMLP, any event shape) | unet (TimeUNet, images (C, H, W))."""
    if net_cfg.kind == "unet":
        if len(domain.event_shape) != 3:
            raise ConfigError(f"network.kind=unet needs images (C, H, W); domain {domain.name} has event shape "
                              f"{tuple(domain.event_shape)}", "use network.kind=mlp for vectors")
        try:
            return TimeUNet(domain.event_shape, net_cfg.channels, tuple(net_cfg.channel_mult), net_cfg.time_dim,
                            num_classes=num_classes, zero_init=zero_init)
        except ValueError as e:
            raise ConfigError(str(e), "change network.channel_mult (fewer levels) or the image size") from None
    return TimeMLP(domain.event_shape, net_cfg.hidden, net_cfg.layers, net_cfg.time_dim, zero_init=zero_init,
                   num_classes=num_classes,
                   fourier_features=net_cfg.fourier_features, fourier_scale=net_cfg.fourier_scale)


def build_trainer(cfg, run_dir, callbacks=(), subdir="", **overrides):
    kw = {**OmegaConf.to_container(cfg.trainer), **overrides}
    logger = TensorBoardLogger(str(run_dir), name=f"{subdir}tensorboard", version="", default_hp_metric=False)
    return L.Trainer(logger=logger, callbacks=list(callbacks), default_root_dir=str(run_dir), **kw)


def train_prior(cfg, run_dir, devices=None):
    """The prior stage: DDPM training on the domain's data; the result is written to the cache."""
    if cfg.process.kind != "vp":
        raise ConfigError("the prior stage trains a DDPM network and needs process.kind=vp")
    domain = build_domain(cfg, "prior")
    process = build_process(cfg, domain)
    net = build_network(cfg.prior.network, domain)
    module = DiffusionPriorModule(process, net, cfg.prior.lr, cfg.prior.steps)
    extra = {} if devices is None else {"devices": devices, "num_nodes": 1, "strategy": "auto"}
    trainer = build_trainer(cfg, run_dir, subdir="prior/", max_steps=cfg.prior.steps,
                            enable_checkpointing=False, **extra)
    trainer.fit(module, datamodule=domain)
    if trainer.is_global_zero:
        save_prior(net, cfg, prior_path(cfg))
    return net


def build_prior(cfg, domain, process, run_dir):
    if cfg.prior.kind == "analytic":
        prior = domain.analytic_prior(process)
        if prior is None:
            raise ConfigError(f"domain {cfg.domain.name} has no analytic prior", "use prior.kind=trained")
        return prior
    if cfg.prior.pretrained_path:
        from .networks.diffusers_prior import load_diffusers_prior

        return load_diffusers_prior(cfg.prior.pretrained_path, domain.event_shape, cfg.process)
    path = prior_path(cfg)
    if path.is_file():
        return load_prior(build_network(cfg.prior.network, domain), path)
    print(f"[rtb] no cached prior at {path}: training it first ({cfg.prior.steps} steps)")
    # Trained in this process on one device, before any DDP launch, so that spawned ranks find it cached.
    torch.manual_seed(cfg.seed)
    net = train_prior(cfg, run_dir, devices=1)
    return net.cpu()


def build_posterior(cfg, prior, domain, process):
    classes = domain.num_classes if cfg.posterior.conditional else 0
    if cfg.posterior.init == "copy":
        if not any(True for _ in prior.parameters()):
            raise ConfigError("posterior.init=copy needs a prior with parameters (a network)",
                              "use posterior.init=residual with an analytic prior")
        if classes:
            return conditional_copy(cfg, prior, domain, classes)
        post = copy.deepcopy(prior)
        post.requires_grad_(True)
        return post
    return Residual(prior, build_network(cfg.posterior.network, domain, zero_init=True, num_classes=classes),
                    process.unit_shift if cfg.posterior.std_units else None)


def conditional_copy(cfg, prior, domain, num_classes):
    """The prior's architecture with a class input, initialised from the prior's weights; the class
    embedding starts at zero, so the copy's output equals the prior's for every class."""
    post = build_network(cfg.prior.network, domain, num_classes=num_classes)
    missing, unexpected = post.load_state_dict(prior.state_dict(), strict=False)
    if unexpected or any(not k.startswith("cond.") for k in missing):
        raise ConfigError("posterior.init=copy with posterior.conditional=true needs a prior built from prior.network",
                          "use posterior.init=residual")
    torch.nn.init.zeros_(post.cond.weight)
    return post.requires_grad_(True)


def build_module(cfg, domain, process, prior, posterior):
    e, b, m, s, pc = cfg.exploration, cfg.beta, cfg.method, cfg.sampling, cfg.posterior
    return RTBLightningModule(
        log_z=LogZ(domain.num_classes if pc.conditional else 0),
        process=process, prior=prior, posterior=posterior, reward=domain.log_reward, method=m.name,
        reference="backward" if m.name == "tb" else "prior",
        batch_size=pc.batch_size, lr=pc.lr, log_z_lr=pc.log_z_lr,
        fractions=(s.on_policy, s.buffer, s.prior),
        exploration=Schedule(e.std, e.end_std, e.hold_steps, e.decay_steps),
        beta=Schedule(b.start, b.end, 0, b.anneal_steps),
        loss_clip=m.loss_clip, kl_weight=m.kl_weight, chunk_size=pc.chunk_size,
        buffer=ReplayBuffer(cfg.buffer.capacity, cfg.buffer.prioritization, cfg.buffer.rank_k, cfg.buffer.eviction),
        log_r_min=cfg.reward.log_r_min, nonfinite=cfg.reward.nonfinite, grad_clip=pc.grad_clip,
        log_z_init_samples=pc.log_z_init_samples, seed=cfg.seed, reward_name=f"{cfg.domain.name}.log_reward",
        lr_decay=None if pc.lr_schedule == "constant" else Schedule(1.0, pc.lr_final_factor, 0, cfg.trainer.max_steps, "cosine"))


def check_method(cfg):
    """Combinations that cannot work, rejected before anything (prior training included) runs."""
    m = cfg.method.name
    if cfg.prior.kind == "trained" and cfg.process.kind != "vp":
        raise ConfigError("prior.kind=trained trains a DDPM prior and needs process.kind=vp",
                          "use process.kind=vp, or a reference/analytic prior")
    if m == "tb" and cfg.process.kind != "brownian":
        raise ConfigError("method=tb needs a reference process with a backward kernel", "set process.kind=brownian")
    if m in ("rl_kl", "ddpo") and (cfg.exploration.std > 0 or cfg.sampling.buffer > 0 or cfg.sampling.prior > 0):
        raise ConfigError(f"method={m} is an on-policy estimator",
                          "set exploration.std=0 sampling.buffer=0 sampling.prior=0")


def build_posterior_run(cfg, run_dir, start_time=None):
    """Everything for the posterior stage: (trainer, module, domain)."""
    check_method(cfg)
    domain = build_domain(cfg, "posterior")
    process = build_process(cfg, domain)
    build_reward(cfg, domain, run_dir)     # classifiers are trained or loaded before the prior: errors surface first
    prior = build_prior(cfg, domain, process, run_dir)
    posterior = build_posterior(cfg, prior, domain, process)
    module = build_module(cfg, domain, process, prior, posterior)
    callbacks = [
        EvaluationCallback(domain, run_dir, cfg.eval.every_n_steps, cfg.eval.num_samples, start_time),
        ModelCheckpoint(dirpath=str(run_dir / "checkpoints"), every_n_train_steps=cfg.checkpoint.every_n_steps,
                        save_last=True, save_top_k=1),
    ]
    trainer = build_trainer(cfg, run_dir, callbacks)
    return trainer, module, domain
