"""Exact optimal-transport distances between two equal-weight sample sets, via POT.

emd: Wasserstein-1 (Euclidean cost); w2_sq: squared Wasserstein-2 (squared Euclidean cost).
"""
import torch

from ..optional import require


def _exact_ot(x, y, metric):
    ot = require("ot", "POT", "exact EMD")
    import numpy as np

    a = x.detach().double().cpu().numpy()
    b = y.detach().double().cpu().numpy()
    cost = ot.dist(a, b, metric=metric)
    return float(ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), cost, numItermax=10_000_000))


def emd(x: torch.Tensor, y: torch.Tensor) -> float:
    return _exact_ot(x, y, "euclidean")


def w2_sq(x: torch.Tensor, y: torch.Tensor) -> float:
    """W2^2 = min over couplings of E|x - y|^2 (exact, on the empirical measures)."""
    return _exact_ot(x, y, "sqeuclidean")
