"""MNIST read from IDX files in a user-given folder (data.path): train-* if present, else t10k-*.

domain.size picks the working resolution: 28 (native) or 14 (2x2 average-pooled: 4x cheaper in
every network pass, which is what a CPU run needs). Pixel values are scaled to [-1, 1].
"""
from pathlib import Path

import torch
from torch.nn import functional as F

from ..errors import ConfigError
from ..idx import read_idx
from .images import ImageDomain

SPLITS = ("train", "t10k")


def find_idx(folder: Path, split: str, kind: str):
    for name in (f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte", f"{split}-{kind}.idx"):
        for suffix in (".gz", ""):
            p = folder / (name + suffix)
            if p.is_file():
                return p
    return None


class MNIST(ImageDomain):
    name = "mnist"
    needs_data_path = True

    def __init__(self, batch_size=256, stage="posterior", classes=None, conditional=False, path=None, size=14):
        super().__init__(batch_size, stage, classes, conditional)
        if size not in (14, 28):
            raise ConfigError(f"domain.size={size} is not supported", "use domain.size=28 (native) or 14")
        self.size = size
        self.event_shape = (1, size, size)
        if path is None:
            raise ConfigError("domain=mnist needs data.path: a folder with MNIST IDX files",
                              "e.g. data.path=/data/mnist holding train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz")
        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"data.path={path} is not a folder", "point data.path at the folder holding the IDX files")
        self.files = next(((i, l) for s in SPLITS if (i := find_idx(self.path, s, "images")) and
                           (l := find_idx(self.path, s, "labels"))), None)
        if self.files is None:
            raise ConfigError(f"no MNIST IDX files in {path}",
                              "expected train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] (or t10k-*)")

    def load(self):
        images, labels = (read_idx(f) for f in self.files)
        if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
            raise ConfigError(f"{self.files[0]}: images have shape {tuple(images.shape)}, expected (N, 28, 28)",
                              "check the images file")
        if labels.dim() != 1 or len(labels) != len(images):
            raise ConfigError(f"{self.files[1]}: {tuple(labels.shape)} labels for {len(images)} images",
                              "the label file does not match the image file")
        x = images.to(torch.get_default_dtype())[:, None] / 127.5 - 1.0
        if x.shape[-1] != self.size:
            x = F.adaptive_avg_pool2d(x, self.size)
        return x, labels.long()
