from .base import Domain
from .energies import ENERGIES, EnergyDomain
from .latent import Latent
from .toy2d import Toy2D

DOMAINS = {"toy2d": Toy2D, "latent": Latent, **ENERGIES}

__all__ = ["Domain", "EnergyDomain", "Latent", "Toy2D", "DOMAINS"]
