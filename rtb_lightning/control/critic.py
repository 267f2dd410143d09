"""The critic stage: IQL on the domain's transitions, cached under cache_dir (control/cache.py)."""
import torch

from ..cached_model import load_cached, save_cached
from .cache import critic_path
from .iql import Critic, IQLModule


def build_critic(domain):
    c = domain.critic_cfg
    return Critic(domain.obs_dim, domain.event_shape[0], c["hidden"], c["layers"])


def train_critic(cfg, domain, run_dir, trainer_factory):
    c = domain.critic_cfg
    torch.manual_seed(cfg.seed)
    critic = build_critic(domain)
    module = IQLModule(critic, c["lr"], c["gamma"], c["expectile"], c["tau"], c["awr_beta"], c["max_weight"], c["steps"])
    stage, domain.stage = domain.stage, "critic"
    trainer = trainer_factory(max_steps=c["steps"])
    trainer.fit(module, train_dataloaders=domain.train_dataloader())
    domain.stage = stage
    critic = critic.cpu()
    if trainer.is_global_zero:
        save_cached(critic, domain, cfg, critic_path(cfg))
    return critic


def load_critic(domain, path):
    return load_cached(path, "critic", domain, build_critic, "domain.critic")


def load_or_train_critic(cfg, domain, run_dir, trainer_factory):
    path = critic_path(cfg)
    if path.is_file():
        return load_critic(domain, path)
    print(f"[rtb] no cached critic at {path}: training it first ({domain.critic_cfg['steps']} IQL steps)")
    return train_critic(cfg, domain, run_dir, trainer_factory)
