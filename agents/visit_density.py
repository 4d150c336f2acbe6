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

`VisitedStateSampler` draws replay rows uniformly over the distinct keys the replay holds, then
uniformly among each key's rows (`DCEOAgent.state_weighting = 'uniform_visited'`): the same
expectation as weighting by inverse visits, sampled instead of weighted, so a batch keeps all its
samples and a rarely visited state is drawn as often as any other.
"""

import hashlib
from typing import Dict, Mapping, Optional

import numpy as np

from runner import errors

MAX_HASH_BITS = 64
UNKEYED = -1  # a row's key id when it starts no transition (unwritten, or an episode's end)
MAX_DRAW_ROUNDS = 1000


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


class VisitedStateSampler:
  """Replay rows drawn uniformly over the keys (a `VisitCounter`'s, `hash_bits` as there) of the
  transitions the replay holds, then uniformly among each key's rows.

  The sampler follows the replay's writes (`sync`, at every draw): each written row's key gets a
  dense id, and rows that start no transition (an episode's final observation) none. A draw takes
  rows uniformly and keeps each with probability 1 / (the rows its key has), redrawing until
  `count` valid starts are kept: every key is then equally likely, exactly, and the draw is
  vectorised (about rows / keys candidates per kept row). The row ids, the key table and the
  rows followed so far are checkpointed; a restored sampler continues bit for bit.
  """

  def __init__(self, capacity: int, hash_bits: int = 0, seed: int = 0,
               owner: str = 'VisitedStateSampler'):
    self.owner = owner
    self._keys = VisitCounter(hash_bits, seed, owner)
    self._row_ids = np.full(capacity, UNKEYED, np.int64)
    self._ids: Dict[int, int] = {}  # key -> dense id, in order of first sight
    self._rows_per_id = np.zeros(0, np.int64)
    self._followed = 0  # the replay's add_count when last synced

  def __len__(self) -> int:
    """The distinct keys among the rows the replay holds."""
    return int(np.count_nonzero(self._rows_per_id))

  def sync(self, replay) -> None:
    """Follow the rows `replay` (agents/replay/circular.py) wrote since the last sync."""
    if replay.capacity != len(self._row_ids):
      raise errors.BadInputError(f'{self.owner}: a replay of {replay.capacity} rows, for a sampler '
                                 f'of {len(self._row_ids)}')
    first = max(self._followed, replay.add_count - replay.capacity)
    rows = np.arange(first, replay.add_count) % replay.capacity
    self._followed = replay.add_count
    if not len(rows):
      return
    old = self._row_ids[rows]
    np.subtract.at(self._rows_per_id, old[old != UNKEYED], 1)
    starts = replay.row_arrays()['kind'][rows] == 0  # circular.STEP
    ids = np.full(len(rows), UNKEYED, np.int64)
    for position, key in zip(np.flatnonzero(starts),
                             self._keys.keys(replay.stacks(rows[starts])).tolist()):
      ids[position] = self._ids.setdefault(key, len(self._ids))
    if len(self._ids) > len(self._rows_per_id):
      self._rows_per_id = np.concatenate(
          [self._rows_per_id, np.zeros(len(self._ids) - len(self._rows_per_id), np.int64)])
    self._row_ids[rows] = ids
    np.add.at(self._rows_per_id, ids[ids != UNKEYED], 1)

  def draw_starts(self, replay, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows of `replay` that start valid transitions, each key equally likely."""
    self.sync(replay)
    kept = []
    needed = count
    for _ in range(MAX_DRAW_ROUNDS):
      # Enough candidates to keep about `needed` rows at the current rows-per-key ratio.
      keys_held = max(len(self), 1)
      candidates = rng.integers(0, len(replay), size=needed * (len(replay) // keys_held + 1))
      ids = self._row_ids[candidates]
      keyed = ids != UNKEYED
      accept = np.zeros(len(candidates), bool)
      accept[keyed] = rng.random(int(keyed.sum())) * self._rows_per_id[ids[keyed]] < 1.0
      rows = candidates[accept]
      rows = rows[replay.is_valid_start(rows)][:needed]
      kept.append(rows)
      needed -= len(rows)
      if needed == 0:
        return np.concatenate(kept)
    raise ValueError(f'{self.owner}: drew no valid transition start in {MAX_DRAW_ROUNDS} rounds')

  def state_dict(self) -> Dict[str, np.ndarray]:
    keys = np.fromiter(self._ids.keys(), np.uint64, len(self._ids))
    return {'row_ids': self._row_ids.copy(), 'keys': keys, 'followed': np.int64(self._followed),
            'hash_bits': np.int64(self._keys.hash_bits)}

  def load_state_dict(self, state: Mapping) -> None:
    if int(state['hash_bits']) != self._keys.hash_bits:
      raise errors.BadInputError(
          f'{self.owner}: the checkpoint keyed states with {int(state["hash_bits"])} hash bits, '
          f'this agent with {self._keys.hash_bits}')
    row_ids = np.asarray(state['row_ids'], np.int64)
    keys = np.asarray(state['keys'])
    if row_ids.shape != self._row_ids.shape or (row_ids.size and row_ids.max() >= len(keys)):
      raise errors.BadInputError(f'{self.owner}: the checkpoint\'s rows ({row_ids.shape}) and '
                                 f'keys ({keys.size}) do not fit a replay of '
                                 f'{len(self._row_ids)} rows')
    self._row_ids = row_ids.copy()
    self._ids = {key: index for index, key in enumerate(keys.tolist())}
    self._rows_per_id = np.bincount(row_ids[row_ids != UNKEYED], minlength=len(keys)).astype(
        np.int64)
    self._followed = int(state['followed'])
