"""Evidence upper bound from ground-truth samples: EUBO = E_{x ~ target, tau ~ p_B(.|x)}[log R(x) + log p_B - log p_F] >= log Z."""
import torch


@torch.no_grad()
def eubo(module, x_true: torch.Tensor, batch_size: int = 0) -> float:
    """`module` is an RTBLightningModule whose reference has a backward kernel (TB against a reference)."""
    batch_size = batch_size or module.batch_size
    parts = []
    for xb in x_true.split(batch_size):
        states = module.process.sample_backward(xb)
        g = module.reward_log_r(xb, None)
        w = g.log_r + module.log_ref(states) - module.log_post(states)
        parts.append(w[g.keep])
    return torch.cat(parts).double().mean().item()
