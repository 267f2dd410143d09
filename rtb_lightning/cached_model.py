"""A network trained by a stage and cached with the domain state it needs (e.g. a tokenizer or
normalisation statistics): one file format and one set of error messages for every such cache."""
import torch
from omegaconf import OmegaConf

from .checkpoint_io import atomic_torch_save
from .errors import UserError


def save_cached(net, domain, cfg, path):
    atomic_torch_save({"state_dict": net.state_dict(), "domain_state": domain.state_dict(),
                       "config": OmegaConf.to_container(cfg, resolve=True)}, path)


def load_cached(path, what, domain, build, settings):
    """Restore the domain state, then build(domain) and load the weights; `what` and `settings`
    name the file and the config section it must match in the errors."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UserError(f"cannot read {what} {path}: {e}", "delete it to retrain") from None
    domain.load_state_dict(blob.get("domain_state"), where=f"{what} {path}")
    net = build(domain)
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError:
        raise UserError(f"{what} {path} does not fit {settings} settings",
                        "use the settings it was trained with, or delete it to retrain") from None
    return net
