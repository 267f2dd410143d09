"""Estimates of log Z from posterior samples: ELBO (lower bound) and importance-weighted."""
import math

import torch


def log_z_estimates(log_pf, log_ref, log_r, beta=1.0):
    """log_pf, log_ref: per-trajectory sums; returns (elbo, iw, kl_post_prior) as floats."""
    w = beta * log_r + log_ref - log_pf
    iw = torch.logsumexp(w, 0) - math.log(len(w))
    return w.mean().item(), iw.item(), (log_pf - log_ref).mean().item()
