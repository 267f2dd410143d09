from .base import Domain
from .toy2d import Toy2D

DOMAINS = {"toy2d": Toy2D}

__all__ = ["Domain", "Toy2D", "DOMAINS"]
