"""Offline training data on the accelerator, and K gradient steps per jitted call over it.

Offline training is where the large step counts are (DSM: 2.5M updates). One Python dispatch and
one host-to-device batch per step would cost more than a small network's update, so every learner
trains through the two pieces here:

  DeviceDataset    per-row arrays (a common leading axis) put on the device once when they fit
                   `max_device_bytes`; a larger dataset stays on the host and is streamed, a chunk
                   of rows at a time, the next chunk's transfer started while the current one
                   trains.
  ScannedTrainer   a pure `update(state, batch, key) -> (state, statistics)` run K =
                   `steps_per_call` times in one jitted `lax.scan`, each step drawing its batch on
                   the device (uniform row indices, then `make_batch`, which may relabel: see
                   offline/bc/goal_conditioned.py). The state's buffers are donated.

Determinism: step s (counted over the learner's whole life) draws all its randomness from
fold_in(base_key, s); calls end at the multiples of K of that count, and a streamed dataset
changes chunk only at such multiples. So `run` over n steps gives the same state however n is
split into calls (the Learner contract in offline/base.py), bit for bit on a CPU. A call shorter
than K (the end of a run that is not a multiple of K) compiles once for its length.
"""

import functools
import math
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import gin
import jax
import jax.numpy as jnp
import numpy as np

from agents import compilation
from runner import errors

Arrays = Dict[str, Any]
Update = Callable[[Any, Arrays, jax.Array], Tuple[Any, Dict[str, jax.Array]]]
MakeBatch = Callable[[Arrays, jax.Array, jax.Array], Arrays]

GIB = 1024 ** 3


def chunk_boundaries(num_rows: int, chunk_rows: int,
                     split_points: Optional[np.ndarray] = None) -> np.ndarray:
  """Row boundaries [0, ..., num_rows] of about equal chunks of at most about `chunk_rows` rows.

  Chunks are equal (so a chunk's rows are drawn as often as another's) unless `split_points`
  (e.g. episode starts) restricts where a chunk may begin: each boundary then moves down to the
  nearest allowed one, so a chunk may be up to one episode longer or shorter than the others (or
  hold a whole episode longer than `chunk_rows`), and a row's episode is always in its chunk.
  """
  num_chunks = max(1, math.ceil(num_rows / chunk_rows))
  targets = (np.arange(1, num_chunks, dtype=np.int64) * num_rows) // num_chunks
  if split_points is not None:
    allowed = np.unique(np.asarray(split_points, np.int64))
    allowed = allowed[(allowed > 0) & (allowed < num_rows)]
    below = np.searchsorted(allowed, targets, side='right') - 1
    targets = np.where(below >= 0, allowed[np.maximum(below, 0)] if len(allowed) else 0, 0)
  return np.unique(np.concatenate([[0], targets, [num_rows]]).astype(np.int64))


