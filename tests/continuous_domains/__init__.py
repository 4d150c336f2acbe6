"""Tests of the continuous-control domains, and the rollout they share."""

import numpy as np


def rollout(env, seed, num_steps, action_seed=0):
  """Observations (reset first) and rewards of `num_steps` uniform random actions (drawn from
  `action_seed`, not from the env, so that two runs play the same actions) after `reset(seed)`."""
  rng = np.random.default_rng(action_seed)
  low, high = env.action_space.low, env.action_space.high
  observation, _ = env.reset(seed=seed)
  observations, rewards = [observation], []
  for _ in range(num_steps):
    observation, reward, terminated, truncated, _ = env.step(
        rng.uniform(low, high).astype(env.action_space.dtype))
    observations.append(observation)
    rewards.append(reward)
    if terminated or truncated:
      break
  return np.stack(observations), np.array(rewards)
