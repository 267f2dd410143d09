from .mlp import SinusoidalEmbedding, TimeMLP
from .residual import Residual

__all__ = ["TimeMLP", "SinusoidalEmbedding", "Residual"]
