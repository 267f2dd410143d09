"""Tiny token models shared by the text / masked-process tests."""
import torch
from torch import nn


class TinyDenoiser(nn.Module):
    """logits (N, L, V) from every token (mask included), the time input and an optional token condition."""

    def __init__(self, seq_len, vocab, cond_len=0, cond_vocab=None, width=4):
        super().__init__()
        self.seq_len, self.vocab = seq_len, vocab
        self.emb = nn.Embedding(vocab + 1, width)
        self.cond_emb = nn.Embedding(cond_vocab or vocab, width) if cond_len else None
        self.lin = nn.Linear((seq_len + cond_len) * width + 1, seq_len * vocab)
        with torch.no_grad():
            self.lin.weight.mul_(3.0)            # peaked, context-dependent categoricals

    def forward(self, x, t, cond=None):
        h = [self.emb(x).flatten(1), t[:, None].to(self.lin.weight.dtype)]
        if self.cond_emb is not None:
            h.insert(1, self.cond_emb(cond).flatten(1))
        return self.lin(torch.cat(h, 1)).view(-1, self.seq_len, self.vocab)


class ConstantLogits(nn.Module):
    """Ignores its input: one fixed categorical per position."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, x, t, cond=None):
        return self.logits.expand(x.shape[0], -1, -1)
