"""The embedded HalfCheetah-v5 dataset: a sinusoidal gait found by a short seeded search, mixed with noise.

HalfCheetah-v5 (MuJoCo): 17-D observation, 6 joint torques in [-1, 1], dt = 0.05 s; reward = forward
velocity − 0.1·|a|². Episodes are cut at `domain.max_episode_steps` (200 by default: 10 s).

Expert (`gait`): joint j applies clip(b_j + A_j·sin(2π·t/P + φ_j), -1, 1), an open-loop central
pattern generator with one clock of period P steps (`domain.clock_period`). The clock's (sin, cos) is
appended to the observation of every model (gait_clock.py), so the gait is a function of the observed
state and p(a|s) is learnable. Its 18 parameters (offset b, amplitude A, phase φ per joint) come from
the cross-entropy method over rollouts when the dataset is generated: `search_iters` rounds of
`search_population` Gaussian candidates, each scored by one episode from a fixed reset seed; the top
quarter refits the mean and std. Seeded, no learning from outside data; about 10–20 s of CPU.
The behaviour policy (behaviour.py) mixes the gait with noise, half-random steps and random actions.
"""
import numpy as np

ENV_ID = "HalfCheetah-v5"


def gait(obs, params):
    """The gait's actions for observations (N, obs_dim) ending with the clock (sin, cos); params (3, act_dim)."""
    b, amp, phi = params
    s, c = obs[:, -2:-1], obs[:, -1:]
    return np.clip(b + amp * (s * np.cos(phi) + c * np.sin(phi)), -1.0, 1.0)   # sin(θ + φ), θ the clock phase


def episode_return(env, params, seed):
    obs, _ = env.reset(seed=int(seed))
    total, done = 0.0, False
    while not done:
        obs, r, term, trunc, _ = env.step(gait(obs[None], params)[0].astype(np.float32))
        total, done = total + float(r), term or trunc
    return total


def search_gait(env, iters=10, population=32, seed=0):
    """Cross-entropy method over (b, A, φ); returns the best parameters seen (3, act_dim) and their return."""
    rng = np.random.default_rng(seed)
    act_dim = env.action_space.shape[0]
    mean = np.concatenate([np.zeros(act_dim), np.full(act_dim, 0.5), np.zeros(act_dim)])
    std = np.concatenate([np.full(act_dim, 0.3), np.full(act_dim, 0.3), np.full(act_dim, np.pi)])
    best, best_ret = mean.reshape(3, act_dim), -np.inf
    for it in range(iters):
        cands = mean + std * rng.standard_normal((population, 3 * act_dim))
        rets = np.array([episode_return(env, c.reshape(3, act_dim), seed * 7919 + it) for c in cands])
        elite = cands[np.argsort(rets)[-max(2, population // 4):]]
        mean, std = elite.mean(0), elite.std(0) + 0.02
        if rets.max() > best_ret:
            best, best_ret = cands[rets.argmax()].reshape(3, act_dim), float(rets.max())
    return best, best_ret


def generate(episodes=100, seed=0, mix=(1 / 3, 1 / 3, 1 / 3), noise=0.3, search_iters=10, search_population=32,
             env_kwargs=None):
    """Search the gait, then roll the behaviour policy around it; D4RL-style arrays plus 'episode_component',
    'episode_returns' and 'expert_params' (the gait, the 100-point reference)."""
    from .behaviour import BehaviourPolicy, record
    from .environment import action_bounds, make_env

    env_kwargs = env_kwargs or {}
    if env_kwargs.get("clock_period") is None:
        raise ValueError("the HalfCheetah gait needs its clock in the observation: set domain.clock_period")
    env = make_env(ENV_ID, **env_kwargs)
    params, _ = search_gait(env, search_iters, search_population, seed)
    low, high = action_bounds(env)
    policy = BehaviourPolicy(lambda o: gait(o, params), low, high, mix, noise, np.random.default_rng(seed))
    data = record(env, policy, episodes, seed)
    env.close()
    data["expert_params"] = params.astype(np.float32)
    return data


def expert_from(arrays):
    """The noise-free gait of a generated dataset."""
    params = np.asarray(arrays["expert_params"], dtype=np.float64)
    return lambda obs: gait(obs, params)
