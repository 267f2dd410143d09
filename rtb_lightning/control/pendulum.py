"""The embedded offline dataset: Pendulum-v1 transitions from a documented mixed-quality behaviour policy.

Pendulum-v1: observation (cos θ, sin θ, θ̇) with θ = 0 upright; torque u in [-2, 2]; dynamics
θ̈ = 15 sin θ + 3u (g = 10, m = l = 1, dt = 0.05); reward −(θ² + 0.1 θ̇² + 0.001 u²); 200 steps.

Expert (`swing_up`): energy pumping until the pendulum nears the top, then a PD controller holds
it. With E = ½θ̇² + 15(cos θ − 1) (0 upright at rest, dE/dt = 3uθ̇), pumping applies full torque
in the direction of motion while E < 0. Its episodes return about −150 (a random policy: about −1,200).

The behaviour policy (behaviour.py) mixes three per-episode components around this controller:
expert + Gaussian torque noise of std `noise`, eps (half random steps), and uniform random torques.
"""
import numpy as np

ENV_ID = "Pendulum-v1"
MAX_TORQUE = 2.0


def swing_up(obs):
    """The expert torque for a batch of observations (N, 3) -> (N,)."""
    c, s, w = obs[:, 0], obs[:, 1], obs[:, 2]
    theta = np.arctan2(s, c)
    energy = 0.5 * w ** 2 + 15.0 * (c - 1.0)
    pump = np.where(energy < 0, MAX_TORQUE * np.sign(w + 1e-6), -0.5 * w)
    hold = -(10.0 * theta + 2.0 * w)
    return np.clip(np.where(c > 0.85, hold, pump), -MAX_TORQUE, MAX_TORQUE)


def generate(episodes=100, seed=0, mix=(1 / 3, 1 / 3, 1 / 3), noise=0.3, env_kwargs=None):
    """Roll the behaviour policy (behaviour.py) around the swing-up controller in Pendulum-v1; returns a
    dict of numpy arrays (D4RL key names) plus 'episode_component' and 'episode_returns'."""
    from .behaviour import BehaviourPolicy, record
    from .environment import make_env

    env = make_env(ENV_ID, **(env_kwargs or {}))
    policy = BehaviourPolicy(expert_policy, [-MAX_TORQUE], [MAX_TORQUE], mix, noise, np.random.default_rng(seed))
    data = record(env, policy, episodes, seed)
    env.close()
    return data


def expert_policy(obs):
    """The noise-free swing-up controller as a policy on raw observations (the 100-point reference)."""
    return swing_up(obs)[:, None]


def expert_from(arrays):
    """The 100-point policy of a generated dataset (here it has no parameters)."""
    return expert_policy
