"""Sequence and whole-episode views of the replay's rows, for PSDRL (posterior sampling for deep
RL): its transition model trains on B sequences of L steps drawn from replay, and its posterior
needs the features of every stored transition, recomputed along every stored episode.

A view is not another buffer. The rows live once in a `CircularReplayBuffer` (circular.py), whose
own `sample` / `gather` are the n-step transition view of DQN, Rainbow, SAC and DCEO; start rows
are drawn by that buffer's sampler (uniform, or by priority in a `PrioritizedReplayBuffer`). A view
reads the storage through its public read interface only (`row_arrays`, `oldest_row`, `stacks`,
`stack_is_readable`, `draw_starts`) and keeps no state, so it sees every row added since it was
made, and checkpoints stay the buffer's.

Transitions. Both views read one-step transitions: a STEP row i gives (o_i, a_i, r_i,
terminated_i, o_{i+1}), o_{i+1} being the next row's observation (the next step's, or the
episode's final observation, a FINAL row), observations stacked as `stacks` gives them and in the
stored dtype (uint8 frames stay uint8). Row i holds a transition the views read when
- its next row has been written. The newest step of an unfinished episode is left out: its next
  observation is still with the agent, not in the storage. It joins as soon as the next row is
  added (the next step, or `add_final` at the episode's end), and every earlier step of the open
  episode is read like any other;
- its stack reads no overwritten row (`stack_is_readable`: after wraparound, all rows but the
  oldest stack_size - 1).

Episode starts. `first` is 1 where a transition opens an episode as the views see it: its row
opened an episode, or the row before it holds no transition of the views. The second case is an
episode whose beginning was overwritten: it starts at its oldest readable row, so a recurrent
state run from h = 0 along the stored transitions restarts there (the history before it is gone).

Padding (`mask` 0: sequence steps after the episode's end, the tail of the last episode chunk)
holds zeros in every field: zero frames, action 0, reward 0, terminated and first false, index 0.
Zeros are finite for any network and a recurrent state run into the padding only affects
padding, which comes after every real step.
"""

from typing import Dict, Iterator

import numpy as np

from agents.replay.circular import STEP, CircularReplayBuffer


def _holds_transition(buffer: CircularReplayBuffer, rows: np.ndarray) -> np.ndarray:
  """Whether each row (in [0, capacity)) holds a transition the views read."""
  rows = np.asarray(rows)
  position = (rows - buffer.oldest_row) % buffer.capacity  # 0: the oldest stored row
  # position < len - 1: written, and not the newest row (whose next row is not written yet).
  return ((position < len(buffer) - 1) & (buffer.row_arrays()['kind'][rows] == STEP)
          & buffer.stack_is_readable(rows))


def _opens_episode(buffer: CircularReplayBuffer, rows: np.ndarray) -> np.ndarray:
  """Whether each transition row opens an episode as the views see it (module docstring)."""
  previous = (rows - 1) % buffer.capacity
  return buffer.row_arrays()['first'][rows] | ~_holds_transition(buffer, previous)


def _gather_transitions(buffer: CircularReplayBuffer, rows: np.ndarray,
                        mask: np.ndarray) -> Dict[str, np.ndarray]:
  """The transitions at `rows` (any shape), zeros wherever `mask` (the same shape) is false."""
  arrays = buffer.row_arrays()
  flat = rows.reshape(-1)
  batch = {
      'observation': buffer.stacks(flat),
      'action': arrays['action'][flat],
      'reward': arrays['reward'][flat],
      'next_observation': buffer.stacks((flat + 1) % buffer.capacity),
      'terminated': arrays['terminated'][flat],
      'first': _opens_episode(buffer, flat),
      'indices': flat.astype(np.int64),
  }
  padding = ~mask.reshape(-1)
  for value in batch.values():  # fresh arrays (fancy indexing copies), so zeroed in place
    value[padding] = 0
  batch = {name: value.reshape(rows.shape + value.shape[1:]) for name, value in batch.items()}
  batch['mask'] = mask.astype(np.float32)
  return batch


