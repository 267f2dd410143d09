"""Absorbing-state (masked) discrete diffusion over token sequences, with exact per-step log-probs.

State 0 is the fully masked sequence (every position = `mask_id` = vocab_size), state T the
generated tokens. Step i unmasks a fixed number k_i of positions (an even split of the length over
the T steps), chosen uniformly at random among the still-masked ones, and fills each with a token
drawn from the model's categorical at that position:

    p(x_{i+1} | x_i) = 1 / C(m_i, k_i) * prod_{newly unmasked j} softmax(logits_j)[x_{i+1, j}]

with m_i the number of masked positions in x_i. The position choice is the same for every model,
so it cancels in RTB, but it is included so the log-probs are those of the actual chain. The
backward (noising) kernel re-masks k_i of the unmasked positions uniformly: p_B = 1 / C(L - m_{i+1}, k_i).

The model is called as model(x, t, cond) with x (N, L) long tokens and t (N,) the masked fraction
m_i / L; it returns logits (N, L, V) over real tokens (never the mask). Exploration: tokens are drawn
at temperature 1 + extra_std and scored untempered (the contract's `extra_std` argument).
Conditioning tokens (a prompt) travel in `cond` and are never masked.
"""
import math

import torch
import torch.nn.functional as F

from .base import Process, repeat_cond


def _log_choose(n, k):
    return torch.lgamma(n + 1.0) - torch.lgamma(k + 1.0) - torch.lgamma(n - k + 1.0)


