"""Config -> objects. Everything train.py needs is built here, validated before any training."""
import copy
import datetime
import os
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from .annealing import Schedule
from .callbacks import EvaluationCallback, PreemptionCheckpoint
from .checkpoint_io import atomic_checkpoint_io
from .distributed import launched_by_torchrun, launcher_rank_and_world, single_process_env
from .domains import DOMAINS
from .domains.images import ImageDomain
from .errors import ConfigError
from .generator_builders import generator_domains, latent_parts
from .local_search import LocalSearch
from .log_z import ConditionalLogZ, LogZ
from .module import RTBLightningModule
from .networks import DenoisedGuidance, EstimateGuidance, LangevinDrift, LearnedVariance, Residual, lora_posterior, StandardNormalEps, TimeMLP, TimeUNet, ZeroDrift, bound_output
from .prior_cache import load_prior, prior_path, save_prior
from .prior_module import DiffusionPriorModule
from .processes import MaskedProcess, PinnedBrownianProcess, VPProcess
from .replay_buffer import ReplayBuffer
from .reward_builders import build_reward


def resolve_run_dir(cfg) -> Path:
    """One run directory for all ranks: the launcher's children inherit it through the environment."""
    run_dir = cfg.run_dir or os.environ.get("RTB_RUN_DIR")
    if not run_dir:
        # A requeued SLURM job keeps its job id: it finds its own run directory (and checkpoints) again.
        # torchrun's ranks share its run id (their clocks may straddle a second).
        job, elastic = os.environ.get("SLURM_JOB_ID"), os.environ.get("TORCHELASTIC_RUN_ID")
        suffix = f"slurm{job}" if job else f"torchrun-{elastic}" if elastic else time.strftime('%Y%m%d-%H%M%S')
        run_dir = f"runs/{cfg.domain.name}-{cfg.method.name if cfg.stage == 'posterior' else cfg.stage}-{suffix}"
    os.environ["RTB_RUN_DIR"] = str(run_dir)
    return Path(run_dir)


def set_cpu_threads(cfg):
    """CPU processes on one machine share its cores: more threads than cores stalls them all."""
    if cfg.trainer.accelerator in ("cpu", "auto") and not torch.cuda.is_available():
        devices = cfg.trainer.devices if isinstance(cfg.trainer.devices, int) else 1
        if devices > 1 or "LOCAL_WORLD_SIZE" in os.environ:
            per_node = max(devices, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_node))


def build_domain(cfg, stage, run_dir=None):
    kw = {k: v for k, v in OmegaConf.to_container(cfg.domain).items() if k != "name"}
    batch = cfg.prior.batch_size if stage == "prior" else cfg.posterior.batch_size
    cls = DOMAINS[cfg.domain.name]
    if getattr(cls, "is_generator", False) != (stage == "generator"):
        raise ConfigError(f"stage={stage} does not run on domain={cfg.domain.name}" if stage != "generator" else
                          f"stage=generator needs a generator domain; {cfg.domain.name} is not one",
                          f"generator domains ({', '.join(generator_domains())}) are trained with stage=generator "
                          f"and used with domain=latent generator=<name>")
    if getattr(cls, "owns_reward", False):        # domain=latent: the frozen generator and its reward
        kw.update(latent_parts(cfg, Path(run_dir or cfg.run_dir or os.environ.get("RTB_RUN_DIR") or "runs/latent")))
    if issubclass(cls, ImageDomain):      # image domains: target classes, conditioning, data folder
        kw.update(classes=OmegaConf.to_container(cfg.reward.classes) if cfg.reward.classes is not None else None,
                  conditional=cfg.posterior.conditional)
        if getattr(cls, "needs_data_path", False):
            kw["path"] = cfg.data.path
    elif cfg.posterior.conditional:
        raise ConfigError(f"posterior.conditional=true needs a domain with classes; {cfg.domain.name} has none",
                          "use domain=digits or domain=mnist")
    if getattr(cls, "uses_data", False):          # domains that read a user's corpus file (data.path)
        kw["data"] = OmegaConf.to_container(cfg.data)
    elif cfg.data.path and not getattr(cls, "needs_data_path", False):
        raise ConfigError(f"domain {cfg.domain.name} does not read data.path",
                          "use domain=mnist (IDX folder), domain=text (corpus file) or domain=offline_rl (HDF5), "
                          "or drop data.path")
    if getattr(cls, "uses_cache_dir", False):     # domains that cache what they generate (control: the dataset)
        kw["cache_dir"] = cfg.cache_dir
    return cls(batch_size=batch, stage=stage, **kw)


