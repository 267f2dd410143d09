from .base import Process
from .brownian import PinnedBrownianProcess
from .gaussian import GaussianProcess, gaussian_log_prob
from .vp import VPProcess

__all__ = ["Process", "GaussianProcess", "VPProcess", "PinnedBrownianProcess", "gaussian_log_prob"]
