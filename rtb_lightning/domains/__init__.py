from .base import Domain
from .control import ControlDomain, HalfCheetah, OfflineRL
from .digits import Digits
from .energies import ENERGIES, EnergyDomain
from .generator_data import DigitsGenerator
from .images import ImageDomain
from .latent import Latent
from .mnist import MNIST
from .text import TextDomain
from .toy2d import Toy2D

DOMAINS = {"toy2d": Toy2D, "digits": Digits, "mnist": MNIST, "text": TextDomain, "latent": Latent,
           "pendulum": ControlDomain, "halfcheetah": HalfCheetah, "offline_rl": OfflineRL,
           "digits_vae": DigitsGenerator, "digits_flow": DigitsGenerator, **ENERGIES}

__all__ = ["Domain", "ControlDomain", "HalfCheetah", "OfflineRL", "Digits", "DigitsGenerator", "EnergyDomain", "ImageDomain",
           "Latent", "MNIST", "TextDomain", "Toy2D", "DOMAINS"]
