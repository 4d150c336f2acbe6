"""The branching chain DSM's tests train on, whose return distribution has a closed form: from
state 0 the chain moves to +1 with probability `up_probability`, else to -1, and stays there. With
r(s) = s and the occupancy (1 - gamma) delta_0 + gamma delta_{+-1}, the return from 0 is
+-gamma / (1 - gamma); from +-1 it is +-1 / (1 - gamma)."""

import gymnasium
import numpy as np

from offline import datasets
from offline.dsm import kernels

OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
GAMMA = 0.8
UP_PROBABILITY = 0.7
# The chain's model small enough to train in seconds on a CPU: the energy-distance variant (the
# cheapest step), and a fixed outer bandwidth. (With the median bandwidth, a window whose targets
# all coincide, as from the chain's absorbing states, has a median near zero, so its outer kernel
# saturates and its gradient all but vanishes: the same model needs about three times as many
# steps.)
CHAIN = dict(num_atoms=8, num_samples=8, generator_hidden_sizes=(32, 32), gamma=GAMMA,
             batch_size=16, generator_learning_rate=3e-3, steps_per_call=250, adversarial=False,
             inner_kernel=kernels.EnergyDistanceKernel(), outer_adaptive_bandwidth=False)


def branching_chain(path, episodes=200, length=10, seed=0, up_probability=UP_PROBABILITY):
  """From state 0 the chain moves to +1 with probability `up_probability`, else to -1, and stays
  there; episodes of `length` steps end by truncation."""
  rng = np.random.default_rng(seed)
  recorded = []
  for _ in range(episodes):
    observations = np.full((length + 1, 1), 1.0 if rng.random() < up_probability else -1.0,
                           np.float32)
    observations[0] = 0.0
    recorded.append(dict(observations=observations, actions=np.zeros((length, 1), np.float32),
                         rewards=np.zeros(length), terminations=np.zeros(length, bool),
                         truncations=np.arange(length) == length - 1))
  datasets.write_dataset(path, recorded, OBSERVATIONS, ACTIONS)
  return datasets.load_dataset(path)
