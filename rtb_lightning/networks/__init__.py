from .langevin import LangevinDrift
from .learned_variance import LearnedVariance
from .mlp import SinusoidalEmbedding, TimeMLP
from .reference import StandardNormalEps, ZeroDrift
from .residual import Residual

__all__ = ["TimeMLP", "SinusoidalEmbedding", "Residual", "LangevinDrift", "LearnedVariance", "StandardNormalEps", "ZeroDrift"]
