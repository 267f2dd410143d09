from .bounded import SoftBound, bound_output
from .denoised_guidance import DenoisedGuidance
from .estimate_guidance import EstimateGuidance
from .langevin import LangevinDrift
from .learned_variance import LearnedVariance
from .lora import lora_posterior
from .mlp import SinusoidalEmbedding, TimeMLP
from .reference import StandardNormalEps, ZeroDrift
from .residual import Residual
from .unet import TimeUNet

__all__ = ["TimeMLP", "TimeUNet", "SinusoidalEmbedding", "Residual", "LangevinDrift", "DenoisedGuidance", "EstimateGuidance", "LearnedVariance",
           "StandardNormalEps", "ZeroDrift", "lora_posterior", "SoftBound", "bound_output"]
