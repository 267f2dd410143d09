"""Replay buffer of terminal samples with their log reward, uniform or reward-rank-prioritised.

With `seed_share` set, samples added with pin=True (the run's seed: e.g. the target's own draws,
buffer.seed_prior) are kept apart: never evicted, and a fixed share of every draw. Otherwise they
mix with the rest, and their share of the draws falls as training fills the buffer."""
import torch


def _rows(part, idx):
    """(x, log_r, cond) rows idx of one part; cond may be None."""
    return tuple(None if v is None else v[idx] for v in part)


def _cat(a, b):
    return tuple(None if u is None else torch.cat([u, v]) for u, v in zip(a, b))


class ReplayBuffer:
    """Fixed capacity. Rank prioritisation draws the k-th best of N with weight 1/(rank_k*N + k)."""

    def __init__(self, capacity: int, prioritization: str = "rank", rank_k: float = 0.01,
                 eviction: str = "fifo", seed_share: float = None):
        if prioritization not in ("rank", "uniform"):
            raise ValueError(f"prioritization must be 'rank' or 'uniform', got {prioritization!r}")
        if eviction not in ("fifo", "lowest"):
            raise ValueError(f"eviction must be 'fifo' or 'lowest', got {eviction!r}")
        if seed_share is not None and not 0 <= seed_share <= 1:
            raise ValueError(f"seed_share must lie in [0, 1] (or be None), got {seed_share}")
        self.capacity, self.prioritization, self.rank_k, self.eviction = capacity, prioritization, rank_k, eviction
        self.seed_share = seed_share
        self.x = self.log_r = self.cond = None
        self.seed = None                           # (x, log_r, cond) of pinned samples, with seed_share set

    def __len__(self):
        return (0 if self.x is None else len(self.x)) + (0 if self.seed is None else len(self.seed[0]))

    def add(self, x, log_r, cond=None, pin=False):
        x, log_r = x.detach(), log_r.detach()
        cond = None if cond is None else cond.detach()
        if pin and self.seed_share is not None:
            if len(x):
                self.seed = (x, log_r, cond) if self.seed is None else _cat(self.seed, (x, log_r, cond))
            return
        if self.x is None:
            self.x, self.log_r, self.cond = x.clone(), log_r.clone(), None if cond is None else cond.clone()
        else:
            self.x = torch.cat([self.x, x])
            self.log_r = torch.cat([self.log_r, log_r])
            if cond is not None:
                self.cond = torch.cat([self.cond, cond])
        n = len(self.x)                            # the pinned seed is outside the capacity
        if n > self.capacity:
            if self.eviction == "fifo":
                keep = torch.arange(n - self.capacity, n, device=self.x.device)
            else:
                keep = torch.topk(self.log_r, self.capacity).indices
            self.x, self.log_r = self.x[keep], self.log_r[keep]
            if self.cond is not None:
                self.cond = self.cond[keep]

    def weights(self):
        if self.prioritization == "uniform":
            return torch.ones_like(self.log_r)
        n = len(self.log_r)
        rank = torch.empty(n, device=self.log_r.device)
        rank[torch.argsort(self.log_r, descending=True)] = torch.arange(n, device=self.log_r.device, dtype=rank.dtype)
        return 1.0 / (self.rank_k * n + rank)

    def sample(self, n: int, generator=None):
        if len(self) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        n_seed = 0 if self.seed is None else (n if self.x is None else round(n * self.seed_share))
        parts = []
        if n_seed:                                  # the pinned seed: uniform, a fixed share of the draw
            i = torch.randint(len(self.seed[0]), (n_seed,), generator=generator, device=self.seed[1].device)
            parts.append(_rows(self.seed, i))
        if n - n_seed:
            idx = torch.multinomial(self.weights(), n - n_seed, replacement=True, generator=generator)
            parts.append(_rows((self.x, self.log_r, self.cond), idx))
        return parts[0] if len(parts) == 1 else _cat(*parts)

    def state_dict(self):
        state = {"x": self.x, "log_r": self.log_r, "cond": self.cond}
        return state if self.seed is None else {**state, "seed": self.seed}

    def load_state_dict(self, state):
        self.x, self.log_r, self.cond = state["x"], state["log_r"], state["cond"]
        self.seed = state.get("seed")              # checkpoints from before seed_share have none
        if self.seed is not None and self.seed_share is None:   # resumed without seed_share: the seed mixes in
            seed, rest, self.seed, self.x = self.seed, (self.x, self.log_r, self.cond), None, None
            self.add(*seed)
            if rest[0] is not None:
                self.add(*rest)

    def to(self, device):
        for k in ("x", "log_r", "cond"):
            v = getattr(self, k)
            if v is not None:
                setattr(self, k, v.to(device))
        if self.seed is not None:
            self.seed = tuple(None if v is None else v.to(device) for v in self.seed)
        return self
