"""Turns a stream of one-step experience into n-step transitions.

Each emitted transition carries its own `discount` = gamma^k for a bootstrap k steps ahead, or 0 if
the episode terminated within the window, so a learner's target is always
`reward + discount * V(next_observation)`, whatever n was. At an episode end (terminated or
truncated) the remaining steps are flushed with shorter horizons; a truncated episode still
bootstraps from its final observation.
"""

import collections
from typing import Dict, List

import numpy as np


class NStepAccumulator:
  """Buffers the last n steps of the current episode and emits n-step transitions."""

  def __init__(self, update_horizon: int, gamma: float):
    if update_horizon < 1:
      raise ValueError(f'update_horizon must be >= 1, got {update_horizon}')
    self.update_horizon = update_horizon
    self.gamma = gamma
    self._window = collections.deque()

  def __len__(self) -> int:
    return len(self._window)

  def add(self, observation, action, reward: float, next_observation, terminated: bool,
          episode_end: bool) -> List[Dict[str, np.ndarray]]:
    """Adds one step (s, a, r, s'); returns the transitions that are now complete (maybe none)."""
    self._window.append((observation, action, float(reward)))
    ready = []
    if terminated or episode_end:
      while self._window:
        ready.append(self._emit(next_observation, terminated))
    elif len(self._window) == self.update_horizon:
      ready.append(self._emit(next_observation, False))
    return ready

  def reset(self) -> None:
    """Forgets a partial window (an episode abandoned without a final observation)."""
    self._window.clear()

  def _emit(self, next_observation, terminated: bool) -> Dict[str, np.ndarray]:
    observation, action, _ = self._window[0]
    horizon = len(self._window)
    # A Python sum: n is small and this runs on every agent step, where numpy's call cost dominates.
    discounted_return = sum(self.gamma**k * step[2] for k, step in enumerate(self._window))
    self._window.popleft()
    return {
        'observation': observation,
        'action': action,
        'reward': np.float32(discounted_return),
        'next_observation': next_observation,
        'discount': np.float32(0.0 if terminated else self.gamma**horizon),
    }
