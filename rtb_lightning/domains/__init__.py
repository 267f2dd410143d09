from .base import Domain
from .digits import Digits
from .images import ImageDomain
from .mnist import MNIST
from .toy2d import Toy2D

DOMAINS = {"toy2d": Toy2D, "digits": Digits, "mnist": MNIST}

__all__ = ["Domain", "Toy2D", "ImageDomain", "Digits", "MNIST", "DOMAINS"]
