"""The small deterministic graph GOM's tests train on: from state 0 (the start) action +0.8 moves
to state +1 and action -0.8 to state -1, both absorbing (any action stays). The data take either
branch with probability one half, so the outcomes from 0 are two: phi(0) + gamma/(1-gamma)
phi(+-1). For r(s) = s, value iteration over the data goes up; for r(s) = -s, down."""

import functools

import gymnasium
import numpy as np

from offline import datasets
from offline.gom.learner import GOMLearner

OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
GAMMA = 0.8
UP_ACTION = 0.8
# A GOM small enough to train in seconds on a CPU; its states times 3 spread the cumulants of
# states one unit apart over about a radian and a half (cumulants.py).
TINY = dict(num_features=4, outcome_dims=(64, 64), policy_dims=(64, 64), blocks_per_level=1,
            time_embedding_dim=16, diffusion_steps=100, sampling_steps=10, learning_rate=1e-3,
            warmup_steps=10, decay_steps=3000, batch_size=128, steps_per_call=100, ema_rate=0.99,
            cumulant_input_scale=3.0)


def branching_graph(path, episodes=200, length=10, seed=0):
  rng = np.random.default_rng(seed)
  recorded = []
  for _ in range(episodes):
    up = rng.random() < 0.5
    observations = np.full((length + 1, 1), 1.0 if up else -1.0, np.float32)
    observations[0] = 0.0
    actions = np.zeros((length, 1), np.float32)
    actions[0] = UP_ACTION if up else -UP_ACTION
    recorded.append(dict(observations=observations, actions=actions, rewards=np.zeros(length),
                         terminations=np.zeros(length, bool),
                         truncations=np.arange(length) == length - 1))
  datasets.write_dataset(path, recorded, OBSERVATIONS, ACTIONS)
  return datasets.load_dataset(path)


@functools.lru_cache(maxsize=None)
def trained_learner(path: str, gamma: float = GAMMA, steps: int = 1500) -> GOMLearner:
  """A GOM trained on the branching graph's data written to `path` (once per test session)."""
  learner = GOMLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=branching_graph(path),
                       gamma=gamma, **TINY)
  learner.train(steps)
  return learner
