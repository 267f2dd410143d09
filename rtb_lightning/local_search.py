"""Local search for samplers of densities: MALA chains started at replay-buffer samples.

Every `every` training steps, `chains` terminals are drawn from the (reward-rank-prioritised)
buffer and moved by `steps` Metropolis-adjusted Langevin steps targeting R(x). During the first
`burn_in` steps the (shared) step size is adapted multiplicatively towards `target_accept`
(0.574, optimal for MALA); afterwards it is fixed, so those steps are an exact R-invariant kernel.
From then on, every `keep_every` steps the chains' states are pushed into the buffer, which the
sampler trains on through backward (noising) trajectories. Proposals whose density or gradient is
not finite are rejected.
"""
import math

import torch


class MALA:
    """MALA on a batch of chains with one step size, adapted towards a target acceptance rate."""

    def __init__(self, log_density, step_size=0.01, target_accept=0.574, adapt_rate=0.1):
        self.log_density, self.step_size = log_density, step_size
        self.target_accept, self.adapt_rate = target_accept, adapt_rate

    def _value_and_grad(self, x, cond):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            lp = self.log_density(xg, cond)
            g, = torch.autograd.grad(lp.sum(), xg)
        lp, g = lp.detach(), g.detach()
        ok = torch.isfinite(lp) & torch.isfinite(g).flatten(1).all(1)
        return torch.where(ok, lp, torch.full_like(lp, -math.inf)), torch.where(ok.view(-1, *[1] * (g.dim() - 1)), g, 0)

    def _log_q(self, to, frm, grad_frm, h):
        """log N(to; frm + h grad, 2h I) up to the constant (it cancels in the ratio)."""
        return -(to - frm - h * grad_frm).pow(2).flatten(1).sum(1) / (4 * h)

    @torch.no_grad()
    def run(self, x, steps, burn_in=0, keep_every=0, cond=None):
        """Returns (kept states, their log densities, mean acceptance after burn-in, of every step)."""
        lp, g = self._value_and_grad(x, cond)
        kept, kept_lp, acc_after, acc_all = [], [], [], []
        for i in range(steps):
            h = self.step_size
            y = x + h * g + math.sqrt(2 * h) * torch.randn_like(x)
            lp_y, g_y = self._value_and_grad(y, cond)
            log_a = lp_y - lp + self._log_q(x, y, g_y, h) - self._log_q(y, x, g, h)
            accept = torch.log(torch.rand_like(lp)) < torch.nan_to_num(log_a, nan=-math.inf)
            m = accept.view(-1, *[1] * (x.dim() - 1))
            x, g = torch.where(m, y, x), torch.where(m, g_y, g)
            lp = torch.where(accept, lp_y, lp)
            rate = accept.float().mean().item()
            acc_all.append(rate)
            if i < burn_in:
                self.step_size *= math.exp(self.adapt_rate * (rate - self.target_accept) / self.target_accept)
            else:
                acc_after.append(rate)
                if keep_every and (i + 1 - burn_in) % keep_every == 0:
                    kept.append(x.clone()), kept_lp.append(lp.clone())
        if not kept:
            kept, kept_lp = [x], [lp]
        mean = lambda a: sum(a) / len(a) if a else float("nan")
        return torch.cat(kept), torch.cat(kept_lp), mean(acc_after), mean(acc_all)


class LocalSearch:
    def __init__(self, log_reward, every=100, chains=300, steps=200, burn_in=100, step_size=0.01,
                 target_accept=0.574, keep_every=20):
        self.every, self.chains, self.steps, self.burn_in, self.keep_every = every, chains, steps, burn_in, keep_every
        self.mala = MALA(log_reward, step_size, target_accept)
        self.last_accept = float("nan")

    def maybe_run(self, buffer, step):
        """Run when due (step > 0, step % every == 0) and the buffer is non-empty; returns #samples added."""
        if not self.every or step == 0 or step % self.every or not len(buffer):
            return 0
        x, _, cond = buffer.sample(self.chains)
        new_x, new_lp, self.last_accept, _ = self.mala.run(x, self.steps, self.burn_in, self.keep_every, cond)
        ok = torch.isfinite(new_lp)
        reps = len(new_x) // len(x)
        buffer.add(new_x[ok], new_lp[ok], None if cond is None else cond.repeat(reps, *[1] * (cond.dim() - 1))[ok])
        return int(ok.sum())

    def state_dict(self):
        return {"step_size": self.mala.step_size}

    def load_state_dict(self, state):
        self.mala.step_size = state["step_size"]
