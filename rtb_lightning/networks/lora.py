"""LoRA posterior: a copy of the prior network with low-rank adapters (peft, optional extra).

Only the adapters train; peft initialises each adapter's B matrix to zero, so the posterior
starts exactly equal to the prior. Far fewer trainable parameters than posterior.init=copy, and
the same architecture as the prior, so it suits large pretrained (e.g. diffusers) priors.
"""
import copy

from torch import nn

from ..errors import ConfigError
from ..optional import require


def lora_posterior(prior: nn.Module, rank: int, alpha: float, target_modules, dropout: float = 0.0) -> nn.Module:
    peft = require("peft", "peft", "posterior.init=lora")
    names = [n for n, m in prior.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    targets = list(target_modules)
    if not targets or any(not any(n == t or n.endswith("." + t) for n in names) for t in targets):
        raise ConfigError(f"posterior.lora.target_modules={targets} must name Linear/Conv2d layers of the prior",
                          f"choose among the layer names (suffixes match), e.g. {sorted({n.split('.')[-1] for n in names})}")
    if rank < 1:
        raise ConfigError(f"posterior.lora.rank must be >= 1, got {rank}")
    post = copy.deepcopy(prior)
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
    post = peft.inject_adapter_in_model(config, post)
    for name, p in post.named_parameters():          # adapters only, whatever peft's defaults
        p.requires_grad_("lora_" in name)
    return post