def build_process(cfg, domain):
    p = cfg.process
    if p.kind == "masked":
        if not hasattr(domain, "vocab_size"):
            raise ConfigError(f"process.kind=masked needs a token domain; {cfg.domain.name} is continuous",
                              "use domain=text, or process.kind=vp")
        if not 1 <= p.num_steps <= domain.event_shape[0]:
            raise ConfigError(f"process.num_steps={p.num_steps} must be between 1 and the middle's length "
                              f"{domain.event_shape[0]} (each step unmasks at least one token)")
        return MaskedProcess(domain.event_shape[0], domain.vocab_size, p.num_steps)
    if hasattr(domain, "vocab_size"):
        raise ConfigError(f"domain {cfg.domain.name} has token states and needs process.kind=masked")
    if p.kind == "vp":
        return VPProcess(domain.event_shape, p.num_steps, p.num_train_steps, p.schedule, p.variance, p.min_std)
    return PinnedBrownianProcess(domain.event_shape, p.num_steps, p.t_scale, cfg.sampler.log_var_range)


def build_network(net_cfg, domain, zero_init=False, role="prior", num_classes=0):
    """network.kind: mlp (TimeMLP, any event shape) | unet (TimeUNet, images (C, H, W)); token domains
    build their own (transformers)."""
    if hasattr(domain, "build_network"):
        return domain.build_network(net_cfg, zero_init=zero_init, role=role)
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


def build_trainer(cfg, run_dir, callbacks=(), subdir="", timed=False, **overrides):
    kw = {**OmegaConf.to_container(cfg.trainer), **overrides}
    # trainer.max_time bounds the main run only: a cached model is trained in full or not at all
    kw["max_time"] = max_time(cfg) if timed else None
    if launched_by_torchrun() and "devices" not in overrides:
        # torchrun decides the process layout; the Trainer must agree with it.
        local, world = int(os.environ["LOCAL_WORLD_SIZE"]), int(os.environ["WORLD_SIZE"])
        kw.update(devices=local, num_nodes=world // local,
                  strategy="ddp" if kw["strategy"] == "auto" and world > 1 else kw["strategy"])
    logger = TensorBoardLogger(str(run_dir), name=f"{subdir}tensorboard", version="", default_hp_metric=False)
    plugins = [atomic_checkpoint_io()]
    from lightning.pytorch.plugins.environments import SLURMEnvironment
    if SLURMEnvironment.detect():
        # SIGUSR1 (sbatch --signal=SIGUSR1@90) -> Lightning saves hpc_ckpt_N.ckpt and requeues the job.
        import signal
        plugins.append(SLURMEnvironment(auto_requeue=cfg.slurm.auto_requeue, requeue_signal=signal.SIGUSR1))
    return L.Trainer(logger=logger, callbacks=list(callbacks), default_root_dir=str(run_dir), plugins=plugins, **kw)


def max_time(cfg):
    """trainer.max_time as Lightning takes it: seconds (a number) or "DD:HH:MM:SS" -> timedelta."""
    v = cfg.trainer.max_time
    if v is None:
        return None
    fix = 'give seconds (trainer.max_time=3600) or DD:HH:MM:SS (trainer.max_time="00:01:00:00")'
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return datetime.timedelta(seconds=v)
    parts = v.split(":") if isinstance(v, str) else []
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ConfigError(f"trainer.max_time={v!r} is neither a positive number of seconds nor DD:HH:MM:SS", fix)
    d, h, m, s = map(int, parts)
    return datetime.timedelta(days=d, hours=h, minutes=m, seconds=s)


