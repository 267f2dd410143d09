"""Offline RL control: a state-conditioned diffusion behaviour prior p(a|s) fine-tuned by RTB towards
p(a|s)·exp(α·Q(s, a)) / Z(s), with Q from an IQL critic trained on the same offline data.

Coordinates. The condition is the normalised state s = (obs − mean) / std (dataset statistics).
Actions are modelled in u = (a − mid) / half ∈ [-1, 1] per dimension (mid, half: the environment's
action bounds). The diffusion model's u is unbounded; the environment receives clip(u, -1, 1) mapped
back, and the critic scores the same clipped u. So the posterior target p(u|s)·exp(α·Q(s, clip(u)))
is a density on unbounded u whose log-probs are the process's exact Gaussian ones: no squashing
Jacobian is needed because nothing is squashed inside the model, only at the environment step.
The reward is log r = α·(Q(s, u) − V(s)): V(s) depends only on the state, so it moves log Z(s)
and leaves the posterior p(u|s)·exp(α·Q(s, u)) / Z(s) unchanged; it keeps log r near 0.
"""
import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..errors import ConfigError, UserError
from ..networks import TimeMLP
from .base import Domain, _Stream

CRITIC_DEFAULTS = dict(hidden=256, layers=2, steps=5000, batch_size=256, lr=3e-4, gamma=0.99, expectile=0.7,
                       tau=0.005, awr_beta=3.0, max_weight=100.0, reward_scale=0.1)
EVAL_DEFAULTS = dict(episodes=10, seed=1000)


