"""Small transformers over tokens: a bidirectional denoiser for masked diffusion, and a causal LM.

TokenDenoiser(x, t, cond) -> logits (N, L, V) for the L positions of x, reading the first
`context_len` tokens of cond as a never-masked prompt. A `hidden_context` segment of that prompt
(the text prior: the end) is read as mask tokens unless the caller reveals it: the same network
is then p(middle | beginning) by default and p(middle | beginning, end) when revealed (trained with
both by condition dropout, networks/reveal_context.py). Learned positions, pre-norm layers, no dropout.
"""
import torch
from torch import nn


def _encoder(hidden, layers, heads):
    layer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout=0.0, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class TokenDenoiser(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int, context_len: int = 0, hidden: int = 128, layers: int = 3,
                 heads: int = 4, zero_init: bool = False, hidden_context=None):
        super().__init__()
        self.vocab_size, self.seq_len, self.context_len = vocab_size, seq_len, context_len
        if hidden_context is not None and not 0 <= hidden_context[0] < hidden_context[1] <= context_len:
            raise ValueError(f"hidden_context {hidden_context} must be a (start, stop) slice of the {context_len} prompt tokens")
        self.hidden_context = None if hidden_context is None else tuple(hidden_context)
        self.tok = nn.Embedding(vocab_size + 1, hidden)            # + the mask token (id vocab_size)
        self.pos = nn.Parameter(torch.randn(context_len + seq_len, hidden) * 0.02)
        self.time = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.body = _encoder(hidden, layers, heads)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, vocab_size)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def prompt(self, cond, reveal=False):
        """The prompt tokens read: cond's first context_len, the hidden segment as mask tokens where
        not revealed (reveal: a bool, or a (N,) bool tensor per sequence)."""
        if cond is None or cond.shape[1] < self.context_len:
            raise ValueError(f"this denoiser reads {self.context_len} prompt tokens from cond")
        prompt = cond[:, :self.context_len]
        if self.hidden_context is None:
            return prompt
        a, b = self.hidden_context
        pos = torch.arange(self.context_len, device=cond.device)
        hide = ((pos >= a) & (pos < b))[None] & ~torch.as_tensor(reveal, device=cond.device).reshape(-1, 1)
        return prompt.masked_fill(hide, self.vocab_size)

    def forward(self, x, t, cond=None, reveal=False):
        if self.context_len:
            x = torch.cat([self.prompt(cond, reveal), x], 1)
        h = self.tok(x) + self.pos + self.time(t.reshape(-1, 1).to(self.pos.dtype))[:, None]
        h = self.body(h)[:, self.context_len:]
        return self.out(self.norm(h))


class CausalLM(nn.Module):
    """Next-token model over sequences up to max_len; a BOS token (id vocab_size) is prepended."""

    def __init__(self, vocab_size: int, max_len: int, hidden: int = 128, layers: int = 3, heads: int = 4):
        super().__init__()
        self.vocab_size, self.max_len = vocab_size, max_len
        self.tok = nn.Embedding(vocab_size + 1, hidden)
        self.pos = nn.Parameter(torch.randn(max_len, hidden) * 0.02)
        self.body = _encoder(hidden, layers, heads)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, vocab_size)
        self.register_buffer("causal", torch.triu(torch.full((max_len, max_len), float("-inf")), 1), persistent=False)

    def forward(self, tokens):
        """log p(tokens[:, j] | tokens[:, :j]) for every j: (B, S)."""
        s = tokens.shape[1]
        inp = torch.cat([torch.full_like(tokens[:, :1], self.vocab_size), tokens[:, :-1]], 1)
        h = self.body(self.tok(inp) + self.pos[:s], mask=self.causal[:s, :s], is_causal=True)
        logp = torch.log_softmax(self.out(self.norm(h)), -1)
        return logp.gather(-1, tokens[..., None]).squeeze(-1)
