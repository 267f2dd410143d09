from .base import Domain
from .energies import ENERGIES, EnergyDomain
from .toy2d import Toy2D

DOMAINS = {"toy2d": Toy2D, **ENERGIES}

__all__ = ["Domain", "EnergyDomain", "Toy2D", "DOMAINS"]