def train_prior(cfg, run_dir, devices=None):
    """The prior stage: DDPM training on the domain's data; the result is written to the cache."""
    if cfg.process.kind not in ("vp", "masked"):
        raise ConfigError("the prior stage trains a diffusion network and needs process.kind=vp (or masked for text)")
    domain = build_domain(cfg, "prior")
    process = build_process(cfg, domain)
    net = build_network(cfg.prior.network, domain)
    module = DiffusionPriorModule(process, domain.prior_trainee(net), cfg.prior.lr, cfg.prior.steps)
    extra = {} if devices is None else {"devices": devices, "num_nodes": 1, "strategy": "auto"}
    trainer = build_trainer(cfg, run_dir, subdir="prior/", max_steps=cfg.prior.steps,
                            enable_checkpointing=False, **extra)
    trainer.fit(module, datamodule=domain)
    if trainer.is_global_zero:
        save_prior(net, cfg, prior_path(cfg), domain.state_dict())
    return net


def train_reward_model(cfg, run_dir):
    """stage=reward_model: a domain's learned reward (text: the autoregressive LM), trained and cached."""
    domain = build_domain(cfg, "reward_model")
    if not hasattr(domain, "prepare"):
        raise ConfigError(f"domain {cfg.domain.name} has no learned reward model", "use domain=text")
    from .text.reward_model import train_reward_model as train

    return train(cfg, domain, run_dir, _reward_trainer_factory(cfg, run_dir))


def _reward_trainer_factory(cfg, run_dir, subdir="reward_model/"):
    return lambda max_steps: build_trainer(cfg, run_dir, subdir=subdir, max_steps=max_steps,
                                           enable_checkpointing=False, devices=1, num_nodes=1, strategy="auto")


def _control_domain(cfg, stage):
    domain = build_domain(cfg, stage)
    if not hasattr(domain, "critic_cfg"):
        raise ConfigError(f"stage={stage} is for offline RL domains; {cfg.domain.name} is not one",
                          "use domain=pendulum or domain=offline_rl")
    return domain


def make_dataset(cfg):
    """stage=dataset: load (or generate and cache) the offline dataset and print what it holds."""
    domain = _control_domain(cfg, "dataset")
    d = domain.data
    print(f"[rtb] {domain.env_id}: {len(d)} transitions, observations {d.obs_dim}-d, actions {d.act_dim}-d, "
          f"mean reward {d.rewards.mean().item():.3f}, {int(d.terminals.sum())} terminals, {int(d.timeouts.sum())} timeouts")
    return domain


def train_critic_stage(cfg, run_dir):
    """stage=critic: IQL (expectile V, twin Q by TD, the AWR baseline policy), trained and cached."""
    from .control.critic import train_critic

    domain = _control_domain(cfg, "critic")
    return train_critic(cfg, domain, run_dir, _reward_trainer_factory(cfg, run_dir, "critic/"))


def reference_prior(process):
    """The uncontrolled process as a network (prior.kind=reference)."""
    return ZeroDrift() if isinstance(process, PinnedBrownianProcess) else StandardNormalEps(process.alpha_bar)


def build_prior(cfg, domain, process, run_dir):
    if cfg.prior.kind == "reference":
        return reference_prior(process)
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
        return load_prior(build_network(cfg.prior.network, domain), path, domain)
    rank, world = launcher_rank_and_world()
    if rank > 0:                     # torchrun / srun: rank 0 trains it, the others wait for the file
        return load_prior(build_network(cfg.prior.network, domain), wait_for_file(path, cfg.prior.wait_s), domain)
    print(f"[rtb] no cached prior at {path}: training it first ({cfg.prior.steps} steps)")
    # One plain process on one device: before a Lightning DDP launch (spawned ranks then find it
    # cached), or, under torchrun/srun, with the launcher's variables hidden from Lightning.
    torch.manual_seed(cfg.seed)
    with single_process_env():
        net = train_prior(cfg, run_dir, devices=1)
    return net.cpu()