class ControlDomain(Domain):
    conditional = True        # the state
    name = "pendulum"
    uses_data = True
    uses_cache_dir = True
    # Settings that do not change the behaviour prior (kept out of its cache key).
    prior_key_ignores = ("alpha", "samples_per_context", "critic", "eval", "ref_min_score", "ref_max_score")
    prepare_subdir = "critic/"

    def __init__(self, batch_size=256, stage="posterior", data=None, cache_dir="cache", env_id="Pendulum-v1",
                 alpha=1.0, samples_per_context=1, dataset=None, critic=None, eval=None,
                 ref_min_score=None, ref_max_score=None, max_episode_steps=None, clock_period=None):
        super().__init__(batch_size, stage)
        from ..control.environment import action_bounds, make_env

        self.path = (data or {}).get("path")
        if env_id is None:
            raise ConfigError("domain.env_id is not set", "name the dataset's gymnasium environment, e.g. "
                              "domain.env_id=Hopper-v4 (used for action bounds and evaluation rollouts)")
        self.env_id, self.alpha, self.samples_per_context = env_id, alpha, samples_per_context
        self.cache_dir, self.ref_scores = cache_dir, (ref_min_score, ref_max_score)
        self.dataset_cfg = dict(dataset or {})     # the embedded generator's arguments (its defaults fill in)
        # environment settings that change the data and the rollouts (None: the environment's own)
        self.env_kwargs = {k: v for k, v in (("max_episode_steps", max_episode_steps),
                                             ("clock_period", clock_period)) if v is not None}
        self.critic_cfg = {**CRITIC_DEFAULTS, **(critic or {})}
        self.eval_cfg = {**EVAL_DEFAULTS, **(eval or {})}
        env = make_env(env_id, **self.env_kwargs)
        low, high = action_bounds(env)
        self.obs_dim = int(np.prod(env.observation_space.shape))
        env.close()
        self.mid, self.half = torch.tensor((high + low) / 2, dtype=torch.float32), torch.tensor((high - low) / 2, dtype=torch.float32)
        self.event_shape = (len(low),)
        self._data, self._arrays, self.critic, self._baselines = None, None, None, {}

    # ---- data ----
    @property
    def data(self):
        if self._data is None:
            self._data = self._load()
        return self._data

    def _load(self):
        from ..control.offline_data import from_arrays, load_hdf5

        if self.path:
            d, where = load_hdf5(self.path), self.path
        else:
            self._arrays = self._embedded()
            d, where = from_arrays(self._arrays, "the embedded dataset"), f"the embedded {self.env_id} dataset"
        if d.act_dim != self.event_shape[0]:
            raise UserError(f"{where} has {d.act_dim}-dimensional actions, but {self.env_id} takes "
                            f"{self.event_shape[0]}", "set domain.env_id to the environment the data was recorded in")
        if d.obs_dim != self.obs_dim:
            raise UserError(f"{where} has {d.obs_dim}-dimensional observations, but {self.env_id} gives "
                            f"{self.obs_dim}", "set domain.env_id to the environment the data was recorded in")
        self.obs_mean, self.obs_std = d.observations.mean(0), d.observations.std(0).clamp(min=1e-3)
        self.s, self.s2 = ((o - self.obs_mean) / self.obs_std for o in (d.observations, d.next_observations))
        self.u = self.to_model(d.actions).clamp(-1, 1)
        return d

    def _embedded(self):
        from ..control.cache import dataset_path
        from ..control.tasks import embedded_task

        task = embedded_task(self.env_id)
        path = dataset_path(self.cache_dir, self.env_id, {**self.dataset_cfg, **self.env_kwargs})
        if path.is_file():
            return dict(np.load(path))
        arrays = task.generate(**self.dataset_cfg, env_kwargs=self.env_kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
        print(f"[rtb] generated the {self.env_id} dataset ({len(arrays['rewards'])} transitions) -> {path}")
        return arrays

    def normalise(self, obs):
        self._pick(0)                   # the dataset's statistics
        return (torch.as_tensor(obs, dtype=torch.float32) - self.obs_mean) / self.obs_std

    def to_model(self, a):
        return (torch.as_tensor(a, dtype=torch.float32) - self.mid) / self.half

    def to_env(self, u):
        return (u.clamp(-1, 1) * self.half.to(u.device) + self.mid.to(u.device)).cpu().numpy()

    def _pick(self, n):
        return torch.randint(len(self.data), (n,))

    def prior_data(self, n):
        i = self._pick(n)
        return self.u[i], self.s[i]

    def sample_conditions(self, n):
        k = self.samples_per_context
        i = self._pick(math.ceil(n / k)).repeat_interleave(k)[:n]
        return self.s[i]

    def replay_seed(self):
        """Dataset actions with their states: replayed through backward (noising) trajectories."""
        self._pick(0)
        return self.u, self.s

    def transitions(self, n):
        i = self._pick(n)
        d = self.data
        return self.s[i], self.u[i], d.rewards[i] * self.critic_cfg["reward_scale"], self.s2[i], d.terminals[i]

    def train_dataloader(self):
        if self.stage == "critic":
            return DataLoader(_Stream(lambda: self.transitions(self.critic_cfg["batch_size"])), batch_size=None)
        return super().train_dataloader()

    # ---- reward ----
    def log_reward(self, x, cond=None):
        if self.critic is None:
            raise RuntimeError("no critic attached (ControlDomain.prepare loads or trains it)")
        critic = self.critic.to(x.device)
        with torch.no_grad():
            return self.alpha * critic.advantage(cond, x.clamp(-1, 1))

    def prepare(self, cfg, run_dir, trainer_factory):
        """Load the cached IQL critic, or train and cache it first."""
        from ..control.critic import load_or_train_critic

        self.critic = load_or_train_critic(cfg, self, run_dir, trainer_factory).cpu().eval().requires_grad_(False)
        return self.critic

    # ---- networks ----
    def build_network(self, net_cfg, zero_init=False, role="prior"):
        if net_cfg.kind != "mlp":
            raise ConfigError(f"{self.name} models action vectors: network.kind must be mlp", "set prior.network.kind=mlp")
        return TimeMLP(self.event_shape, net_cfg.hidden, net_cfg.layers, net_cfg.time_dim, cond_dim=self.obs_dim,
                       zero_init=zero_init, fourier_features=net_cfg.fourier_features,
                       fourier_scale=net_cfg.fourier_scale)

    def log_z_network(self, hidden=64):
        """log Z(s): a small MLP of the normalised state, zero-initialised output."""
        out = nn.Linear(hidden, 1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        return nn.Sequential(nn.Linear(self.obs_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), out)

    # ---- evaluation ----
    @torch.no_grad()
    def evaluate(self, x, cond=None):
        if self.critic is None or cond is None:
            return {}
        c = self.critic.to(x.device)
        return {"mean_q": c.q(cond, x.clamp(-1, 1)).mean().item() / self.critic_cfg["reward_scale"]}

    def diffusion_policy(self, process, model):
        """Raw observations -> raw actions by one diffusion sample per observation."""
        def act(obs):
            cond = self.normalise(obs).to(process.device)
            return self.to_env(process.sample(model, len(obs), cond)[0][:, -1])
        return act

    def rollouts(self, policy):
        from ..control.environment import rollout_returns

        e = self.eval_cfg
        return rollout_returns(policy, self.env_id, range(e["seed"], e["seed"] + e["episodes"]), **self.env_kwargs)

    def reference_returns(self):
        """(0-point, 100-point) returns: the configured D4RL-style reference scores, else a uniform random
        policy and (embedded data) the noise-free expert controller (swing-up, gait), or (a file) the dataset's best episode."""
        if "ref" not in self._baselines:
            lo, hi = self.ref_scores
            if lo is None:
                rng = np.random.default_rng(0)
                lo = float(self.rollouts(lambda o: rng.uniform(-1, 1, (len(o), *self.event_shape)) * self.half.numpy()
                                         + self.mid.numpy()).mean())
            if hi is None:
                hi = float(self.rollouts(self._expert()).mean()) if not self.path else self.best_episode_return()
            self._baselines["ref"] = (lo, hi)
        return self._baselines["ref"]

    def _expert(self):
        from ..control.tasks import embedded_task

        self._pick(0)                   # generates or loads the dataset (the gait's parameters)
        return embedded_task(self.env_id).expert_from(self._arrays)

    def best_episode_return(self):
        d = self.data
        ends = ((d.terminals > 0) | (d.timeouts > 0)).long()
        episode = torch.cumsum(ends, 0) - ends          # row i's episode: the number of ends before it
        return float(torch.zeros(int(episode.max()) + 1).index_add_(0, episode, d.rewards).max())

    def normalized(self, returns):
        lo, hi = self.reference_returns()
        return 100.0 * (float(np.mean(returns)) - lo) / (hi - lo)

    @torch.no_grad()
    def evaluate_sampler(self, module, log_pf, log_ref, log_r):
        """Rollouts of the posterior policy; the behaviour prior (BC) and IQL's AWR policy once each."""
        if "bc" not in self._baselines:
            self._baselines["bc"] = self.rollouts(self.diffusion_policy(module.process, module.prior))
            pi = self.critic.policy.cpu()
            self._baselines["iql"] = self.rollouts(lambda o: self.to_env(pi.act(self.normalise(o))))
        ret = self.rollouts(self.diffusion_policy(module.process, module.posterior))
        lo, hi = self.reference_returns()
        out = {"mean_return": float(np.mean(ret)), "normalized_return": self.normalized(ret)}
        for k in ("bc", "iql"):
            out.update({f"{k}_mean_return": float(np.mean(self._baselines[k])),
                        f"{k}_normalized_return": self.normalized(self._baselines[k])})
        return {**out, "random_return": lo, "reference_return": hi}

    # ---- what cached priors and checkpoints must agree on ----
    def state_dict(self):
        return {"env_id": self.env_id, "obs_dim": self.obs_dim, "act_dim": self.event_shape[0]}

    def load_state_dict(self, state, where="the checkpoint"):
        state = state or {}
        if state.get("act_dim", self.event_shape[0]) != self.event_shape[0] or state.get("obs_dim", self.obs_dim) != self.obs_dim:
            raise UserError(f"{where} models {state.get('act_dim')}-dimensional actions of {state.get('obs_dim')}-dimensional "
                            f"states ({state.get('env_id')}); this dataset has {self.event_shape[0]} and {self.obs_dim} "
                            f"({self.env_id})", "delete that file to retrain it on this dataset, or use the data it was trained on")


class HalfCheetah(ControlDomain):
    """The embedded HalfCheetah-v5 dataset (control/halfcheetah.py): a searched gait mixed with noise."""
    name = "halfcheetah"


class OfflineRL(ControlDomain):
    """A D4RL/Minari-style HDF5 file (data.path) of a gymnasium environment (domain.env_id)."""
    name = "offline_rl"

    def __init__(self, *a, data=None, **kw):
        if not (data or {}).get("path"):
            raise ConfigError("domain=offline_rl reads a dataset file, but data.path is not set",
                              "pass data.path=/path/to/dataset.hdf5 (or use domain=pendulum for the embedded data)")
        super().__init__(*a, data=data, **kw)

    def _expert(self):
        return None
