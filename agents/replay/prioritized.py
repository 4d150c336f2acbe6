"""Prioritized replay (Schaul et al., 2016) on the circular buffer: start rows are drawn in
proportion to a priority kept in a sum tree, vectorised over the batch.

New rows get the highest priority recorded so far, so each is likely to be replayed at least once;
final-observation rows get 0 and are never drawn. The agent sets priorities from its losses after
each update and corrects the bias with `importance_weights`.
"""

from typing import Dict, Mapping

import jax.numpy as jnp
import numpy as np

from agents.replay.circular import FINAL, CircularReplayBuffer
from agents.replay.sum_tree import SumTree


class PrioritizedReplayBuffer(CircularReplayBuffer):
  """`sample` also returns each transition's `sampling_probability`."""

  def __init__(self, capacity: int, **kwargs):
    super().__init__(capacity, **kwargs)
    self.sum_tree = SumTree(self.capacity)

  def _on_row_written(self, index: int, kind: int) -> None:
    self.sum_tree.set_one(index, 0.0 if kind == FINAL else self.sum_tree.max_recorded_priority)

  def _draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
    return self.sum_tree.stratified_sample(count, rng)

  def _draw_among(self, rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    priorities = self.sum_tree.get(rows)
    return rng.choice(rows, size=count, p=priorities / priorities.sum())

  def is_valid_start(self, indices: np.ndarray) -> np.ndarray:
    return super().is_valid_start(indices) & (self.sum_tree.get(indices) > 0)

  def gather(self, indices: np.ndarray) -> Dict[str, np.ndarray]:
    batch = super().gather(indices)
    batch['sampling_probability'] = (self.sum_tree.get(indices) / self.sum_tree.total).astype(
        np.float32)
    return batch

  def set_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
    self.sum_tree.set(indices, priorities)

  def state_dict(self) -> Dict[str, np.ndarray]:
    return {**super().state_dict(), 'sum_tree': self.sum_tree.state_dict()}

  def load_state_dict(self, state: Mapping) -> None:
    super().load_state_dict(state)
    self.sum_tree.load_state_dict(state['sum_tree'])


def create_replay_buffer(prioritized: bool, capacity: int, **kwargs) -> CircularReplayBuffer:
  """A prioritized or a uniform buffer with the same arguments (the agents' `replay_scheme`)."""
  return (PrioritizedReplayBuffer if prioritized else CircularReplayBuffer)(capacity, **kwargs)


def importance_weights(sampling_probabilities: jnp.ndarray, exponent: float) -> jnp.ndarray:
  """(1 / P(i))^exponent, divided by the batch's largest so that weights only scale updates
  down (Schaul et al.); Dopamine's full Rainbow uses exponent 0.5. Usable inside jit."""
  weights = (1.0 / (sampling_probabilities + 1e-10)) ** exponent
  return weights / jnp.max(weights)
