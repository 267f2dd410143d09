"""Importance-sampling diagnostics of a sampler with known log Z.

log_w = log R(x) + sum log p_B - sum log p_F per trajectory (the log weight of the target's path
measure against the sampler's): its mean is the ELBO, its log-mean-exp the importance-weighted
estimate of log Z, and its spread gives the effective sample size.
"""
import math

import torch


def effective_sample_size(log_w: torch.Tensor) -> float:
    """(sum w)^2 / sum w^2, computed stably; equals n for equal weights, 1 for one dominant weight."""
    log_w = log_w.double()
    return float(torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)))


def importance_metrics(log_w: torch.Tensor, log_z_true: float) -> dict:
    log_w = log_w.double()
    elbo = log_w.mean().item()
    iw = (torch.logsumexp(log_w, 0) - math.log(len(log_w))).item()
    ess = effective_sample_size(log_w)
    return {"log_z_error": abs(log_z_true - elbo), "log_z_iw_error": abs(log_z_true - iw),
            "ess": ess, "ess_frac": ess / len(log_w)}
