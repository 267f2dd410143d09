"""Replay buffer of terminal samples with their log reward, uniform or reward-rank-prioritised."""
import torch


class ReplayBuffer:
    """Fixed capacity. Rank prioritisation draws the k-th best of N with weight 1/(rank_k*N + k)."""

    def __init__(self, capacity: int, prioritization: str = "rank", rank_k: float = 0.01,
                 eviction: str = "fifo"):
        if prioritization not in ("rank", "uniform"):
            raise ValueError(f"prioritization must be 'rank' or 'uniform', got {prioritization!r}")
        if eviction not in ("fifo", "lowest"):
            raise ValueError(f"eviction must be 'fifo' or 'lowest', got {eviction!r}")
        self.capacity, self.prioritization, self.rank_k, self.eviction = capacity, prioritization, rank_k, eviction
        self.x = self.log_r = self.cond = None

    def __len__(self):
        return 0 if self.x is None else len(self.x)

    def add(self, x, log_r, cond=None):
        x, log_r = x.detach(), log_r.detach()
        cond = None if cond is None else cond.detach()
        if self.x is None:
            self.x, self.log_r, self.cond = x.clone(), log_r.clone(), None if cond is None else cond.clone()
        else:
            self.x = torch.cat([self.x, x])
            self.log_r = torch.cat([self.log_r, log_r])
            if cond is not None:
                self.cond = torch.cat([self.cond, cond])
        if len(self) > self.capacity:
            if self.eviction == "fifo":
                keep = torch.arange(len(self) - self.capacity, len(self), device=self.x.device)
            else:
                keep = torch.topk(self.log_r, self.capacity).indices
            self.x, self.log_r = self.x[keep], self.log_r[keep]
            if self.cond is not None:
                self.cond = self.cond[keep]

    def weights(self):
        if self.prioritization == "uniform":
            return torch.ones_like(self.log_r)
        n = len(self)
        rank = torch.empty(n, device=self.log_r.device)
        rank[torch.argsort(self.log_r, descending=True)] = torch.arange(n, device=self.log_r.device, dtype=rank.dtype)
        return 1.0 / (self.rank_k * n + rank)

    def sample(self, n: int, generator=None):
        if len(self) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.multinomial(self.weights(), n, replacement=True, generator=generator)
        return self.x[idx], self.log_r[idx], None if self.cond is None else self.cond[idx]

    def state_dict(self):
        return {"x": self.x, "log_r": self.log_r, "cond": self.cond}

    def load_state_dict(self, state):
        self.x, self.log_r, self.cond = state["x"], state["log_r"], state["cond"]

    def to(self, device):
        for k in ("x", "log_r", "cond"):
            v = getattr(self, k)
            if v is not None:
                setattr(self, k, v.to(device))
        return self
