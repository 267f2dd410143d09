from .mlp import SinusoidalEmbedding, TimeMLP
from .residual import Residual
from .unet import TimeUNet

__all__ = ["TimeMLP", "SinusoidalEmbedding", "Residual", "TimeUNet"]
