"""Exact earth mover's distance (Wasserstein-1, Euclidean cost) between two sample sets, via POT."""
import torch

from ..optional import require


def emd(x: torch.Tensor, y: torch.Tensor) -> float:
    ot = require("ot", "POT", "exact EMD")
    import numpy as np

    a = x.detach().double().cpu().numpy()
    b = y.detach().double().cpu().numpy()
    cost = ot.dist(a, b, metric="euclidean")
    return float(ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), cost, numItermax=10_000_000))
