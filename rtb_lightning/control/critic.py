"""The critic stage: IQL on the domain's transitions, cached under cache_dir (control/cache.py)."""
import torch
from omegaconf import OmegaConf

from ..checkpoint_io import atomic_torch_save
from ..errors import UserError
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
        atomic_torch_save({"state_dict": critic.state_dict(), "domain_state": domain.state_dict(),
                           "config": OmegaConf.to_container(cfg, resolve=True)}, critic_path(cfg))
    return critic


def load_critic(domain, path):
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UserError(f"cannot read critic {path}: {e}", "delete it to retrain") from None
    domain.load_state_dict(blob.get("domain_state"), where=f"critic {path}")
    critic = build_critic(domain)
    try:
        critic.load_state_dict(blob["state_dict"])
    except RuntimeError:
        raise UserError(f"critic {path} does not fit domain.critic settings",
                        "use the settings it was trained with, or delete it to retrain") from None
    return critic


def load_or_train_critic(cfg, domain, run_dir, trainer_factory):
    path = critic_path(cfg)
    if path.is_file():
        return load_critic(domain, path)
    print(f"[rtb] no cached critic at {path}: training it first ({domain.critic_cfg['steps']} IQL steps)")
    return train_critic(cfg, domain, run_dir, trainer_factory)
