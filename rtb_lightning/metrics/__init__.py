from .emd import emd, w2_sq
from .eubo import eubo
from .importance import effective_sample_size, importance_metrics
from .log_z import log_z_estimates
from .path_kl import log_ratio_steps, path_kl
from .modes import mode_tv, mode_weights, off_mode_fraction

__all__ = ["emd", "w2_sq", "eubo", "effective_sample_size", "importance_metrics", "log_z_estimates",
           "mode_tv", "mode_weights", "off_mode_fraction", "log_ratio_steps", "path_kl"]
