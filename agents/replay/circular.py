"""The replay buffer of the value-based agents: one row per agent step in circular storage, each
observation stored once, frame stacks and n-step returns rebuilt when a batch is sampled.

Row layout (as Dopamine's replay): row t holds the observation o_t, the action a_t taken from it,
the reward r_t that followed, whether a_t terminated the episode, and whether o_t opened an
episode. An episode that ends adds one more row, its final observation with no action (kind
FINAL), so a transition cut by a time limit still has the state it must bootstrap from.

With `stack_size > 1` observations are stacks of frames (frames first, as gymnasium's
FrameStackObservation) and only the newest frame is stored: a stack is read back from the rows
before, with the frames from before the episode's first row set to zero, which is how the
environment pads them. 1M steps of 84x84 frames take 7.1 GB.

Sampling returns, for start rows i: the (stacked) observation, the action, the n-step return
sum_k gamma^k r_{i+k} up to the episode's end, the observation n steps on (or the episode's final
observation), and the discount to apply to it (gamma^m, or 0 after a termination). A row is a valid
start once all the rows its window reads have been written and none has been overwritten.

With `previous_actions=True` (SFP's prior conditions on the previous action) a batch also carries
'previous_action', a_{i-1} (zeros at an episode's first step, the action the prior takes as "no
previous action"), and 'next_previous_action', the action taken just before the next observation
(a_{i+m-1}). Both are read from the stored rows, so nothing more is stored; a start whose previous
row has been overwritten is not valid.

The buffer is also the storage that agents/replay/views.py reads sequences and whole episodes from
(PSDRL). They read it through a small public interface, not its private arrays: `row_arrays`
(read-only views of the rows), `oldest_row` (where storage order starts), `stacks`,
`stack_is_readable` (the rule that keeps a stack off overwritten rows, shared with
`is_valid_start`) and `draw_starts` (the buffer's own draw, uniform here and by priority in
prioritized.py, restricted to the starts a view accepts).
"""

from typing import Callable, Dict, Mapping, Sequence

import numpy as np

from runner import checkpoints

STEP, FINAL = 0, 1  # row kinds: a transition's start / an episode's final observation
MAX_SAMPLING_ROUNDS = 100
# Rows are checkpointed in chunks of about this many bytes per field: a checkpoint rewrites only
# the chunks written since the previous one (runner/checkpoints.py, ChunkedArray).
CHECKPOINT_CHUNK_BYTES = 64 * 2**20


def chunk_versions(add_count: int, capacity: int, filled: int, chunk_rows: int) -> np.ndarray:
  """For each chunk of `chunk_rows` rows of the first `filled` rows of a circular buffer of
  `capacity` rows that has taken `add_count` adds: 1 + the index of the last add written into it
  (adds go to row add % capacity). A chunk's rows change only when this does."""
  starts = np.arange(0, filled, chunk_rows, dtype=np.int64)
  ends = np.minimum(starts + chunk_rows, capacity) - 1  # last row of each chunk
  if add_count == 0:
    return np.zeros(len(starts), np.int64)
  lap, position = divmod(add_count - 1, capacity)  # where the last add went
  last_write = np.where(position >= ends, lap * capacity + ends,  # the chunk's end, this lap
                        np.where(position >= starts, add_count - 1,  # the last add itself
                                 (lap - 1) * capacity + ends))  # the chunk's end, the lap before
  return last_write + 1


