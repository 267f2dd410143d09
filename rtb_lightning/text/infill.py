"""Infill new text with a trained posterior: rebuild the run from its config, load its checkpoint.

    from rtb_lightning.text.infill import Infiller
    inf = Infiller("runs/text-rtb-...")                 # uses config.yaml and checkpoints/last.ckpt
    inf("anna went to the park .", "tom loved the red kite .", n=4)   # -> 4 middles (strings)
"""
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ..errors import UserError


class Infiller:
    def __init__(self, run_dir, checkpoint=None):
        from ..builders import build_domain, build_log_z, build_module, build_posterior, build_prior, build_process

        run_dir = Path(run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"no config.yaml in {run_dir}", "pass the run directory of a domain=text training run")
        cfg = OmegaConf.load(run_dir / "config.yaml")
        ckpt_path = Path(checkpoint) if checkpoint else run_dir / "checkpoints" / "last.ckpt"
        if not ckpt_path.is_file():
            raise UserError(f"checkpoint not found: {ckpt_path}", "train first, or pass checkpoint=")
        self.domain = build_domain(cfg, "posterior")
        process = build_process(cfg, self.domain)
        prior = build_prior(cfg, self.domain, process, run_dir)
        self.module = build_module(cfg, self.domain, process, prior, build_posterior(cfg, prior, self.domain, process))
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        self.domain.load_state_dict(ckpt.get(type(self.domain).__qualname__), where=f"checkpoint {ckpt_path}")
        self.module.on_load_checkpoint(ckpt)
        self.module.load_state_dict(ckpt["state_dict"])
        self.module.eval()

    @torch.no_grad()
    def __call__(self, beginning: str, end: str, n: int = 1, temperature: float = 1.0):
        cond = self.domain.condition(beginning, end).repeat(n, 1)
        states, _ = self.module.sample(n, cond, extra_std=temperature - 1.0)
        return [self.domain.decode(x) for x in states[:, -1]]