class MaskedProcess(Process):
    unit_shift = None          # residual corrections add logits directly (no per-step scale)

    def __init__(self, seq_len: int, vocab_size: int, num_steps: int):
        super().__init__()
        if not 1 <= num_steps <= seq_len:
            raise ValueError(f"num_steps must be in [1, seq_len={seq_len}] (each step unmasks >= 1 token), got {num_steps}")
        self.seq_len, self.vocab_size, self.num_steps = seq_len, vocab_size, num_steps
        self.mask_id = vocab_size
        self.event_shape = (seq_len,)
        base, extra = divmod(seq_len, num_steps)
        counts = torch.tensor([base + (i < extra) for i in range(num_steps)], dtype=torch.float64)
        unmasked_after = torch.cumsum(counts, 0)                     # unmasked positions in x_{i+1}
        masked_before = seq_len - (unmasked_after - counts)          # m_i: masked positions in x_i
        f = torch.get_default_dtype()
        self.register_buffer("counts", counts.long())
        self.register_buffer("masked_before", masked_before.long())
        self.register_buffer("log_choose_fwd", _log_choose(masked_before, counts).to(f))
        self.register_buffer("log_choose_bwd", _log_choose(unmasked_after, counts).to(f))
        self.register_buffer("t_in", (masked_before / seq_len).to(f))    # network time input

    @property
    def device(self):
        return self.counts.device

    def initial(self, n, device=None):
        return torch.full((n, self.seq_len), self.mask_id, dtype=torch.long, device=device or self.device)

    def _check_tokens(self, x, what):
        if x.dtype != torch.long or x.shape[1:] != self.event_shape:
            raise ValueError(f"{what} must be long tokens of shape (B, {self.seq_len}), got {x.dtype} {tuple(x.shape)}")

    # ---- forward ----
    @torch.no_grad()
    def sample(self, model, n, cond=None, extra_std=0.0):
        x = self.initial(n)
        states = torch.empty(n, self.num_steps + 1, self.seq_len, dtype=torch.long, device=x.device)
        log_pf = torch.empty(n, self.num_steps, device=x.device, dtype=self.t_in.dtype)
        states[:, 0] = x
        temp = 1.0 + float(extra_std)
        for i in range(self.num_steps):
            logp = F.log_softmax(model(x, self.t_in[i].expand(n), cond).to(log_pf.dtype), -1)
            # k_i positions uniformly among the masked ones: the k largest of uniform scores.
            scores = torch.rand(n, self.seq_len, device=x.device).masked_fill(x != self.mask_id, -1.0)
            pos = scores.topk(int(self.counts[i]), dim=1).indices                         # (n, k)
            lp_pos = logp.gather(1, pos[..., None].expand(-1, -1, logp.shape[-1]))          # (n, k, V)
            probs = (lp_pos if temp == 1.0 else F.log_softmax(lp_pos / temp, -1)).exp()
            tok = torch.multinomial(probs.flatten(0, 1), 1).view(n, -1)
            # Fused scoring: the untempered log-prob of the step taken, no extra network call.
            log_pf[:, i] = lp_pos.gather(-1, tok[..., None]).squeeze(-1).sum(1) - self.log_choose_fwd[i]
            x = x.scatter(1, pos, tok)
            states[:, i + 1] = x
        return states, log_pf

    def log_prob(self, model, states, cond=None, start=0, stop=None):
        stop = self.num_steps if stop is None else stop
        b, n = states.shape[0], stop - start
        x = states[:, start:stop].reshape(b * n, self.seq_len)
        y = states[:, start + 1:stop + 1].reshape(b * n, self.seq_len)
        idx = torch.arange(start, stop, device=states.device).repeat(b)
        logits = model(x, self.t_in[idx], repeat_cond(cond, n))
        logp = F.log_softmax(logits.to(self.t_in.dtype), -1)
        new = (x == self.mask_id) & (y != self.mask_id)
        lp_tok = logp.gather(-1, y.clamp(max=self.vocab_size - 1)[..., None]).squeeze(-1)
        lp = torch.where(new, lp_tok, torch.zeros_like(lp_tok)).sum(1) - self.log_choose_fwd[idx]
        valid = (new.sum(1) == self.counts[idx]) & ((x == y) | new).all(1)
        return torch.where(valid, lp, torch.full_like(lp, -math.inf)).view(b, n)

    # ---- backward (masking) ----
    @torch.no_grad()
    def sample_backward(self, x):
        """Re-mask x step by step: a uniformly random order of positions, unmasked in schedule chunks."""
        self._check_tokens(x, "terminals")
        if bool((x == self.mask_id).any()) or bool((x < 0).any()) or bool((x > self.mask_id).any()):
            raise ValueError(f"terminal tokens must lie in [0, {self.vocab_size}) (no mask tokens)")
        rank = torch.rand(x.shape, device=x.device).argsort(1).argsort(1)       # unmasking order of each position
        unmasked = self.seq_len - torch.cat([self.masked_before, self.masked_before.new_zeros(1)])   # per state
        keep = rank[:, None, :] < unmasked.to(x.device)[None, :, None]          # (B, T+1, L)
        return torch.where(keep, x[:, None, :], torch.full_like(keep, self.mask_id, dtype=torch.long))

    def log_prob_backward(self, states, start=0, stop=None):
        """log p_B(x_i | x_{i+1}) = -log C(L - m_{i+1}, k_i) for a valid re-masking, -inf otherwise."""
        stop = self.num_steps if stop is None else stop
        x, y = states[:, start:stop], states[:, start + 1:stop + 1]
        remasked = (x == self.mask_id) & (y != self.mask_id)
        counts = self.counts[start:stop]
        valid = (remasked.sum(-1) == counts) & ((x == y) | remasked).all(-1)
        lp = (-self.log_choose_bwd[start:stop]).expand(states.shape[0], -1)
        return torch.where(valid, lp, torch.full_like(lp, -math.inf))

    # ---- training a denoiser on data (the prior stage) ----
    def diffusion_loss(self, model, x0, cond=None):
        """Unbiased estimate of the chain's negative log-likelihood bound per token (position-choice
        terms excluded): a uniform step i, m_i random positions masked; a masked position is among
        the k_i unmasked next with probability k_i / m_i, so the step's expected cross-entropy is
        (k_i / m_i) * sum over masked positions; times T for the sum over steps."""
        self._check_tokens(x0, "training sequences")
        i = torch.randint(0, self.num_steps, (x0.shape[0],), device=x0.device)
        m = self.masked_before[i]
        rank = torch.rand(x0.shape, device=x0.device).argsort(1).argsort(1)
        xt = torch.where(rank < m[:, None], torch.full_like(x0, self.mask_id), x0)
        logits = model(xt, self.t_in[i], cond)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), x0.flatten(), reduction="none").view_as(x0)
        per_seq = (ce * (xt == self.mask_id)).sum(1) * self.counts[i] / m
        return per_seq.mean() * self.num_steps / self.seq_len
