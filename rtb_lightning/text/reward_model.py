"""The reward model of the text domain: a small autoregressive LM over whole stories, trained in
framework (`stage=reward_model`) and cached like the prior; log r = log p_AR(end | beginning, middle)."""
import hashlib
import json
import math
from pathlib import Path

import lightning as L
import torch
from omegaconf import OmegaConf

from ..cached_model import load_cached, save_cached
from ..networks.transformer import CausalLM


class CausalLMModule(L.LightningModule):
    def __init__(self, net, lr=2e-3, total_steps=1000, warmup_steps=50):
        super().__init__()
        self.net, self.lr, self.total_steps, self.warmup_steps = net, lr, total_steps, warmup_steps

    def training_step(self, batch, batch_idx):
        loss = -self.net(batch).mean()          # nats per token
        self.log("reward_model/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)

        def factor(step):
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            frac = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))

        return {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(opt, factor),
                                                   "interval": "step"}}


def build_reward_net(domain):
    rm = domain.reward_model_cfg
    return CausalLM(len(domain.tokenizer), domain.story_len, rm["hidden"], rm["layers"], rm["heads"])


def reward_model_path(cfg) -> Path:
    ignore = ("eval", "samples_per_context", "prior_end_visible", "posterior_start")    # they do not shape the AR model
    parts = {"domain": {k: v for k, v in OmegaConf.to_container(cfg.domain).items() if k not in ignore},
             "data": OmegaConf.to_container(cfg.data), "seed": cfg.seed}
    return Path(cfg.cache_dir) / f"{cfg.domain.name}-reward-{hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]}.pt"


def train_reward_model(cfg, domain, run_dir, trainer_factory):
    """Fit the AR model on the training stories and cache it (with the tokenizer)."""
    rm = domain.reward_model_cfg
    net = build_reward_net(domain)
    module = CausalLMModule(net, rm["lr"], rm["steps"])
    trainer = trainer_factory(max_steps=rm["steps"])
    trainer.fit(module, train_dataloaders=domain.story_loader(rm["batch_size"]))
    if trainer.is_global_zero:
        save_cached(net, domain, cfg, reward_model_path(cfg))
    return net


def load_reward_model(domain, path):
    return load_cached(path, "reward model", domain, build_reward_net, "domain.reward_model")
