"""Importance resampling of any diffusion sampler whose path log-probability is known.

A sampler q of whole paths τ = (x_0, …, x_T) with tractable log q(τ) (the RTB posterior; the
guided baselines, whose steps are Gaussians with a shifted mean) is a proposal for the target over
paths, p_prior(τ)·r(x_T)^β / Z, with weight log w = β·log r(x_T) + log p_prior(τ) − log q(τ). Each
output here is one of k independent proposals, picked with probability ∝ w (sampling-importance-
resampling with k proposals per output): outputs stay independent (no duplicates across outputs),
k = 1 is the sampler itself, and the law tends to the target as k grows, whatever q is. What it
costs is k× the sampler's network and reward calls. What it buys depends on q: where q puts mass the
target lacks (an off-class tail), those paths have tiny weights and are rarely picked; where q misses
mass the target has, no k brings it back.
"""
import torch


def pick_by_weight(log_w: torch.Tensor, generator=None):
    """log_w (m, k) -> (index (m,) drawn per row ∝ exp(log_w), per-row ESS (m,), rows without any
    finite weight). Non-finite weights count as zero; a row with none falls back to its first
    proposal (the sampler's own draw) and is counted."""
    log_w = torch.where(torch.isfinite(log_w), log_w, torch.full_like(log_w, -torch.inf))
    dead = torch.isneginf(log_w).all(1)
    log_w = torch.where(dead[:, None], torch.zeros_like(log_w), log_w)
    w = torch.softmax(log_w.double(), dim=1)
    idx = torch.multinomial(w, 1, generator=generator).squeeze(1)
    idx = torch.where(dead, torch.zeros_like(idx), idx)
    return idx, 1.0 / (w ** 2).sum(1), int(dead.sum())


class ResampledSampler:
    """sample(m, cond) -> m terminals, each picked from k proposals of `sample_scored` by importance
    weight. sample_scored(n, cond) -> (states (n, T+1, ...), log q (n,), log p_prior (n,));
    log_reward(x, cond) -> (n,), the reward the target is tempered by (β). `stats()` reports the mean
    ESS per output (1..k) and the rows that had no finite weight."""

    def __init__(self, sample_scored, log_reward, beta: float, k: int):
        if int(k) != k or k < 1:
            raise ValueError(f"resampling needs k >= 1 proposals per sample, got {k!r}")
        self.sample_scored, self.log_reward, self.beta, self.k = sample_scored, log_reward, float(beta), int(k)
        self.ess, self.dead, self.rows = 0.0, 0, 0

    @torch.no_grad()
    def __call__(self, m, cond=None):
        k = self.k
        c = None if cond is None else cond.repeat_interleave(k, 0)     # row i's proposals share its condition
        states, log_q, log_ref = self.sample_scored(m * k, c)
        x = states[:, -1]
        log_w = self.beta * self.log_reward(x, c) + log_ref - log_q
        idx, ess, dead = pick_by_weight(log_w.view(m, k))
        self.ess, self.dead, self.rows = self.ess + ess.sum().item(), self.dead + dead, self.rows + m
        return x.view(m, k, *x.shape[1:])[torch.arange(m, device=x.device), idx.to(x.device)]

    def stats(self):
        return {"k": self.k, "mean_ess": self.ess / max(1, self.rows), "rows_without_weight": self.dead}


def scored_process_sampler(process, model, prior, chunk: int = 10):
    """sample_scored for a model run by `process` (e.g. a guided prior): its own fused step scores,
    and the prior's log-prob of the same paths, scored `chunk` time steps at a time to bound memory."""
    @torch.no_grad()
    def sample_scored(n, cond=None):
        states, log_q = process.sample(model, n, cond)
        T = process.num_steps
        log_ref = sum(process.log_prob(prior, states, cond, a, min(a + chunk, T)).sum(1) for a in range(0, T, chunk))
        return states, log_q.sum(1), log_ref
    return sample_scored


def posterior_resampler(module, k: int) -> ResampledSampler:
    """A trained RTBLightningModule's posterior resampled to its own target p·r^β at the final β, with
    the reward floored (reward.log_r_min) exactly as in training."""
    return ResampledSampler(module.sample_scored, lambda x, cond: module.reward_log_r(x, cond).log_r,
                            module.beta.end, k)
