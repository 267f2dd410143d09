"""Implicit Q-learning (IQL) critic and its advantage-weighted policy (the IQL baseline).

V(s) is fitted by expectile regression to min(Q1, Q2)(s, a) of a slowly moving target copy over
dataset actions only (no out-of-distribution action is ever queried during training); Q1, Q2 by
TD towards r + γ(1 − terminal)·V(s'). The baseline policy is a state-conditioned Gaussian fitted by
advantage-weighted regression: weights exp(β·(Q − V)) clipped at `max_weight`.
Networks read normalised states and actions in model coordinates ([-1, 1] per dimension).
"""
import copy
import math

import lightning as L
import torch
from torch import nn


def mlp(inp, out, hidden, layers=2):
    mods, d = [], inp
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    return nn.Sequential(*mods, nn.Linear(d, out))


# ---- losses: pure functions of tensors ----
def expectile_loss(diff, tau):
    """Asymmetric squared loss |tau - 1(diff < 0)| * diff^2 (tau > 0.5 leans towards the upper expectile)."""
    w = torch.where(diff < 0, 1.0 - tau, tau)
    return (w * diff.pow(2)).mean()


def td_target(reward, terminal, next_v, gamma):
    return reward + gamma * (1.0 - terminal) * next_v


def awr_loss(log_prob, advantage, beta, max_weight):
    w = torch.exp(beta * advantage).clamp(max=max_weight)
    return -(w.detach() * log_prob).mean()


class TwinQ(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden=256, layers=2):
        super().__init__()
        self.q1, self.q2 = mlp(obs_dim + act_dim, 1, hidden, layers), mlp(obs_dim + act_dim, 1, hidden, layers)

    def both(self, s, a):
        sa = torch.cat([s, a], -1)
        return self.q1(sa).squeeze(-1), self.q2(sa).squeeze(-1)

    def forward(self, s, a):
        return torch.minimum(*self.both(s, a))


class GaussianPolicy(nn.Module):
    """N(mean(s), diag exp(log_std)); the mean is squashed into [-1, 1] by tanh, the sample is not."""

    def __init__(self, obs_dim, act_dim, hidden=256, layers=2):
        super().__init__()
        self.mean = mlp(obs_dim, act_dim, hidden, layers)
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def dist(self, s):
        return torch.distributions.Normal(torch.tanh(self.mean(s)), self.log_std.clamp(-5, 2).exp())

    def log_prob(self, s, a):
        return self.dist(s).log_prob(a).sum(-1)

    def act(self, s):
        """Deterministic action: the mean (how IQL's policy is evaluated)."""
        return torch.tanh(self.mean(s))


class Critic(nn.Module):
    """What the critic stage caches: twin Q, V and the AWR policy."""

    def __init__(self, obs_dim, act_dim, hidden=256, layers=2):
        super().__init__()
        self.q, self.v = TwinQ(obs_dim, act_dim, hidden, layers), mlp(obs_dim, 1, hidden, layers)
        self.policy = GaussianPolicy(obs_dim, act_dim, hidden, layers)

    def value(self, s):
        return self.v(s).squeeze(-1)

    def advantage(self, s, a):
        return self.q(s, a) - self.value(s)


class IQLModule(L.LightningModule):
    """Batches: (s, a, r, s', terminal) with r already scaled by the reward scale.

    The three losses touch disjoint parameters (V's target Q and the TD target are detached), so
    one backward of their sum and one Adam step equal three separate updates."""

    def __init__(self, critic: Critic, lr=3e-4, gamma=0.99, expectile=0.7, tau=0.005, awr_beta=3.0,
                 max_weight=100.0, total_steps=10000):
        super().__init__()
        self.critic, self.target_q = critic, copy.deepcopy(critic.q).requires_grad_(False)
        self.lr, self.gamma, self.expectile, self.tau = lr, gamma, expectile, tau
        self.awr_beta, self.max_weight, self.total_steps = awr_beta, max_weight, total_steps

    def losses(self, batch):
        s, a, r, s2, d = batch
        c = self.critic
        with torch.no_grad():
            q_t = self.target_q(s, a)
            target = td_target(r, d, c.value(s2), self.gamma)
        v = c.value(s)
        v_loss = expectile_loss(q_t - v, self.expectile)
        q1, q2 = c.q.both(s, a)
        q_loss = 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean())
        pi_loss = awr_loss(c.policy.log_prob(s, a), (q_t - v).detach(), self.awr_beta, self.max_weight)
        return v_loss, q_loss, pi_loss

    def training_step(self, batch, batch_idx):
        v_loss, q_loss, pi_loss = self.losses(batch)
        self.log_dict({"critic/v_loss": v_loss, "critic/td_loss": q_loss, "critic/awr_loss": pi_loss}, prog_bar=True)
        return v_loss + q_loss + pi_loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        with torch.no_grad():            # Polyak-averaged target Q
            for p, pt in zip(self.critic.q.parameters(), self.target_q.parameters()):
                pt.lerp_(p, self.tau)

    def configure_optimizers(self):
        c = self.critic
        opt = torch.optim.Adam([{"params": list(c.v.parameters()) + list(c.q.parameters())},
                                {"params": c.policy.parameters()}], lr=self.lr)
        cosine = lambda step: 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, self.total_steps))))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, [lambda step: 1.0, cosine])   # the policy's lr decays
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


@torch.no_grad()
def td_error(critic, batch, gamma):
    """Mean squared TD error of both Q heads against r + γ(1 − d)V(s') (a diagnostic)."""
    s, a, r, s2, d = batch
    target = td_target(r, d, critic.value(s2), gamma)
    q1, q2 = critic.q.both(s, a)
    return float(0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean()))