class CircularReplayBuffer:
  """Uniform sampling over valid start rows; `PrioritizedReplayBuffer` overrides the draw."""

  def __init__(self,
               capacity: int,
               observation_shape: Sequence[int],
               observation_dtype=np.uint8,
               stack_size: int = 1,
               update_horizon: int = 1,
               gamma: float = 0.99,
               action_shape: Sequence[int] = (),
               action_dtype=np.int32,
               previous_actions: bool = False):
    if capacity <= update_horizon + stack_size:
      raise ValueError(f'replay capacity {capacity} is too small for update_horizon '
                       f'{update_horizon} and stack_size {stack_size}')
    if update_horizon < 1 or stack_size < 1:
      raise ValueError('update_horizon and stack_size must be at least 1')
    observation_shape = tuple(observation_shape)
    if stack_size > 1 and (not observation_shape or observation_shape[0] != stack_size):
      raise ValueError(f'stack_size {stack_size} needs observations of shape ({stack_size}, ...), '
                       f'got {observation_shape}')
    self.capacity = int(capacity)
    self.stack_size = stack_size
    self.update_horizon = update_horizon
    self.gamma = gamma
    self.observation_shape = observation_shape
    self.previous_actions = bool(previous_actions)
    frame_shape = observation_shape[1:] if stack_size > 1 else observation_shape
    self._observation = np.zeros((self.capacity, *frame_shape), dtype=observation_dtype)
    self._action = np.zeros((self.capacity, *action_shape), dtype=action_dtype)
    self._reward = np.zeros(self.capacity, dtype=np.float32)
    self._terminated = np.zeros(self.capacity, dtype=bool)
    self._first = np.zeros(self.capacity, dtype=bool)
    self._kind = np.full(self.capacity, FINAL, dtype=np.int8)
    self._discount_powers = gamma ** np.arange(update_horizon + 1, dtype=np.float64)
    self.add_count = 0  # rows ever written; the next row goes to add_count % capacity
    self._episode_open = False

  def __len__(self) -> int:
    return min(self.add_count, self.capacity)

  # Reading (the views' interface).

  @property
  def oldest_row(self) -> int:
    """The index of the oldest stored row: storage order is oldest_row, oldest_row + 1, ...
    (mod capacity) for len(self) rows. 0 until the buffer wraps around."""
    return self.add_count % self.capacity if self.add_count > self.capacity else 0

  def row_arrays(self) -> Dict[str, np.ndarray]:
    """Read-only views of the row storage, all `capacity` rows long (rows at len(self) and beyond
    are unwritten): observation (the newest frame only when frames are stacked: read stacks
    with `stacks`), action, reward, terminated, first (the row opened an episode) and kind
    (STEP, or FINAL for an episode's final observation)."""
    views = {}
    for name, array in self._rows().items():
      views[name] = array.view()
      views[name].flags.writeable = False
    return views

  def stack_is_readable(self, indices: np.ndarray) -> np.ndarray:
    """Whether the stacks of rows `indices` read no overwritten row: every row until the buffer
    wraps around, then all but the oldest stack_size - 1. (Conservative: one of those whose stack
    is cut by an episode start would read none either; it costs at most stack_size - 1 rows.)"""
    indices = np.asarray(indices)
    if self.add_count <= self.capacity:
      return np.ones(indices.shape, bool)
    return (indices - self.oldest_row) % self.capacity >= self.stack_size - 1

  # Adding.

  def add(self, observation: np.ndarray, action, reward: float, terminated: bool,
          first: bool) -> None:
    """Stores a step: `observation`, the `action` taken from it and the `reward` that followed;
    `first` marks the episode's first step. A new episode started while the last one was never
    closed (a run stopped mid-episode) closes it at its last observation, as a truncation."""
    if first and self._episode_open:
      self._close_open_episode()
    self._write_row(observation, STEP, first, action, reward, terminated)
    self._episode_open = True

  def add_final(self, observation: np.ndarray) -> None:
    """Stores the observation the episode ended in; the bootstrap state after a truncation."""
    self._write_row(observation, FINAL, False, 0, 0.0, False)
    self._episode_open = False

  def _write_row(self, observation, kind, first, action, reward, terminated) -> int:
    index = self.add_count % self.capacity
    observation = np.asarray(observation)
    if observation.shape != self.observation_shape:
      raise ValueError(f'replay expects observations of shape {self.observation_shape}, '
                       f'got {observation.shape}')
    self._observation[index] = observation[-1] if self.stack_size > 1 else observation
    self._action[index] = action
    self._reward[index] = reward
    self._terminated[index] = terminated
    self._first[index] = first
    self._kind[index] = kind
    self.add_count += 1
    self._on_row_written(index, kind)
    return index

  def _close_open_episode(self) -> None:
    last = (self.add_count - 1) % self.capacity
    self._kind[last] = FINAL
    self._terminated[last] = False
    self._on_row_written(last, FINAL)

  def _on_row_written(self, index: int, kind: int) -> None:
    """Hook for subclasses that keep per-row sampling weights."""

  # Sampling.

  def sample(self, batch_size: int, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """A batch of transitions from valid start rows; invalid draws are redrawn."""
    return self.gather(self.draw_starts(
        batch_size, rng, self.is_valid_start,
        f'replay holds no valid transition to sample (rows written: {self.add_count}; a '
        f"transition needs {self.update_horizon} later rows, or its episode's end)"))

  def draw_starts(self, count: int, rng: np.random.Generator,
                  is_valid: Callable[[np.ndarray], np.ndarray],
                  no_valid_message: str) -> np.ndarray:
    """`count` rows drawn as this buffer draws (uniformly; by priority in a subclass) restricted
    to the rows where `is_valid` holds: invalid draws are redrawn. `no_valid_message` is the
    error raised when no row is valid."""
    if self.add_count == 0:
      raise ValueError('cannot sample from an empty replay buffer')
    indices = self._draw(count, rng)
    for _ in range(MAX_SAMPLING_ROUNDS):
      invalid = ~is_valid(indices)
      if not invalid.any():
        return indices
      indices[invalid] = self._draw(int(invalid.sum()), rng)
    # Valid rows are rare (a buffer that holds barely one n-step window): draw the rest among them
    # directly, from the same distribution restricted to valid rows, as redrawing would.
    rows = np.arange(len(self))
    valid_rows = rows[is_valid(rows)]
    if not len(valid_rows):
      raise ValueError(no_valid_message)
    invalid = ~is_valid(indices)
    indices[invalid] = self._draw_among(valid_rows, int(invalid.sum()), rng)
    return indices

  def _draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` candidate start rows (validity is checked by `sample`)."""
    return rng.integers(0, len(self), size=count)

  def _draw_among(self, rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows drawn from `rows` as `_draw` would weigh them."""
    return rng.choice(rows, size=count)

  def _window(self, indices: np.ndarray):
    """Per start row: the included steps of its n-step window, their count m and termination."""
    steps = (indices[:, None] + np.arange(self.update_horizon)) % self.capacity
    terminated = self._terminated[steps]
    episode_ends = terminated | (self._kind[(steps + 1) % self.capacity] == FINAL)
    # Step k is included unless the episode ended at an earlier step of the window.
    ended_before = np.cumsum(episode_ends, axis=1) - episode_ends
    included = ended_before == 0
    length = included.sum(axis=1)
    return steps, included, length, (terminated & included).any(axis=1)

  def is_valid_start(self, indices: np.ndarray) -> np.ndarray:
    """Whether each row can start a transition: a written STEP row whose window and stacks read
    only rows written after the ones they need and not yet overwritten."""
    indices = np.asarray(indices)
    newest = (self.add_count - 1) % self.capacity
    rows_after = (newest - indices) % self.capacity  # rows written since row i
    _, _, length, _ = self._window(indices)
    valid = (indices < len(self)) & (self._kind[indices] == STEP) & (length <= rows_after)
    if self.previous_actions and self.add_count > self.capacity:
      # The previous action is row i - 1's, unless row i opened its episode.
      valid &= self._first[indices] | ((indices - self.oldest_row) % self.capacity >= 1)
    return valid & self.stack_is_readable(indices)

  def stacks(self, indices: np.ndarray) -> np.ndarray:
    """The observations of rows `indices`, as the environment gave them (stacked if so)."""
    if self.stack_size == 1:
      return self._observation[indices]
    rows = (indices[:, None] + np.arange(1 - self.stack_size, 1)) % self.capacity
    first = self._first[rows]
    # Frame j of a stack is kept unless an episode began at a later frame of the same stack.
    began_later = np.cumsum(first[:, ::-1], axis=1)[:, ::-1]
    keep = np.concatenate([began_later[:, 1:] == 0, np.ones((len(indices), 1), bool)], axis=1)
    frames = self._observation[rows]
    if not keep.all():  # only stacks that reach back past an episode's start
      frames[~keep] = 0
    return frames

  def later_stacks(self, indices: np.ndarray, steps: int) -> np.ndarray:
    """The observations `steps` (1..update_horizon) moves after the valid start rows `indices`,
    or their episode's last observation where it ends sooner: a transition's next observation at
    a horizon of its own, within the window `gather` reads."""
    if not 1 <= steps <= self.update_horizon:
      raise ValueError(f'later_stacks reads 1..{self.update_horizon} steps ahead (the n-step '
                       f'window), not {steps}')
    indices = np.asarray(indices, dtype=np.int64)
    _, _, length, _ = self._window(indices)
    return self.stacks((indices + np.minimum(length, steps)) % self.capacity)

  def gather(self, indices: np.ndarray) -> Dict[str, np.ndarray]:
    """The transitions starting at rows `indices` (assumed valid)."""
    indices = np.asarray(indices, dtype=np.int64)
    steps, included, length, terminated = self._window(indices)
    powers = self._discount_powers[:self.update_horizon]
    returns = (self._reward[steps] * included * powers).sum(axis=1)
    discount = np.where(terminated, 0.0, self._discount_powers[length])
    batch = {
        'observation': self.stacks(indices),
        'action': self._action[indices],
        'reward': returns.astype(np.float32),
        'next_observation': self.stacks((indices + length) % self.capacity),
        'discount': discount.astype(np.float32),
        'indices': indices,
    }
    if self.previous_actions:
      opened = self._first[indices].reshape((-1,) + (1,) * (self._action.ndim - 1))
      batch['previous_action'] = np.where(opened, 0, self._action[(indices - 1) % self.capacity])
      batch['next_previous_action'] = self._action[steps[np.arange(len(indices)), length - 1]]
    return batch

  # Checkpointing.

  def state_dict(self) -> Dict[str, np.ndarray]:
    """Everything needed to rebuild the buffer exactly: the filled part of the row arrays, as
    checkpoints.ChunkedArrays (so a checkpoint rewrites only the chunks written since the
    previous one), the add count and whether an episode is open."""
    filled = len(self)
    rows = {}
    for name, array in self._rows().items():
      row_bytes = max(1, array[:1].nbytes)
      chunk_rows = max(1, CHECKPOINT_CHUNK_BYTES // row_bytes)
      versions = chunk_versions(self.add_count, self.capacity, filled, chunk_rows)
      rows[name] = checkpoints.ChunkedArray(array[:filled], chunk_rows, tuple(versions.tolist()))
    return {
        'add_count': np.int64(self.add_count),
        'episode_open': np.bool_(self._episode_open),
        'rows': rows,
    }

  def load_state_dict(self, state: Mapping) -> None:
    add_count = int(state['add_count'])
    filled = min(add_count, self.capacity)
    rows = state['rows']
    if rows.keys() != self._rows().keys():
      raise ValueError(f'saved replay fields {sorted(rows)} != buffer fields {sorted(self._rows())}')
    for name, array in self._rows().items():
      saved = rows[name]
      saved = np.asarray(saved.array if isinstance(saved, checkpoints.ChunkedArray) else saved)
      if saved.shape != (filled, *array.shape[1:]):
        raise ValueError(f'saved replay field {name!r} has shape {saved.shape}, expected '
                         f'{(filled, *array.shape[1:])} (was it saved with another capacity or '
                         f'observation shape?)')
      array[:filled] = saved
      array[filled:] = FINAL if name == 'kind' else 0
    self.add_count = add_count
    self._episode_open = bool(state['episode_open'])

  def _rows(self) -> Dict[str, np.ndarray]:
    return {'observation': self._observation, 'action': self._action, 'reward': self._reward,
            'terminated': self._terminated, 'first': self._first, 'kind': self._kind}

  def memory_bytes(self) -> int:
    return sum(array.nbytes for array in self._rows().values())

