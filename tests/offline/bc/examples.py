"""Tiny synthetic datasets for the behaviour-cloning tests, written with the zoo's own writer."""

import gymnasium
import numpy as np

from offline import datasets

OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
BOX_ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
DISCRETE_ACTIONS = gymnasium.spaces.Discrete(4, start=1)


def linear_expert(observations):
  """The Box expert: a = clip(0.5 s, -1, 1)."""
  return np.clip(0.5 * observations, -1.0, 1.0).astype(np.float32)


def quadrant_expert(observations):
  """The Discrete expert: the quadrant of s, as an action in 1..4."""
  return 1 + (observations[:, 0] > 0).astype(np.int64) + 2 * (observations[:, 1] > 0)


def write_expert_dataset(path, expert, action_space, num_episodes=40, episode_length=25, seed=0):
  """Episodes of states drawn from N(0, 1.5^2) per step (no dynamics needed to clone an
  expert) and the expert's actions."""
  rng = np.random.default_rng(seed)
  episodes = []
  for _ in range(num_episodes):
    observations = rng.normal(0.0, 1.5, (episode_length + 1, 2)).astype(np.float32)
    episodes.append(dict(observations=observations, actions=expert(observations[:-1]),
                         rewards=np.zeros(episode_length),
                         terminations=np.arange(episode_length) == episode_length - 1,
                         truncations=np.zeros(episode_length, bool)))
  datasets.write_dataset(str(path), episodes, OBSERVATIONS, action_space)
  return datasets.load_dataset(str(path))
