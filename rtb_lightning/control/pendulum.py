"""The embedded offline dataset: Pendulum-v1 transitions from a documented mixed-quality behaviour policy.

Pendulum-v1: observation (cos θ, sin θ, θ̇) with θ = 0 upright; torque u in [-2, 2]; dynamics
θ̈ = 15 sin θ + 3u (g = 10, m = l = 1, dt = 0.05); reward −(θ² + 0.1 θ̇² + 0.001 u²); 200 steps.

Expert (`swing_up`): energy pumping until the pendulum nears the top, then a PD controller holds
it. With E = ½θ̇² + 15(cos θ − 1) (0 upright at rest, dE/dt = 3uθ̇), pumping applies full torque
in the direction of motion while E < 0. Its episodes return about −150 (a random policy: about −1,200).

The behaviour policy mixes three per-episode components (fractions `mix`):
  expert: the swing-up controller plus Gaussian torque noise of std `noise`;
  eps:    each step, the controller's torque with probability 1/2, else a uniform random torque;
  random: uniform random torques throughout.
"""
import numpy as np

ENV_ID = "Pendulum-v1"
MAX_TORQUE = 2.0
COMPONENTS = ("expert", "eps", "random")


def swing_up(obs):
    """The expert torque for a batch of observations (N, 3) -> (N,)."""
    c, s, w = obs[:, 0], obs[:, 1], obs[:, 2]
    theta = np.arctan2(s, c)
    energy = 0.5 * w ** 2 + 15.0 * (c - 1.0)
    pump = np.where(energy < 0, MAX_TORQUE * np.sign(w + 1e-6), -0.5 * w)
    hold = -(10.0 * theta + 2.0 * w)
    return np.clip(np.where(c > 0.85, hold, pump), -MAX_TORQUE, MAX_TORQUE)


class BehaviourPolicy:
    """One component per episode, drawn with probabilities `mix`; `rng` a numpy Generator."""

    def __init__(self, mix=(1 / 3, 1 / 3, 1 / 3), noise=0.3, rng=None):
        mix = np.asarray(mix, dtype=float)
        if mix.shape != (3,) or (mix < 0).any() or mix.sum() <= 0:
            raise ValueError(f"behaviour mix must be 3 non-negative fractions (expert, eps, random), got {mix}")
        self.mix, self.noise, self.rng = mix / mix.sum(), noise, rng or np.random.default_rng(0)

    def draw_component(self):
        return COMPONENTS[self.rng.choice(3, p=self.mix)]

    def act(self, component, obs):
        u_rand = self.rng.uniform(-MAX_TORQUE, MAX_TORQUE, size=len(obs))
        if component == "random":
            return u_rand
        u = swing_up(obs)
        if component == "expert":
            u = u + self.noise * self.rng.standard_normal(len(obs))
        else:
            u = np.where(self.rng.random(len(obs)) < 0.5, u, u_rand)
        return np.clip(u, -MAX_TORQUE, MAX_TORQUE)


def generate(episodes=100, seed=0, mix=(1 / 3, 1 / 3, 1 / 3), noise=0.3):
    """Roll the behaviour policy in Pendulum-v1; returns a dict of numpy arrays (D4RL key names)
    plus 'episode_component' (which component played each episode) and 'episode_returns'."""
    from .environment import make_env

    env = make_env(ENV_ID)
    policy = BehaviourPolicy(mix, noise, np.random.default_rng(seed))
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    out = {k: [] for k in keys}
    comps, returns = [], []
    for ep in range(episodes):
        comp = policy.draw_component()
        obs, _ = env.reset(seed=seed * 100_003 + ep)
        total, done = 0.0, False
        while not done:
            a = policy.act(comp, obs[None])[0]
            nxt, r, term, trunc, _ = env.step(np.array([a], dtype=np.float32))
            for k, v in zip(keys, (obs, [a], r, nxt, term, trunc)):
                out[k].append(v)
            obs, total, done = nxt, total + float(r), term or trunc
        comps.append(COMPONENTS.index(comp))
        returns.append(total)
    env.close()
    data = {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
    data["episode_component"] = np.asarray(comps)
    data["episode_returns"] = np.asarray(returns, dtype=np.float32)
    return data


def expert_policy(obs):
    """The noise-free swing-up controller as a policy on raw observations (the 100-point reference)."""
    return swing_up(obs)[:, None]

