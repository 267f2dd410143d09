"""The mixed-quality behaviour policy of the embedded datasets, and the recording of its episodes.

Each episode plays one component, drawn with probabilities `mix`:
  expert: the environment's expert controller plus Gaussian action noise of std `noise` (in action units);
  eps:    each step, the controller's action with probability 1/2, else a uniform random action;
  random: uniform random actions throughout.
The expert is a function of the observation batch (N, obs_dim) -> (N, act_dim), so p(a|s) is learnable.
"""
import numpy as np

COMPONENTS = ("expert", "eps", "random")
KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


class BehaviourPolicy:
    """`expert`: observations -> actions; `low`, `high`: action bounds; `rng` a numpy Generator."""

    def __init__(self, expert, low, high, mix=(1 / 3, 1 / 3, 1 / 3), noise=0.3, rng=None):
        mix = np.asarray(mix, dtype=float)
        if mix.shape != (3,) or (mix < 0).any() or mix.sum() <= 0:
            raise ValueError(f"behaviour mix must be 3 non-negative fractions (expert, eps, random), got {mix}")
        self.expert, self.low, self.high = expert, np.asarray(low, float), np.asarray(high, float)
        self.mix, self.noise, self.rng = mix / mix.sum(), noise, rng or np.random.default_rng(0)

    def draw_component(self):
        return COMPONENTS[self.rng.choice(3, p=self.mix)]

    def act(self, component, obs):
        shape = (len(obs), len(self.low))
        a_rand = self.rng.uniform(self.low, self.high, size=shape)
        if component == "random":
            return a_rand
        a = self.expert(obs)
        if component == "expert":
            a = a + self.noise * self.rng.standard_normal(shape)
        else:
            a = np.where(self.rng.random((len(obs), 1)) < 0.5, a, a_rand)
        return np.clip(a, self.low, self.high)


def record(env, policy, episodes, seed):
    """Roll `policy` (a BehaviourPolicy) in `env` for `episodes` episodes (reset seeds derived from `seed`);
    returns a dict of numpy arrays (D4RL key names) plus 'episode_component' and 'episode_returns'."""
    out = {k: [] for k in KEYS}
    comps, returns = [], []
    for ep in range(episodes):
        comp = policy.draw_component()
        obs, _ = env.reset(seed=seed * 100_003 + ep)
        total, done = 0.0, False
        while not done:
            a = policy.act(comp, obs[None])[0]
            nxt, r, term, trunc, _ = env.step(a.astype(np.float32))
            for k, v in zip(KEYS, (obs, a, r, nxt, term, trunc)):
                out[k].append(v)
            obs, total, done = nxt, total + float(r), term or trunc
        comps.append(COMPONENTS.index(comp))
        returns.append(total)
    data = {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
    data["episode_component"] = np.asarray(comps)
    data["episode_returns"] = np.asarray(returns, dtype=np.float32)
    return data
