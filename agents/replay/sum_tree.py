"""A sum tree over non-negative priorities: sampling proportional to priority in O(log N), for a
whole batch at once.

The tree is one flat float64 array in heap order (node k has children 2k and 2k+1, leaves start at
`leaf_offset`, a power of two). Internal nodes are always recomputed from their two children, never
incremented, so no rounding error accumulates however long the buffer lives.
"""

import math
from typing import Dict, Mapping

import numpy as np


class SumTree:
  """Priorities for `capacity` slots; a slot of priority 0 is never sampled."""

  def __init__(self, capacity: int):
    if capacity <= 0:
      raise ValueError(f'sum tree capacity must be positive, got {capacity}')
    self.capacity = int(capacity)
    self.leaf_offset = 1 << max(0, (self.capacity - 1).bit_length())
    self.depth = self.leaf_offset.bit_length() - 1
    self._nodes = np.zeros(2 * self.leaf_offset, dtype=np.float64)
    self.max_recorded_priority = 1.0

  @property
  def total(self) -> float:
    return float(self._nodes[1])

  def get(self, indices: np.ndarray) -> np.ndarray:
    return self._nodes[self.leaf_offset + np.asarray(indices)]

  def set(self, indices: np.ndarray, priorities: np.ndarray) -> None:
    """Sets the priorities of slots `indices` (repeated indices: the last value wins)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    priorities = np.broadcast_to(np.asarray(priorities, dtype=np.float64), indices.shape)
    if np.any(indices < 0) or np.any(indices >= self.capacity):
      raise IndexError(f'sum tree slots must lie in [0, {self.capacity}), got {indices}')
    if not np.all(np.isfinite(priorities)) or np.any(priorities < 0):
      raise ValueError(f'priorities must be finite and non-negative, got {priorities}')
    if priorities.size:
      self.max_recorded_priority = max(self.max_recorded_priority, float(priorities.max()))
    nodes = self.leaf_offset + indices
    self._nodes[nodes] = priorities
    for _ in range(self.depth):
      nodes = nodes >> 1  # a parent listed twice gets the same sum twice: harmless
      self._nodes[nodes] = self._nodes[2 * nodes] + self._nodes[2 * nodes + 1]

  def set_one(self, index: int, priority: float) -> None:
    """`set` for a single slot with Python scalars: the per-step path (a few microseconds, where
    the vectorised form pays numpy's per-call overhead at every level)."""
    if not 0 <= index < self.capacity:
      raise IndexError(f'sum tree slots must lie in [0, {self.capacity}), got {index}')
    if not (priority >= 0 and math.isfinite(priority)):
      raise ValueError(f'priorities must be finite and non-negative, got {priority}')
    self.max_recorded_priority = max(self.max_recorded_priority, priority)
    nodes = self._nodes
    node = self.leaf_offset + index
    nodes[node] = priority
    while node > 1:
      node >>= 1
      nodes[node] = nodes[2 * node] + nodes[2 * node + 1]

  def find(self, targets: np.ndarray) -> np.ndarray:
    """For each target mass in [0, total), the slot whose cumulative-priority interval holds it."""
    targets = np.array(targets, dtype=np.float64)
    nodes = np.ones(targets.shape, dtype=np.int64)
    for _ in range(self.depth):
      left = 2 * nodes
      left_mass = self._nodes[left]
      go_right = targets >= left_mass
      targets = np.where(go_right, targets - left_mass, targets)
      nodes = np.where(go_right, left + 1, left)
    return nodes - self.leaf_offset

  def stratified_sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """`batch_size` slots, one from each of `batch_size` equal slices of the total mass (as in
    Schaul et al. and Dopamine): lower variance than independent draws, same marginal law."""
    if self.total <= 0:
      raise ValueError('cannot sample from a sum tree whose priorities are all zero')
    bounds = (np.arange(batch_size) + rng.random(batch_size)) / batch_size
    return np.minimum(self.find(bounds * self.total), self.capacity - 1)

  def state_dict(self) -> Dict[str, np.ndarray]:
    return {'leaves': self._nodes[self.leaf_offset:self.leaf_offset + self.capacity].copy(),
            'max_recorded_priority': np.float64(self.max_recorded_priority)}

  def load_state_dict(self, state: Mapping) -> None:
    leaves = np.asarray(state['leaves'], dtype=np.float64)
    if leaves.shape != (self.capacity,):
      raise ValueError(f'saved sum tree has {leaves.shape} leaves, expected ({self.capacity},)')
    self._nodes[:] = 0
    self.set(np.arange(self.capacity), leaves)
    self.max_recorded_priority = float(state['max_recorded_priority'])
