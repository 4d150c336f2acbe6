"""A circular replay buffer of transitions with named fields, sampled uniformly.

Fields are preallocated numpy arrays, so adding is a handful of array writes and sampling one
vectorised gather per field; the buffer holds no RNG of its own (the caller passes its Generator,
which keeps all randomness in one checkpointed place).
"""

from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

FieldSpec = Tuple[Sequence[int], np.dtype]


class ReplayBuffer:
  """Fixed-capacity FIFO storage of transitions; the oldest is overwritten when full."""

  def __init__(self, capacity: int, fields: Mapping[str, FieldSpec]):
    if capacity <= 0:
      raise ValueError(f'replay capacity must be positive, got {capacity}')
    self.capacity = int(capacity)
    self._storage = {
        name: np.zeros((self.capacity, *shape), dtype=dtype)
        for name, (shape, dtype) in fields.items()
    }
    self.add_count = 0  # transitions ever added; the write position is add_count % capacity

  def __len__(self) -> int:
    return min(self.add_count, self.capacity)

  def add(self, transition: Mapping[str, np.ndarray]) -> None:
    """Stores one transition; `transition` must have exactly the buffer's fields."""
    if transition.keys() != self._storage.keys():
      raise KeyError(f'transition fields {sorted(transition)} != buffer fields {sorted(self._storage)}')
    index = self.add_count % self.capacity
    for name, value in transition.items():
      self._storage[name][index] = value
    self.add_count += 1

  def sample(self, batch_size: int, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """A batch of `batch_size` transitions drawn uniformly with replacement."""
    if self.add_count == 0:
      raise ValueError('cannot sample from an empty replay buffer')
    indices = rng.integers(0, len(self), size=batch_size)
    return {name: array[indices] for name, array in self._storage.items()}

  def state_dict(self) -> Dict[str, np.ndarray]:
    """Everything needed to rebuild the buffer exactly (only the filled part of the arrays)."""
    filled = len(self)
    return {'add_count': np.int64(self.add_count),
            'fields': {name: array[:filled] for name, array in self._storage.items()}}

  def load_state_dict(self, state: Mapping) -> None:
    fields = state['fields']
    if fields.keys() != self._storage.keys():
      raise ValueError(f'saved replay fields {sorted(fields)} != buffer fields {sorted(self._storage)}')
    add_count = int(state['add_count'])
    filled = min(add_count, self.capacity)
    for name, array in fields.items():
      if array.shape != (filled, *self._storage[name].shape[1:]):
        raise ValueError(f'saved replay field {name!r} has shape {array.shape}, expected '
                         f'{(filled, *self._storage[name].shape[1:])}')
      self._storage[name][:filled] = array
    self.add_count = add_count