def wait_for_file(path, timeout_s):
    print(f"[rtb] waiting up to {timeout_s:.0f} s for rank 0 to train and cache the prior at {path}")
    deadline = time.time() + timeout_s
    while not path.is_file():
        if time.time() > deadline:
            raise ConfigError(f"no prior appeared at {path} within {timeout_s:.0f} s",
                              "train it first (python train.py stage=prior ...), with cache_dir on a file system "
                              "all nodes see; or raise prior.wait_s")
        time.sleep(2.0)
    return path


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
    if cfg.posterior.init == "lora":
        if classes or not any(True for _ in prior.parameters()):
            raise ConfigError("posterior.init=lora needs an unconditional posterior over a prior network",
                              "use posterior.init=copy or residual (posterior.conditional=true, analytic priors)")
        lc = cfg.posterior.lora
        return lora_posterior(prior, lc.rank, lc.alpha, list(lc.target_modules), lc.dropout)
    correction = build_network(cfg.posterior.network, domain, zero_init=True, role="posterior",
                               num_classes=classes)
    if cfg.posterior.drift_max > 0:                 # the network only: a Langevin term's pull stays unbounded
        correction = bound_output(correction, cfg.posterior.drift_max)
    base, sc, guidance = domain.posterior_base(prior), cfg.sampler, None
    follow = process.output_sign if sc.langevin and sc.langevin_sign == "follow" else 0   # the sign of s that climbs log r
    if sc.langevin and sc.langevin_at == "denoised":
        guidance = DenoisedGuidance(base, domain.log_reward, process.alpha_bar, domain.event_shape, sc.langevin_init,
                                    sc.langevin_clip, cfg.posterior.network.time_dim, cfg.posterior.network.hidden,
                                    bool(follow))
    if sc.langevin and sc.langevin_at in ("estimate", "both"):
        guidance = EstimateGuidance(domain.log_reward, process.alpha_bar, process.unit_shift, domain.event_shape,
                                    sc.langevin_init, sc.langevin_clip, cfg.posterior.network.time_dim,
                                    cfg.posterior.network.hidden, follow)
    if sc.langevin and sc.langevin_at in ("noisy", "both"):
        correction = LangevinDrift(correction, domain.log_reward, domain.event_shape, sc.langevin_clip,
                                   cfg.posterior.network.time_dim, cfg.posterior.network.hidden, sc.langevin_init,
                                   sc.langevin_max, follow)
    post = Residual(base, correction, process.unit_shift if cfg.posterior.std_units else None, guidance)
    if cfg.sampler.learned_variance:
        post = LearnedVariance(post, build_network(cfg.posterior.network, domain, zero_init=True))
    return post


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



def build_local_search(cfg, domain):
    s = cfg.sampler
    if not s.local_search:
        return None
    return LocalSearch(domain.log_reward, s.ls_every, s.ls_chains or cfg.posterior.batch_size, s.ls_steps,
                       s.ls_burn_in, s.ls_step_size, s.ls_target_accept, s.ls_keep_every)


def build_module(cfg, domain, process, prior, posterior, failure_dir=None):
    e, b, m, s, pc = cfg.exploration, cfg.beta, cfg.method, cfg.sampling, cfg.posterior
    # A density domain's reward is the whole target: trajectories are weighed by the reference's
    # backward kernel (TB), whatever the objective's log Z treatment.
    density = getattr(domain, "reward_is_density", False)
    return RTBLightningModule(
        process, prior, posterior, domain.log_reward, method=m.name,
        reference="backward" if m.name == "tb" or density else "prior", local_search=build_local_search(cfg, domain),
        batch_size=pc.batch_size, lr=pc.lr, log_z_lr=pc.log_z_lr,
        fractions=(s.on_policy, s.buffer, s.prior, s.target), target_proposals=s.target_proposals,
        target_nll=target_nll_schedule(s),
        exploration=Schedule(e.std, e.end_std, e.hold_steps, e.decay_steps),
        beta=Schedule(b.start, b.end, 0, b.anneal_steps),
        loss_clip=m.loss_clip, huber=m.get("huber", 0.0), kl_weight=m.kl_weight, chunk_size=pc.chunk_size,
        buffer=ReplayBuffer(cfg.buffer.capacity, cfg.buffer.prioritization, cfg.buffer.rank_k, cfg.buffer.eviction,
                            cfg.buffer.seed_share),
        log_r_min=cfg.reward.log_r_min, nonfinite=cfg.reward.nonfinite, grad_clip=pc.grad_clip,
        log_z_init_samples=pc.log_z_init_samples, seed=posterior_seed(cfg), reward_name=f"{cfg.domain.name}.log_reward",
        lr_decay=None if pc.lr_schedule == "constant" else Schedule(1.0, pc.lr_final_factor, 0, cfg.trainer.max_steps, "cosine"),
        max_consecutive_nonfinite=cfg.faults.max_consecutive_nonfinite, reward_retries=cfg.reward.retries,
        failure_dir=failure_dir, share_buffer=cfg.buffer.share_across_ranks,
        log_z=build_log_z(cfg, domain), buffer_seed_prior=cfg.buffer.seed_prior,
        scale_lr=None if cfg.sampler.langevin_lr is None else float(cfg.sampler.langevin_lr))


