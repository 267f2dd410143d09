"""A bank of the target's own trajectories: prior rollouts weighted by r^β (sampling.target).

RTB's optimum is the path measure p_post(τ) = p_prior(τ)·r(x_T)^β / Z, so whole prior rollouts —
the prior's own noisy states, not a re-noising of their terminals — weighted by r^β are draws of
the posterior's target over trajectories. Training on them scores the posterior where the target's
paths actually go (forward-KL coverage: e.g. every class of a set reward in its proportion), which
on-policy samples find only slowly and backward re-noised buffer terminals only approximately (q's
paths are the prior's only where the prior is exact). Only trajectories that hold weight are kept;
draws are multinomial in their self-normalised weights, i.e. sampling-importance-resampling with
an unbounded number of draws.
"""
import torch


class TargetPaths:
    def __init__(self, states, log_w, log_r, cond=None, mass=1 - 1e-6):
        w = torch.softmax(log_w.double(), 0)
        order = torch.argsort(w, descending=True)
        # keep the fewest trajectories that hold `mass` of the weight (the rest would almost never be drawn)
        k = int(torch.searchsorted(torch.cumsum(w[order], 0), torch.tensor(mass, dtype=w.dtype))) + 1
        keep = order[:min(k, len(w))]
        self.ess = (1.0 / (w ** 2).sum()).item()
        self.states, self.log_r = states[keep], log_r[keep]
        self.cond = None if cond is None else cond[keep]
        self.weights = (w[keep] / w[keep].sum()).to(log_r.dtype)

    def __len__(self):
        return len(self.states)

    def sample(self, n, generator=None):
        """(states, log r, cond) of n trajectories drawn with probability ∝ their weight."""
        i = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.states[i], self.log_r[i], None if self.cond is None else self.cond[i]
