"""Unnormalised densities with known log Z and exact samples (samplers of energies)."""
from .base import EnergyDomain
from .funnel import Funnel
from .gmm25 import GMM25
from .manywell import Manywell

ENERGIES = {"gmm25": GMM25, "funnel": Funnel, "manywell": Manywell}

__all__ = ["EnergyDomain", "Funnel", "GMM25", "Manywell", "ENERGIES"]