def target_nll_schedule(s):
    """sampling.target_nll, constant or (with target_nll_end) held then ramped linearly to the end weight."""
    if s.target_nll_end is None:
        return s.target_nll
    return Schedule(s.target_nll, s.target_nll_end, s.target_nll_hold_steps, s.target_nll_decay_steps)


def build_log_z(cfg, domain):
    """posterior.log_z: scalar (one value; a per-class table for posterior.conditional=true) or network
    (log Z(cond), amortised over conditions)."""
    if cfg.posterior.log_z == "scalar":
        return LogZ(domain.num_classes) if cfg.posterior.conditional else None
    if not hasattr(domain, "log_z_network"):
        raise ConfigError(f"posterior.log_z=network needs a conditional domain; {cfg.domain.name} has none",
                          "use posterior.log_z=scalar")
    return ConditionalLogZ(domain.log_z_network())


def posterior_seed(cfg):
    """The fine-tuning's seed: posterior.seed, or the run's seed when it is null. Only `seed` keys the cached prior
    and classifiers, so runs that differ in posterior.seed share them."""
    ps = cfg.posterior.get("seed")
    if ps is None:
        return cfg.seed
    if isinstance(ps, bool) or not isinstance(ps, int) or ps < 0:
        raise ConfigError(f"posterior.seed={ps!r} must be null or a non-negative integer",
                          "e.g. posterior.seed=1 (null: the run's seed)")
    return ps


