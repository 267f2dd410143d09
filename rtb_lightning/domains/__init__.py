from .base import Domain
from .energies import ENERGIES, EnergyDomain
from .latent import Latent
from .text import TextDomain
from .toy2d import Toy2D

DOMAINS = {"toy2d": Toy2D, "text": TextDomain, "latent": Latent, **ENERGIES}

__all__ = ["Domain", "EnergyDomain", "Latent", "TextDomain", "Toy2D", "DOMAINS"]
