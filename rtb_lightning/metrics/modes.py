"""Mode statistics of samples around known mode centres."""
import torch


def mode_weights(x, centres):
    """Fraction of samples whose nearest centre is each centre."""
    nearest = torch.cdist(x, centres.to(x.device, x.dtype)).argmin(1)
    return torch.bincount(nearest, minlength=len(centres)).to(x.dtype) / len(x)


def mode_tv(x, centres, target_weights):
    """Total variation between the empirical nearest-centre weights and the target weights."""
    return 0.5 * (mode_weights(x, centres) - target_weights.to(x.device, x.dtype)).abs().sum().item()


def off_mode_fraction(x, centres, radius: float):
    """Fraction of samples farther than `radius` from every centre."""
    return (torch.cdist(x, centres.to(x.device, x.dtype)).min(1).values > radius).to(x.dtype).mean().item()
