"""Reveal a denoiser's hidden prompt segment (TokenDenoiser.hidden_context) with probability `prob`
per sequence, as a plain model(x, t, cond) for the process.

prob = 1: prompting by masking, no fine-tuning (text: the prior shown the end as well as the
beginning). 0 < prob < 1: condition dropout while the prior is trained, so one network learns both
p(middle | beginning) (hidden, its default, the prior of RTB) and p(middle | beginning, end).
The wrapped network is shared, not copied: it is saved and loaded as itself.
"""
import torch
from torch import nn


class RevealContext(nn.Module):
    def __init__(self, net: nn.Module, prob: float = 1.0):
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.net, self.prob = net, prob

    def forward(self, x, t, cond=None):
        reveal = True if self.prob >= 1.0 else torch.rand(x.shape[0], device=x.device) < self.prob
        return self.net(x, t, cond, reveal=reveal)
