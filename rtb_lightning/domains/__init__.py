from .base import Domain
from .text import TextDomain
from .toy2d import Toy2D

DOMAINS = {"toy2d": Toy2D, "text": TextDomain}

__all__ = ["Domain", "Toy2D", "TextDomain", "DOMAINS"]
