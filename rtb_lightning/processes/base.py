"""The process contract: sample trajectories, noise terminals backward, score given trajectories.

Direction convention everywhere: state 0 is the start (noise / origin), state T is the terminal
sample x. A trajectory tensor has shape (B, T + 1, *event_shape). Scores are per-step log-probs,
shape (B, T). Nothing here assumes Gaussians: a discrete process implements the same methods.
"""
from abc import ABC, abstractmethod

import torch
from torch import nn


class Process(nn.Module, ABC):
    """A Markov chain over T steps whose transitions come from a model (a network, or analytic)."""

    num_steps: int
    event_shape: tuple

    @abstractmethod
    def sample(self, model, n: int, cond=None, extra_std: float = 0.0):
        """Forward trajectories from `model`. Returns (states, log_pf) where log_pf (B, T) scores the
        sampled steps under `model` *without* exploration (the behaviour policy may be tempered).
        `extra_std` is the exploration amount: Gaussian processes add it as extra noise std; discrete
        processes draw tokens at temperature 1 + extra_std. States may be float or integer tokens."""

    @abstractmethod
    def sample_backward(self, x: torch.Tensor) -> torch.Tensor:
        """Trajectories ending at the given terminals x, drawn from the reference noising kernel."""

    @abstractmethod
    def log_prob(self, model, states: torch.Tensor, cond=None, start: int = 0, stop=None) -> torch.Tensor:
        """log p(x_{t+1} | x_t) under `model` for steps start..stop-1, batched over time: (B, stop-start)."""

    def log_prob_backward(self, states: torch.Tensor, start: int = 0, stop=None) -> torch.Tensor:
        """log of the reference backward kernel p_B(x_t | x_{t+1}) for steps start..stop-1 (for TB)."""
        raise NotImplementedError(f"{type(self).__name__} has no backward kernel; use method=rtb")

    def log_prob_chunks(self, model, states, cond=None, chunk: int = 0) -> torch.Tensor:
        """Full (B, T) log-probs computed `chunk` steps per network call (0: all at once)."""
        step = chunk or self.num_steps
        return torch.cat([self.log_prob(model, states, cond, s, min(s + step, self.num_steps))
                          for s in range(0, self.num_steps, step)], dim=1)


def repeat_cond(cond, n: int):
    """Repeat each row of a condition n times, matching (B, n) -> (B*n) flattening of states."""
    return None if cond is None else cond.repeat_interleave(n, dim=0)
