"""scikit-learn's bundled 8x8 handwritten digits (1,797 labelled images): the embedded image default.

Worked at their native 8x8 resolution, pixel values 0..16 scaled to [-1, 1]. Upsampling to 16x16
would add no information and cost 4x in every network pass (sampling, scoring, gradient), which is
what decides whether the whole pipeline runs in minutes on a CPU.
"""
import torch

from ..optional import require
from .images import ImageDomain


class Digits(ImageDomain):
    name = "digits"
    event_shape = (1, 8, 8)

    def load(self):
        datasets = require("sklearn.datasets", "scikit-learn", "domain=digits")
        d = datasets.load_digits()
        x = torch.as_tensor(d.images, dtype=torch.get_default_dtype())[:, None] / 8.0 - 1.0
        return x, torch.as_tensor(d.target, dtype=torch.long)
