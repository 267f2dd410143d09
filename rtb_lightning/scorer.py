"""Scores trajectories under the prior (reference) and the posterior with no redundant network passes.

When the posterior is a Residual on the prior (posterior = prior + correction), the prior's output
at every state is computed once per batch — recorded while sampling, or in one batched pass — and
reused for the reference log-probs, the posterior's no-grad scores and the gradient pass, which
then only evaluate the small correction network. Relies on the process contract that
`log_prob(model, states, cond, start, stop)` calls `model` once on states[:, start:stop] flattened
trajectory-major (base.py).
"""
import torch

from .networks import Residual


class TrajectoryScorer:
    def __init__(self, process, prior, posterior, reference="prior", chunk_size=0):
        self.process, self.prior, self.posterior = process, prior, posterior
        self.reference, self.chunk_size = reference, chunk_size
        self.shares_prior = isinstance(posterior, Residual) and posterior.base is prior and reference == "prior"

    def _chunks(self):
        step = self.chunk_size or self.process.num_steps
        return [(a, min(a + step, self.process.num_steps)) for a in range(0, self.process.num_steps, step)]

    @staticmethod
    def _recording(model, store):
        def f(x, t, c):
            out = model(x, t, c)
            store.append(out)
            return out
        return f

    @staticmethod
    def _stack(store):
        """Per-step outputs recorded while sampling -> (B, T, *event)."""
        return torch.stack(store, 1)

    def _with_base(self, base, start, stop):
        b = base[:, start:stop].flatten(0, 1)
        return lambda x, t, c: b + self.posterior.correction_term(x, t, c, b)

    @torch.no_grad()
    def sample_posterior(self, n, cond=None, extra_std=0.0):
        """(states, log_pf sums, prior outputs or None)."""
        if not self.shares_prior:
            states, lp = self.process.sample(self.posterior, n, cond, extra_std)
            return states, lp.sum(1), None
        store = []
        base = self._recording(self.prior, store)
        model = lambda x, t, c: (lambda b: b + self.posterior.correction_term(x, t, c, b))(base(x, t, c))
        states, lp = self.process.sample(model, n, cond, extra_std)
        return states, lp.sum(1), self._stack(store)

    @torch.no_grad()
    def sample_prior(self, n, cond=None):
        """(states, log_ref sums, prior outputs or None): prior rollouts score themselves."""
        store = []
        states, lp = self.process.sample(self._recording(self.prior, store), n, cond)
        if self.reference != "prior":
            return states, self.log_ref(states, cond), None
        return states, lp.sum(1), self._stack(store) if self.shares_prior else None

    @torch.no_grad()
    def prior_outputs(self, states, cond=None):
        """One batched prior pass: (log_ref sums, prior outputs)."""
        outs, lps = [], []
        for a, b in self._chunks():
            store = []
            lps.append(self.process.log_prob(self._recording(self.prior, store), states, cond, a, b))
            outs.append(store[0].view(states.shape[0], b - a, *store[0].shape[1:]))
        return torch.cat(lps, 1).sum(1), torch.cat(outs, 1)

    @torch.no_grad()
    def log_ref_steps(self, states, cond=None, base=None):
        """(B, T) reference log-probs per step (prior outputs `base` reused when given)."""
        if self.reference == "backward":
            return self.process.log_prob_backward(states)
        if base is not None:
            return torch.cat([self.process.log_prob(lambda x, t, c: base[:, a:b].flatten(0, 1), states, cond, a, b)
                              for a, b in self._chunks()], 1)
        return self.process.log_prob_chunks(self.prior, states, cond, self.chunk_size)

    @torch.no_grad()
    def log_ref(self, states, cond=None, base=None):
        return self.log_ref_steps(states, cond, base).sum(1)

    def log_post_chunk(self, states, cond, base, start, stop):
        """(B, stop-start) posterior log-probs; differentiable (used by the gradient pass)."""
        model = self.posterior if base is None else self._with_base(base, start, stop)
        return self.process.log_prob(model, states, cond, start, stop)

    @torch.no_grad()
    def log_post_steps(self, states, cond=None, base=None):
        """(B, T) posterior log-probs per step, no grad."""
        return torch.cat([self.log_post_chunk(states, cond, base, a, b) for a, b in self._chunks()], 1)

    @torch.no_grad()
    def log_post(self, states, cond=None, base=None):
        return self.log_post_steps(states, cond, base).sum(1)