def check_method(cfg):
    """Combinations that cannot work, rejected before anything (prior training included) runs."""
    m = cfg.method.name
    max_time(cfg)
    posterior_seed(cfg)
    if cfg.prior.kind == "trained" and cfg.process.kind not in ("vp", "masked"):
        raise ConfigError("prior.kind=trained trains a DDPM prior and needs process.kind=vp",
                          "use process.kind=vp, or a reference/analytic prior")
    if cfg.process.kind == "masked" and cfg.posterior.init == "copy":
        raise ConfigError("a copy of the text prior would hide the end of the story (the prior is p(middle | beginning))",
                          "use posterior.init=residual (the prior, or the prior shown the end with "
                          "domain.posterior_start=prompted, + a correction that reads beginning and end)")
    if m == "tb" and cfg.process.kind != "brownian":
        raise ConfigError("method=tb needs a reference process with a backward kernel", "set process.kind=brownian")
    density = getattr(DOMAINS[cfg.domain.name], "reward_is_density", False)
    if density and (cfg.process.kind != "brownian" or cfg.prior.kind != "reference"):
        raise ConfigError(f"domain {cfg.domain.name} is an unnormalised density: it is sampled against the "
                          "Brownian reference", "set process.kind=brownian prior.kind=reference")
    if density and m == "rl_kl":
        raise ConfigError("method=rl_kl fine-tunes against a prior; a density domain has none", "use method=tb or vargrad")
    if cfg.sampler.learned_variance and (cfg.process.kind != "brownian" or cfg.posterior.init != "residual"):
        raise ConfigError("sampler.learned_variance needs process.kind=brownian and posterior.init=residual")
    at = cfg.sampler.langevin_at
    if cfg.sampler.langevin and at in ("denoised", "estimate", "both") and cfg.process.kind != "vp":
        raise ConfigError(f"sampler.langevin_at={at} takes the reward's gradient at a DDPM prior's denoised "
                          f"estimate and needs process.kind=vp (this run: {cfg.process.kind})",
                          "use sampler.langevin_at=noisy")
    if cfg.checkpoint.keep == 0 or cfg.checkpoint.keep < -1:
        raise ConfigError(f"checkpoint.keep={cfg.checkpoint.keep} keeps no periodic checkpoint",
                          "use a count >= 1, or -1 to keep every one")
    if cfg.posterior.drift_max < 0 or (cfg.posterior.drift_max > 0 and cfg.posterior.init != "residual"):
        raise ConfigError(f"posterior.drift_max={cfg.posterior.drift_max} bounds the correction network of "
                          f"posterior.init=residual (this run: {cfg.posterior.init}) and must be >= 0",
                          "set posterior.drift_max=0 (unbounded), or a positive bound with posterior.init=residual")
    bound, sc = cfg.sampler.langevin_max, cfg.sampler
    if bound < 0 or (sc.langevin and sc.langevin_at in ("noisy", "both") and 0 < bound <= abs(sc.langevin_init)):
        raise ConfigError(f"sampler.langevin_max={bound} must be 0 (unbounded) or above |sampler.langevin_init| "
                          f"({abs(sc.langevin_init)})", "raise sampler.langevin_max or lower sampler.langevin_init")
    if sc.langevin and sc.langevin_at in ("denoised", "estimate") and bound > 0:
        raise ConfigError("sampler.langevin_max bounds the noisy-state term only (sampler.langevin_at=noisy)",
                          f"set sampler.langevin_max=0 with sampler.langevin_at={sc.langevin_at}")
    if sc.langevin_sign not in ("free", "follow") or (sc.langevin_sign == "follow" and sc.langevin_init < 0):
        raise ConfigError(f"sampler.langevin_sign={sc.langevin_sign!r} must be free or follow; follow takes "
                          f"sampler.langevin_init >= 0 as the scale's magnitude (this run: {sc.langevin_init})",
                          "set sampler.langevin_sign=free|follow, and a non-negative langevin_init with follow")
    lr = sc.langevin_lr
    # Not an error without sampler.langevin: digits.yaml sets it, and rl_kl/ddpo or a user turn the term off.
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0):
        raise ConfigError(f"sampler.langevin_lr={lr!r} must be a positive number (the Langevin scales' lr)",
                          "e.g. sampler.langevin_lr=0.05, or null for posterior.lr")
    if cfg.sampler.langevin and cfg.posterior.init != "residual":
        raise ConfigError("sampler.langevin (on by default for domain=digits) adds a term to the residual correction network",
                          "use posterior.init=residual, or set sampler.langevin=false")
    if (cfg.sampler.langevin or cfg.sampler.local_search) and m == "rl_kl":
        raise ConfigError("sampler.langevin / sampler.local_search are for off-policy samplers", "use method=tb or vargrad")
    if cfg.sampler.local_search and cfg.sampling.buffer <= 0:
        raise ConfigError("sampler.local_search pushes samples into the replay buffer, but sampling.buffer=0 never trains on them",
                          "set sampling.buffer (e.g. 0.5)")
    if cfg.buffer.seed_prior and cfg.sampling.buffer <= 0:
        raise ConfigError(f"buffer.seed_prior={cfg.buffer.seed_prior} fills the replay buffer, but sampling.buffer=0 never trains on it",
                          "set sampling.buffer (e.g. 0.3)")
    share = cfg.buffer.seed_share
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1):
        raise ConfigError(f"buffer.seed_share={share!r} must be null or a number in [0, 1] (the seeded samples' share "
                          "of every replay draw)", "e.g. buffer.seed_share=0.5, or null to mix them with the rest")
    if cfg.buffer.seed_prior < 0:
        raise ConfigError(f"buffer.seed_prior={cfg.buffer.seed_prior} is negative", "use 0 (off) or a number of prior samples, e.g. 5000")
    if m in ("rl_kl", "ddpo") and (cfg.exploration.std > 0 or cfg.sampling.buffer > 0 or cfg.sampling.prior > 0
                                   or cfg.sampling.target > 0):
        raise ConfigError(f"method={m} is an on-policy estimator",
                          "set exploration.std=0 sampling.buffer=0 sampling.prior=0 sampling.target=0")
    check_sampling(cfg, density)


