"""The learned log-partition function: a scalar (one target) evaluated per trajectory."""
import torch
from torch import nn


class LogZ(nn.Module):
    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(()))

    def forward(self, cond=None, n: int = 1):
        return self.value.expand(n)

    @torch.no_grad()
    def initialise(self, estimate: float):
        self.value.fill_(estimate)
