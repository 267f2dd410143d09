"""A small time-embedded UNet for images (C, H, W): the default network of the image domains.

Levels halve the resolution (8x8 -> 4x4 for two levels); each level has one residual block on the
way down and one on the way up (with the skip concatenated). Time (and, optionally, a class label)
enters every block as a per-channel shift. Kept deliberately small: on a CPU the image priors here
must train in minutes.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from .mlp import SinusoidalEmbedding


def _groups(ch: int) -> int:
    return math.gcd(ch, 8)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class TimeUNet(nn.Module):
    """f(x, t, cond) -> same shape as x, for x of shape (B, C, H, W); cond: class indices (num_classes > 0)."""

    def __init__(self, event_shape, channels: int = 32, channel_mult=(1, 2), time_dim: int = 64,
                 num_classes: int = 0, zero_init: bool = False):
        super().__init__()
        if len(event_shape) != 3:
            raise ValueError(f"TimeUNet needs images (C, H, W), got event shape {tuple(event_shape)}")
        c, h, w = event_shape
        levels = len(channel_mult)
        if h % 2 ** (levels - 1) or w % 2 ** (levels - 1):
            raise ValueError(f"image size {h}x{w} is not divisible by 2^{levels - 1} ({levels} UNet levels)")
        self.event_shape = tuple(event_shape)
        emb = 4 * channels
        self.time = nn.Sequential(SinusoidalEmbedding(time_dim), nn.Linear(time_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.cond = nn.Embedding(num_classes, emb) if num_classes else None
        widths = [channels * m for m in channel_mult]
        self.inp = nn.Conv2d(c, channels, 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        prev = channels
        for i, wd in enumerate(widths):
            self.down.append(ResBlock(prev, wd, emb))
            self.downsample.append(nn.Conv2d(wd, wd, 3, stride=2, padding=1) if i < levels - 1 else nn.Identity())
            prev = wd
        self.mid = ResBlock(prev, prev, emb)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, wd in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(prev + wd, wd, emb))
            self.upsample.append(nn.Conv2d(wd, widths[i - 1], 3, padding=1) if i > 0 else nn.Identity())
            prev = widths[i - 1] if i > 0 else wd
        self.out_norm, self.out = nn.GroupNorm(_groups(prev), prev), nn.Conv2d(prev, c, 3, padding=1)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x, t, cond=None):
        # Rows share few distinct times (trajectories scored step by step): embed each once.
        tu, inv = torch.unique(t, return_inverse=True)
        emb = self.time(tu)[inv]
        if self.cond is not None:
            if cond is None:
                raise ValueError("this network was built with a class input; pass cond")
            emb = emb + self.cond(cond.long())
        h, skips = self.inp(x), []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb)
        for block, up in zip(self.up, self.upsample):
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = up(block(torch.cat([h, skip], 1), emb))
        return self.out(F.silu(self.out_norm(h)))
