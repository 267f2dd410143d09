from .emd import emd
from .log_z import log_z_estimates
from .modes import mode_tv, mode_weights, off_mode_fraction

__all__ = ["emd", "log_z_estimates", "mode_tv", "mode_weights", "off_mode_fraction"]
