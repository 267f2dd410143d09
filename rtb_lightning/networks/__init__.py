from .langevin import LangevinDrift
from .mlp import SinusoidalEmbedding, TimeMLP
from .reference import StandardNormalEps, ZeroDrift
from .residual import Residual

__all__ = ["TimeMLP", "SinusoidalEmbedding", "Residual", "LangevinDrift", "StandardNormalEps", "ZeroDrift"]
