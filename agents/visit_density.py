"""How often the agent has been in a state: visit counts over hashed observations.

DCEO's Laplacian objective is an expectation over the states its replay holds, so a state counts
as often as the agent stood in it. `VisitCounter` gives the counts that correct for this
(`DCEOAgent.state_weighting = 'inverse_visits'`): each state then counts alike, whatever its
visits, as in the Laplacian of the graph of visited states.

Observations are counted under a 64-bit key:
- `hash_bits = 0`: the observation's exact bytes (an 8-byte BLAKE2b digest of them), for domains
  whose states repeat exactly, such as the grid worlds;
- `hash_bits = k` in 1..64: SimHash (Charikar 2002; the count-based exploration of Tang et al.
  2017): the signs of k fixed Gaussian projections of the flattened observation, so that
  observations close in pixel space share a key. For pixels, where exact repeats are rare.
  The projections are drawn from `seed`, and stay the same across a checkpoint's restore.

`add(observation)` counts one visit; `counts(observations)` reads a batch's counts (0 for a key
never added); `state_dict` / `load_state_dict` checkpoint the table as two arrays.
"""

import hashlib
from typing import Dict, Mapping, Optional

import numpy as np

from runner import errors

MAX_HASH_BITS = 64


class VisitCounter:
  """Visit counts keyed by exact observation bytes (hash_bits 0) or SimHash (hash_bits 1..64)."""

  def __init__(self, hash_bits: int = 0, seed: int = 0, owner: str = 'VisitCounter'):
    if not 0 <= hash_bits <= MAX_HASH_BITS:
      raise errors.InvalidSettingError(
          f'{owner}: visit hash bits must be 0 (exact observations) to {MAX_HASH_BITS} '
          f'(SimHash), got {hash_bits}')
    self.hash_bits = hash_bits
    self.seed = seed
    self._projection: Optional[np.ndarray] = None  # SimHash's, drawn at the first observation
    self._counts: Dict[int, int] = {}

  def __len__(self) -> int:
    """The number of distinct keys counted."""
    return len(self._counts)

  def keys(self, observations: np.ndarray) -> np.ndarray:
    """(batch,) uint64 keys of a batch of observations."""
    observations = np.asarray(observations)
    if self.hash_bits == 0:
      return np.array([int.from_bytes(hashlib.blake2b(np.ascontiguousarray(row).tobytes(),
                                                      digest_size=8).digest(), 'little')
                       for row in observations], np.uint64)
    flat = observations.reshape(len(observations), -1).astype(np.float32)
    if self._projection is None:
      self._projection = np.random.default_rng(self.seed).standard_normal(
          (flat.shape[1], self.hash_bits)).astype(np.float32)
    elif self._projection.shape[0] != flat.shape[1]:
      raise errors.BadInputError(
          f'VisitCounter: observations of {flat.shape[1]} numbers, after counting observations '
          f'of {self._projection.shape[0]}')
    bits = (flat @ self._projection > 0).astype(np.uint64)
    return (bits << np.arange(self.hash_bits, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)

  def add(self, observation: np.ndarray) -> None:
    """Counts one visit of one (unbatched) observation."""
    key = int(self.keys(np.asarray(observation)[None])[0])
    self._counts[key] = self._counts.get(key, 0) + 1

  def counts(self, observations: np.ndarray) -> np.ndarray:
    """(batch,) int64 visit counts of a batch of observations."""
    return np.array([self._counts.get(int(key), 0) for key in self.keys(observations)], np.int64)

  def state_dict(self) -> Dict[str, np.ndarray]:
    keys = np.fromiter(self._counts.keys(), np.uint64, len(self._counts))
    counts = np.fromiter(self._counts.values(), np.int64, len(self._counts))
    return {'keys': keys, 'counts': counts, 'hash_bits': np.int64(self.hash_bits)}

  def load_state_dict(self, state: Mapping) -> None:
    if int(state['hash_bits']) != self.hash_bits:
      raise errors.BadInputError(
          f'VisitCounter: the checkpoint counted with {int(state["hash_bits"])} hash bits, this '
          f'agent counts with {self.hash_bits}')
    keys, counts = np.asarray(state['keys']), np.asarray(state['counts'])
    if keys.shape != counts.shape:
      raise errors.BadInputError(f'VisitCounter: the checkpoint has {keys.size} keys and '
                                 f'{counts.size} counts')
    self._counts = dict(zip(keys.tolist(), counts.tolist()))