@gin.configurable
class DeviceDataset:
  """Per-row arrays on the device, whole when they fit `max_device_bytes`, else in chunks.

  `chunk(index)` returns `(arrays, num_rows)`: device arrays of `capacity` rows (a streamed chunk
  is padded to the largest chunk's size, so that one compiled update serves them all) of which the
  first `num_rows` are data. Streamed chunks have about `chunk_rows` rows (None: as many as let
  two chunks, the current and the prefetched next, fit `max_device_bytes`), starting only at
  `split_points` when given (see chunk_boundaries).
  """

  def __init__(self, arrays: Mapping[str, np.ndarray], split_points: Optional[np.ndarray] = None,
               max_device_bytes: int = 2 * GIB, chunk_rows: Optional[int] = None):
    if not arrays:
      raise errors.BadInputError('DeviceDataset needs at least one array')
    lengths = {name: len(np.asarray(array)) for name, array in arrays.items()}
    self.num_rows = next(iter(lengths.values()))
    if len(set(lengths.values())) != 1:
      raise errors.BadInputError(f'DeviceDataset arrays must have as many rows each, got {lengths}')
    if self.num_rows == 0:
      raise errors.BadInputError('DeviceDataset got arrays with no rows: nothing to train on')
    if max_device_bytes <= 0 or (chunk_rows is not None and chunk_rows < 1):
      raise errors.InvalidSettingError(
          f'DeviceDataset needs max_device_bytes > 0 and chunk_rows >= 1 (or None), got '
          f'max_device_bytes={max_device_bytes}, chunk_rows={chunk_rows}')
    self._host = {name: np.asarray(array) for name, array in arrays.items()}
    self.nbytes = sum(array.nbytes for array in self._host.values())
    self.streamed = self.nbytes > max_device_bytes
    if self.streamed:
      if chunk_rows is None:
        chunk_rows = max(1, int(max_device_bytes // (2 * self.nbytes / self.num_rows)))
      self.boundaries = chunk_boundaries(self.num_rows, chunk_rows, split_points)
    else:
      self.boundaries = np.array([0, self.num_rows], np.int64)
    self.capacity = int(np.max(np.diff(self.boundaries)))
    self._on_device: Dict[int, Tuple[Arrays, int]] = {}
    if not self.streamed:
      self._on_device[0] = self._put(0)
      self._host = None  # on the device for good: the host copy would only take memory

  @property
  def num_chunks(self) -> int:
    return len(self.boundaries) - 1

  def chunk(self, index: int) -> Tuple[Arrays, int]:
    """Chunk `index`'s device arrays and row count; starts the transfer of the next chunk."""
    following = (index + 1) % self.num_chunks
    for wanted in (index, following):
      if wanted not in self._on_device:
        self._on_device[wanted] = self._put(wanted)
    # Only the current and the next chunk are kept, so two chunks bound the device memory.
    self._on_device = {key: self._on_device[key] for key in (index, following)}
    return self._on_device[index]

  def _put(self, index: int) -> Tuple[Arrays, int]:
    start, end = int(self.boundaries[index]), int(self.boundaries[index + 1])
    if not self.streamed:
      return jax.device_put(self._host), self.num_rows
    padded = {}
    for name, array in self._host.items():
      padded[name] = np.zeros((self.capacity,) + array.shape[1:], array.dtype)
      padded[name][:end - start] = array[start:end]
    # device_put returns at once; the copy runs while the current chunk's steps do.
    return jax.device_put(padded), end - start


def gather_rows(data: Arrays, rows: jax.Array, key: jax.Array) -> Arrays:
  """The default batch: every array's `rows`."""
  del key
  return {name: array[rows] for name, array in data.items()}


def sample_rows(key: jax.Array, num_rows: Any, batch_size: int) -> jax.Array:
  """`batch_size` row indices drawn uniformly, with replacement, from [0, num_rows)."""
  return jax.random.randint(key, (batch_size,), 0, num_rows, dtype=jnp.int32)


class ScannedTrainer:
  """Runs a pure update K = `steps_per_call` times per jitted call over a DeviceDataset.

  `update(state, batch, key) -> (state, statistics)` is one gradient step on one batch (scalars
  in `statistics`); `make_batch(data, rows, key)` turns sampled row indices into that batch
  (default: gather_rows). `run` returns the statistics' means over all the steps it ran.
  """

  def __init__(self, update: Update, batch_size: int, steps_per_call: int,
               make_batch: MakeBatch = gather_rows):
    if batch_size < 1 or steps_per_call < 1:
      raise errors.InvalidSettingError(
          f'batch_size and steps_per_call must be at least 1, got batch_size={batch_size}, '
          f'steps_per_call={steps_per_call}')
    self.update = update
    self.batch_size = int(batch_size)
    self.steps_per_call = int(steps_per_call)
    self.make_batch = make_batch
    self._compiled: Dict[int, Callable[..., Any]] = {}

  def steps(self, state: Any, data: Arrays, num_rows: Any, base_key: jax.Array, first_step: Any,
            num_steps: int) -> Tuple[Any, Dict[str, jax.Array]]:
    """`num_steps` updates from global step `first_step` (not jitted: see `call`); statistics
    stacked per step."""

    def one_step(state, step):
      row_key, batch_key, update_key = jax.random.split(jax.random.fold_in(base_key, step), 3)
      rows = sample_rows(row_key, num_rows, self.batch_size)
      return self.update(state, self.make_batch(data, rows, batch_key), update_key)

    steps = jnp.asarray(first_step, jnp.uint32) + jnp.arange(num_steps, dtype=jnp.uint32)
    return jax.lax.scan(one_step, state, steps)

  def call(self, num_steps: int) -> Callable[..., Any]:
    """The jitted `(state, data, num_rows, base_key, first_step) -> (state, statistics stacked
    per step)` for calls of `num_steps` steps, compiled once per length; it donates the state."""
    if num_steps not in self._compiled:
      self._compiled[num_steps] = compilation.jit(
          functools.partial(self.steps, num_steps=num_steps), donate_argnums=0)
    return self._compiled[num_steps]

  def steps_per_chunk(self, dataset: DeviceDataset) -> int:
    """Steps spent on one streamed chunk before the next: about one pass over its rows, in
    whole calls (so no call straddles two chunks)."""
    calls = math.ceil(dataset.capacity / (self.batch_size * self.steps_per_call))
    return self.steps_per_call * max(1, calls)

  def run(self, state: Any, dataset: DeviceDataset, base_key: jax.Array, first_step: int,
          num_steps: int) -> Tuple[Any, Dict[str, float]]:
    """Steps `first_step .. first_step + num_steps - 1`; returns the new state and the mean of
    each statistic over them. Calls end at multiples of K; nothing waits for the device until
    the statistics are fetched at the end."""
    if num_steps < 0:
      raise ValueError(f'num_steps must be non-negative, got {num_steps}')
    per_chunk = self.steps_per_chunk(dataset)
    end = first_step + num_steps
    step, parts = first_step, []
    while step < end:
      call_end = min(end, (step // self.steps_per_call + 1) * self.steps_per_call)
      data, num_rows = dataset.chunk((step // per_chunk) % dataset.num_chunks)
      state, statistics = self.call(call_end - step)(state, data, num_rows, base_key, step)
      parts.append(statistics)
      step = call_end
    parts = jax.device_get(parts)
    names = sorted({name for part in parts for name in part})
    return state, {name: float(np.mean(np.concatenate([part[name] for part in parts])))
                   for name in names}