class SequenceView:
  """Sequences of up to `length` consecutive transitions of one episode, from start rows drawn by
  the buffer's sampler among the rows that hold a transition (uniformly, from a
  `CircularReplayBuffer`). A sequence never crosses into another episode nor reads an overwritten
  or unwritten row: where its episode's stored transitions run out (the episode ended, or it is
  the open episode's newest step) the rest is padding with mask 0."""

  def __init__(self, buffer: CircularReplayBuffer):
    self.buffer = buffer

  def is_valid_start(self, indices: np.ndarray) -> np.ndarray:
    """Whether each row can start a sequence: it holds a transition the views read."""
    return _holds_transition(self.buffer, indices)

  def sample(self, batch_size: int, length: int,
             rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """`gather` at `batch_size` start rows drawn by the buffer's sampler among valid starts."""
    starts = self.buffer.draw_starts(
        batch_size, rng, self.is_valid_start,
        f'replay holds no sequence start (rows written: {self.buffer.add_count}; a sequence '
        f'starts at a step whose next observation is stored)')
    return self.gather(starts, length)

  def gather(self, starts: np.ndarray, length: int) -> Dict[str, np.ndarray]:
    """The sequences from rows `starts` (B,): (B, length, ...) arrays observation,
    next_observation (stacked, stored dtype), action, reward, terminated, first (true at step 0
    only, where the start opens an episode), indices (the rows), mask (float32: 1 on the
    sequence's steps, 0 on padding). An invalid start gives a sequence of padding only."""
    if length < 1:
      raise ValueError(f'sequence length must be at least 1, got {length}')
    starts = np.asarray(starts, dtype=np.int64)
    rows = (starts[:, None] + np.arange(length)) % self.buffer.capacity
    # A sequence runs on while its rows hold transitions: an episode's last step is followed by
    # its FINAL row (the storage turns an episode left open into one when the next begins), so
    # it never reaches another episode's rows; and it stops at the newest row, before the rows
    # after it in the circle (unwritten, or the oldest).
    mask = np.logical_and.accumulate(_holds_transition(self.buffer, rows), axis=1)
    return _gather_transitions(self.buffer, rows, mask)


class EpisodeView:
  """Every stored transition, in storage order: episodes in the order they were written (oldest
  first after wraparound), each one's transitions in order, `first` at each episode's start (an
  episode whose beginning was overwritten starts at its oldest readable row). What PSDRL runs its
  GRU along, from h = 0 and reset at every `first`, to recompute the posterior's features."""

  def __init__(self, buffer: CircularReplayBuffer):
    self.buffer = buffer

  def transition_rows(self) -> np.ndarray:
    """The rows of the transitions read, in storage order."""
    order = (self.buffer.oldest_row + np.arange(len(self.buffer))) % self.buffer.capacity
    return order[_holds_transition(self.buffer, order)]

  @property
  def num_transitions(self) -> int:
    return len(self.transition_rows())

  def chunks(self, chunk_size: int) -> Iterator[Dict[str, np.ndarray]]:
    """The transitions in consecutive chunks of exactly `chunk_size` (so a jitted scan over them
    compiles once), as dicts of (chunk_size, ...) arrays with the fields of `SequenceView.gather`;
    the last chunk is padded (mask 0). An episode may span chunks: carry the recurrent state
    from one chunk to the next. The rows are fixed when this is called: add none while iterating
    (an add can overwrite a row not yet read). No chunk when nothing is stored."""
    if chunk_size < 1:
      raise ValueError(f'chunk_size must be at least 1, got {chunk_size}')
    rows = self.transition_rows()
    return (self._chunk(rows[start:start + chunk_size], chunk_size)
            for start in range(0, len(rows), chunk_size))

  def _chunk(self, rows: np.ndarray, chunk_size: int) -> Dict[str, np.ndarray]:
    mask = np.arange(chunk_size) < len(rows)
    rows = np.concatenate([rows, np.zeros(chunk_size - len(rows), rows.dtype)])
    return _gather_transitions(self.buffer, rows, mask)
