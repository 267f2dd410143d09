"""A gait clock in the observation: (sin, cos) of 2π·t/period, t the step index since reset.

An open-loop gait's action depends on time, not on the body's state; with the clock's phase in the
observation, the gait is a function of the observation and p(a|s) is learnable by every model.
"""
import numpy as np


def clock(t, period):
    phase = 2 * np.pi * t / period
    return np.array([np.sin(phase), np.cos(phase)], dtype=np.float32)


def with_gait_clock(env, period):
    """Wrap a gymnasium env so that its observations end with clock(t, period)."""
    import gymnasium as gym

    class GaitClock(gym.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            low = np.concatenate([env.observation_space.low, [-1, -1]]).astype(np.float32)
            high = np.concatenate([env.observation_space.high, [1, 1]]).astype(np.float32)
            self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
            self.t = 0

        def reset(self, **kw):
            self.t = 0
            return super().reset(**kw)

        def step(self, action):
            self.t += 1
            return super().step(action)

        def observation(self, obs):
            return np.concatenate([obs, clock(self.t, period)]).astype(np.float32)

    return GaitClock(env)
