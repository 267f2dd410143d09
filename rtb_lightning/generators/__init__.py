"""Embedded generators x = f(z), z ~ N(0, I), trained in-framework (stage=generator) on a domain's data."""
from .flow import RealNVP
from .vae import VAE

GENERATOR_KINDS = {"vae": VAE, "flow": RealNVP}

__all__ = ["VAE", "RealNVP", "GENERATOR_KINDS"]