def check_sampling(cfg, density):
    """The batch mix (sampling.*) and the target-path bank."""
    s, keys = cfg.sampling, ("on_policy", "buffer", "prior", "target")
    for key in keys:
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"sampling.{key}={v!r} must be a non-negative number (a share of each batch)",
                              f"e.g. sampling.{key}=0.2")
    if sum(s[k] for k in keys) <= 0:
        raise ConfigError("sampling.on_policy, buffer, prior and target are all 0: no trajectory to train on",
                          "e.g. sampling.on_policy=1")
    for key in ("target_nll", "target_nll_end"):
        w = s[key]
        if key == "target_nll_end" and w is None:
            continue
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 or (w > 0 and s.target <= 0):
            raise ConfigError(f"sampling.{key}={w!r} must be a non-negative number, and > 0 only with sampling.target > 0 "
                              f"(it weighs the likelihood of the target-path bank; this run: sampling.target={s.target})",
                              f"e.g. sampling.target=0.3 sampling.{key}=1, or sampling.{key}=0")
    for key in ("target_nll_hold_steps", "target_nll_decay_steps"):
        n = s[key]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"sampling.{key}={n!r} must be a non-negative whole number of steps",
                              f"e.g. sampling.{key}=200")
    if s.target <= 0:
        return
    if density or cfg.method.name == "tb":
        raise ConfigError(f"sampling.target weighs prior rollouts by r^beta; domain {cfg.domain.name} with method="
                          f"{cfg.method.name} is scored against a reference process, whose rollouts are not the target's paths",
                          "set sampling.target=0 (use the replay buffer and local search instead)")
    n = s.target_proposals
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"sampling.target_proposals={n!r} must be a positive whole number of prior rollouts",
                          "e.g. sampling.target_proposals=5000")


def build_posterior_run(cfg, run_dir, start_time=None):
    """Everything for the posterior stage: (trainer, module, domain)."""
    check_method(cfg)
    domain = build_domain(cfg, "posterior", run_dir)
    process = build_process(cfg, domain)
    build_reward(cfg, domain, run_dir)     # classifiers are trained or loaded before the prior: errors surface first
    prior = build_prior(cfg, domain, process, run_dir)
    if hasattr(domain, "prepare"):                # a learned reward (text: the AR model), cached like the prior
        domain.prepare(cfg, run_dir, _reward_trainer_factory(cfg, run_dir, getattr(domain, "prepare_subdir", "reward_model/")))
    if cfg.posterior.seed is not None:     # a stream of its own from here on; null keeps the run's stream as it was
        torch.manual_seed(posterior_seed(cfg))
    posterior = build_posterior(cfg, prior, domain, process)
    module = build_module(cfg, domain, process, prior, posterior, failure_dir=str(run_dir))
    make_eval = getattr(domain, "evaluation_callback", None)
    # Lightning >= 2.6 warns (with a long example) that manual-optimisation checkpoints hold the state after
    # the step: that is what resume needs here (global_step counts the steps already applied).
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")   # the frozen prior, by design
    callbacks = [
        (make_eval or (lambda *a: EvaluationCallback(domain, *a)))(run_dir, cfg.eval.every_n_steps, cfg.eval.num_samples,
                                                                    start_time),
        ModelCheckpoint(dirpath=str(run_dir / "checkpoints"), every_n_train_steps=cfg.checkpoint.every_n_steps,
                        save_last=True, save_top_k=cfg.checkpoint.keep, monitor="step", mode="max"),
        PreemptionCheckpoint(run_dir / "checkpoints"),
    ]
    trainer = build_trainer(cfg, run_dir, callbacks, timed=True)
    return trainer, module, domain
