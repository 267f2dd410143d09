from .base import Process
from .brownian import PinnedBrownianProcess
from .masked import MaskedProcess
from .gaussian import GaussianProcess, gaussian_log_prob
from .vp import VPProcess

__all__ = ["Process", "GaussianProcess", "VPProcess", "PinnedBrownianProcess", "MaskedProcess", "gaussian_log_prob"]
