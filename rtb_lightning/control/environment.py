"""gymnasium environments for offline RL: creation with clear errors, and batched policy rollouts."""
import numpy as np

from ..errors import UserError
from ..optional import require


def make_env(env_id, max_episode_steps=None, clock_period=None):
    """`max_episode_steps`: a shorter time limit than the env's default; `clock_period`: append a gait
    clock (gait_clock.py) to the observations."""
    gym = require("gymnasium", "gymnasium", "offline RL rollouts")
    try:
        env = gym.make(env_id, **({} if max_episode_steps is None else {"max_episode_steps": int(max_episode_steps)}))
    except Exception as e:                # unregistered id, or a registered env whose dependency is missing
        raise UserError(f"cannot create environment '{env_id}': {type(e).__name__}: {str(e).splitlines()[0]}",
                        "use an installed gymnasium id (e.g. Pendulum-v1; MuJoCo tasks need `pip install "
                        "mujoco imageio`), or set domain.env_id to the dataset's environment") from None
    if clock_period is not None:
        from .gait_clock import with_gait_clock

        env = with_gait_clock(env, clock_period)
    return env


def action_bounds(env):
    low, high = np.asarray(env.action_space.low, float), np.asarray(env.action_space.high, float)
    return low, high


def rollout_returns(policy, env_id, seeds, max_steps=None, **env_kwargs):
    """Undiscounted episode returns of `policy` (raw observations (N, obs_dim) -> raw actions (N, act_dim),
    batched over the episodes still running), one episode per seed, all episodes stepped in lockstep;
    `env_kwargs` go to make_env."""
    envs = [make_env(env_id, **env_kwargs) for _ in seeds]
    obs = np.stack([e.reset(seed=int(s))[0] for e, s in zip(envs, seeds)]).astype(np.float32)
    returns, alive, t = np.zeros(len(envs)), np.ones(len(envs), bool), 0
    while alive.any() and (max_steps is None or t < max_steps):
        idx = np.flatnonzero(alive)
        acts = np.asarray(policy(obs[idx]), dtype=np.float32)
        for j, i in enumerate(idx):
            low, high = action_bounds(envs[i])
            nxt, r, term, trunc, _ = envs[i].step(np.clip(acts[j], low, high))
            obs[i], returns[i] = nxt, returns[i] + float(r)
            alive[i] = not (term or trunc)
        t += 1
    for e in envs:
        e.close()
    return returns
