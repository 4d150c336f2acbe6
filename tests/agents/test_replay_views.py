"""Replay views (agents/replay/views.py): sequences and whole episodes read from the circular
storage, against hand-built episodes and against a record of what an agent added (exact contents,
masks, zero padding, episode starts), after wraparound, with stacked uint8 frames and an open
episode; uniformity of sequence starts; the storage's read interface."""

import numpy as np
import pytest
from scipy import stats

from agents.replay import CircularReplayBuffer, EpisodeView, PrioritizedReplayBuffer, SequenceView

FIELDS = ('observation', 'action', 'reward', 'next_observation', 'terminated', 'first')

# -- hand-built episodes ---------------------------------------------------------------------------


def scalar_buffer(capacity=30):
  return CircularReplayBuffer(capacity, observation_shape=(1,), observation_dtype=np.float32)


def add_steps(buffer, observations, terminated=False, final_observation=None):
  """One episode whose steps see `observations` (action 10 + t, reward 100 + observation); it ends
  in `final_observation` (terminated or truncated) or stays open when that is None."""
  for t, value in enumerate(observations):
    ends = final_observation is not None and t == len(observations) - 1
    buffer.add(np.array([value], np.float32), 10 + t, 100.0 + value, terminated and ends, t == 0)
  if final_observation is not None:
    buffer.add_final(np.array([final_observation], np.float32))


def hand_built_buffer():
  buffer = scalar_buffer()
  add_steps(buffer, [10, 11, 12], terminated=True, final_observation=13)  # rows 0-2, final 3
  add_steps(buffer, [20, 21], final_observation=22)  # truncated: rows 4-5, final 6
  add_steps(buffer, [30, 31, 32])  # open: rows 7-9, row 9 the newest
  return buffer


def test_sequences_of_hand_built_episodes():
  buffer = hand_built_buffer()
  view = SequenceView(buffer)
  # Final rows, the newest (open) step and unwritten rows start no sequence.
  np.testing.assert_array_equal(view.is_valid_start(np.arange(12)),
                                [1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0])
  batch = view.gather(np.array([0, 1, 4, 7, 8]), 4)
  assert all(value.shape[:2] == (5, 4) for value in batch.values())
  np.testing.assert_array_equal(batch['mask'], [[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0],
                                                [1, 1, 0, 0], [1, 0, 0, 0]])
  assert batch['mask'].dtype == np.float32
  # Padding is zeros in every field.
  np.testing.assert_array_equal(batch['observation'][..., 0], [[10, 11, 12, 0], [11, 12, 0, 0],
                                                               [20, 21, 0, 0], [30, 31, 0, 0],
                                                               [31, 0, 0, 0]])
  # The last step's next observation is the final one (terminated or truncated) or, in the open
  # episode, the newest step's observation.
  np.testing.assert_array_equal(batch['next_observation'][..., 0],
                                [[11, 12, 13, 0], [12, 13, 0, 0], [21, 22, 0, 0], [31, 32, 0, 0],
                                 [32, 0, 0, 0]])
  np.testing.assert_array_equal(batch['action'], [[10, 11, 12, 0], [11, 12, 0, 0], [10, 11, 0, 0],
                                                  [10, 11, 0, 0], [11, 0, 0, 0]])
  np.testing.assert_array_equal(batch['reward'], [[110, 111, 112, 0], [111, 112, 0, 0],
                                                  [120, 121, 0, 0], [130, 131, 0, 0],
                                                  [131, 0, 0, 0]])
  np.testing.assert_array_equal(batch['terminated'], [[0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0],
                                                      [0, 0, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(batch['first'], [[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0],
                                                 [1, 0, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(batch['indices'], [[0, 1, 2, 0], [1, 2, 0, 0], [4, 5, 0, 0],
                                                   [7, 8, 0, 0], [8, 0, 0, 0]])
  # An invalid start (a final row) gives padding only.
  assert not view.gather(np.array([3]), 2)['mask'].any()


def test_episode_view_of_hand_built_episodes_in_fixed_chunks():
  buffer = hand_built_buffer()
  view = EpisodeView(buffer)
  # Every transition but the open episode's newest step (its next observation is not stored).
  np.testing.assert_array_equal(view.transition_rows(), [0, 1, 2, 4, 5, 7, 8])
  assert view.num_transitions == 7
  chunks = list(view.chunks(3))
  assert len(chunks) == 3
  for chunk in chunks:
    assert {name: value.shape[0] for name, value in chunk.items()} == dict.fromkeys(chunk, 3)
  np.testing.assert_array_equal([chunk['mask'] for chunk in chunks], [[1, 1, 1], [1, 1, 1],
                                                                      [1, 0, 0]])
  stream = {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
  np.testing.assert_array_equal(stream['observation'][:, 0], [10, 11, 12, 20, 21, 30, 31, 0, 0])
  np.testing.assert_array_equal(stream['next_observation'][:, 0],
                                [11, 12, 13, 21, 22, 31, 32, 0, 0])
  np.testing.assert_array_equal(stream['first'], [1, 0, 0, 1, 0, 1, 0, 0, 0])
  np.testing.assert_array_equal(stream['terminated'], [0, 0, 1, 0, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(stream['action'], [10, 11, 12, 10, 11, 10, 11, 0, 0])
  # The open episode's newest step joins once its next row is stored.
  add_steps(buffer, [40], final_observation=41)  # opens a new episode: row 9 becomes final
  np.testing.assert_array_equal(view.transition_rows(), [0, 1, 2, 4, 5, 7, 8, 10])
  buffer.add(np.array([50.0], np.float32), 0, 0.0, False, True)
  buffer.add(np.array([51.0], np.float32), 0, 0.0, False, False)
  np.testing.assert_array_equal(view.transition_rows(), [0, 1, 2, 4, 5, 7, 8, 10, 12])


def test_an_overwritten_episode_start_is_flagged_at_its_oldest_readable_row():
  capacity = 8
  buffer = CircularReplayBuffer(capacity, observation_shape=(2, 2), stack_size=2)
  recorder = Recorder(buffer)
  recorder.episode(6)  # adds 0-5, final 6
  recorder.episode(4)  # adds 7-10, final 11
  # Adds 4..11 survive; add 4 is the oldest, and its stack would need the overwritten add 3.
  view = EpisodeView(buffer)
  np.testing.assert_array_equal(view.transition_rows(), np.array([5, 7, 8, 9, 10]) % capacity)
  (chunk,) = view.chunks(8)
  np.testing.assert_array_equal(chunk['first'], [1, 1, 0, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(chunk['observation'][0], [frame(4), frame(5)])
  np.testing.assert_array_equal(chunk['observation'][1], [np.zeros(2), frame(7)])
  np.testing.assert_array_equal(chunk['mask'], [1, 1, 1, 1, 1, 0, 0, 0])
  sequences = SequenceView(buffer).gather(np.array([4, 5]) % capacity, 3)
  np.testing.assert_array_equal(sequences['mask'], [[0, 0, 0], [1, 0, 0]])
  assert sequences['first'][1, 0]


def test_empty_and_unready_buffers():
  buffer = scalar_buffer()
  assert EpisodeView(buffer).num_transitions == 0 and not list(EpisodeView(buffer).chunks(4))
  with pytest.raises(ValueError, match='empty'):
    SequenceView(buffer).sample(2, 3, np.random.default_rng(0))
  add_steps(buffer, [0])  # one open step: its next observation is not stored yet
  with pytest.raises(ValueError, match='no sequence start'):
    SequenceView(buffer).sample(2, 3, np.random.default_rng(0))
  with pytest.raises(ValueError, match='chunk_size'):
    next(EpisodeView(buffer).chunks(0))
  with pytest.raises(ValueError, match='length'):
    SequenceView(buffer).gather(np.array([0]), 0)


def test_row_arrays_are_read_only_views_of_the_storage():
  buffer = hand_built_buffer()
  arrays = buffer.row_arrays()
  assert set(arrays) == {'observation', 'action', 'reward', 'terminated', 'first', 'kind'}
  assert all(len(array) == buffer.capacity for array in arrays.values())
  with pytest.raises(ValueError, match='read-only'):
    arrays['reward'][0] = 1.0
  buffer.add(np.array([33.0], np.float32), 3, 7.0, False, False)
  assert arrays['reward'][10] == 7.0  # a view, not a copy
  assert buffer.oldest_row == 0
  for _ in range(25):
    buffer.add(np.array([0.0], np.float32), 0, 0.0, False, False)
  assert buffer.add_count == 36 and buffer.oldest_row == 6


# -- against a record of what an agent added -------------------------------------------------------


def frame(counter):
  """The frame of add `counter`: unique, and never the zero frame that pads stacks."""
  return np.array([1 + counter % 250, 1 + counter // 250], np.uint8)


class Recorder:
  """Adds episodes as an agent does, the frame of each row numbered by its add, and records each
  transition the agent saw (with its row's add), as the stacking environment gave it."""

  def __init__(self, buffer):
    self.buffer = buffer
    self.transitions = []
    self.episodes = 0
    self.open = False

  def observation(self, counters):
    size = self.buffer.stack_size
    if size == 1:
      return frame(counters[-1])
    frames = [frame(counter) for counter in counters[-size:]]
    return np.stack([np.zeros(2, np.uint8)] * (size - len(frames)) + frames)

  def episode(self, length, terminated=False, close=True):
    if self.open:  # the buffer closes it: its last step's row becomes its final observation
      self.transitions.pop()
    counters = []
    for t in range(length):
      add = self.buffer.add_count
      counters.append(add)
      ends = terminated and close and t == length - 1
      observation = self.observation(counters)
      self.buffer.add(observation, add % 7, float(add), ends, t == 0)
      self.transitions.append({
          'add': add, 'episode': self.episodes, 'observation': observation, 'action': add % 7,
          'reward': float(add), 'terminated': ends, 'first': t == 0,
          'next_observation': self.observation(counters + [add + 1])})  # the next row's frame
    if close:
      self.buffer.add_final(self.observation(counters + [self.buffer.add_count]))
    self.episodes += 1
    self.open = not close

  def readable(self):
    """The recorded transitions the views must read, in order, `first` where the views see an
    episode start: rows not overwritten, stacks whole, next row written."""
    add_count, capacity = self.buffer.add_count, self.buffer.capacity
    oldest = add_count - capacity + self.buffer.stack_size - 1 if add_count > capacity else 0
    kept = [dict(t) for t in self.transitions if oldest <= t['add'] < add_count - 1]
    if kept:
      kept[0]['first'] = True  # its episode's earlier steps are gone (or it is a real first)
    return kept


def fill(recorder, rng, episodes):
  for _ in range(episodes):
    recorder.episode(int(rng.integers(1, 9)), terminated=bool(rng.integers(2)),
                     close=rng.random() < 0.8)


def assert_matches_record(batch, expected, capacity):
  """batch's fields where its mask is 1 equal `expected` (records, in order), zeros elsewhere."""
  mask = batch['mask'].astype(bool)
  assert mask.sum() == len(expected)
  for name in FIELDS:
    np.testing.assert_array_equal(batch[name][mask], [t[name] for t in expected], err_msg=name)
  np.testing.assert_array_equal(batch['indices'][mask], [t['add'] % capacity for t in expected])
  for name, value in batch.items():
    assert not value[~mask].any(), f'{name} padding is not zero'


@pytest.mark.parametrize('stack_size', [1, 3])
def test_episode_view_reproduces_the_record_through_wraparound(stack_size):
  capacity = 37
  buffer = CircularReplayBuffer(capacity, observation_shape=(3, 2) if stack_size > 1 else (2,),
                                stack_size=stack_size)
  recorder, view, rng = Recorder(buffer), EpisodeView(buffer), np.random.default_rng(stack_size)
  for _ in range(40):  # about 5 laps; checked after every episode (some left open)
    fill(recorder, rng, 1)
    chunks = list(view.chunks(8))
    assert all(value.shape[0] == 8 for chunk in chunks for value in chunk.values())
    stream = {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
    assert stream['observation'].dtype == np.uint8
    expected = recorder.readable()
    assert view.num_transitions == len(expected)
    assert_matches_record(stream, expected, capacity)
  assert buffer.add_count > 4 * capacity


@pytest.mark.parametrize('stack_size', [1, 3])
def test_random_sequences_match_the_record_and_stay_in_one_episode(stack_size):
  capacity, length = 41, 5
  buffer = CircularReplayBuffer(capacity, observation_shape=(3, 2) if stack_size > 1 else (2,),
                                stack_size=stack_size)
  recorder, view, rng = Recorder(buffer), SequenceView(buffer), np.random.default_rng(7)
  for _ in range(6):
    fill(recorder, rng, 5)  # wraps around after the first round or two
    expected = recorder.readable()
    position = {t['add'] % capacity: k for k, t in enumerate(expected)}
    batch = view.sample(64, length, rng)
    assert batch['observation'].dtype == np.uint8 and batch['mask'].shape == (64, length)
    for b, start in enumerate(batch['indices'][:, 0]):
      k = position[start]  # a KeyError would be a start that is no readable transition
      steps = [t for t in expected[k:k + length] if t['episode'] == expected[k]['episode']]
      assert all(t['add'] - steps[0]['add'] == j for j, t in enumerate(steps))  # contiguous
      single = {name: value[b] for name, value in batch.items()}
      np.testing.assert_array_equal(single['mask'], np.arange(length) < len(steps))  # then padding
      # `first` is the view's (a start whose episode's beginning is overwritten is one).
      assert_matches_record(single, steps, capacity)
    # The stacks in a sequence are the storage's own.
    rows, mask = batch['indices'], batch['mask'].astype(bool)
    np.testing.assert_array_equal(batch['observation'][mask], buffer.stacks(rows[mask]))
    np.testing.assert_array_equal(batch['next_observation'][mask],
                                  buffer.stacks((rows[mask] + 1) % capacity))


def test_sequence_starts_are_uniform_over_valid_starts():
  buffer = CircularReplayBuffer(40, observation_shape=(2,), stack_size=1)
  recorder, rng = Recorder(buffer), np.random.default_rng(3)
  fill(recorder, rng, 12)  # wraps around, ends open or closed
  view = SequenceView(buffer)
  valid = np.flatnonzero(view.is_valid_start(np.arange(buffer.capacity)))
  assert 20 < len(valid) < buffer.capacity
  starts = np.concatenate([view.sample(250, 3, rng)['indices'][:, 0] for _ in range(80)])
  counts = np.bincount(starts, minlength=buffer.capacity)
  assert counts[np.setdiff1d(np.arange(buffer.capacity), valid)].sum() == 0
  expected = len(starts) / len(valid)
  chi_square = np.sum((counts[valid] - expected) ** 2 / expected)
  assert chi_square < stats.chi2.ppf(0.999, len(valid) - 1), counts[valid]


def test_sequence_starts_follow_a_prioritized_buffers_priorities():
  buffer = PrioritizedReplayBuffer(30, observation_shape=(1,), observation_dtype=np.float32)
  for episode in range(3):
    add_steps(buffer, [10 * episode + t for t in range(4)], final_observation=10 * episode + 4)
  # Steps are rows 0-3, 5-8 and 10-13 (4, 9, 14 final observations); 5 steps get no priority.
  buffer.set_priorities(np.array([0, 1, 2, 5, 6]), np.zeros(5))
  starts = SequenceView(buffer).sample(500, 2, np.random.default_rng(0))['indices'][:, 0]
  assert set(starts.tolist()) == {3, 7, 8, 10, 11, 12, 13}


def test_uint8_frames_stay_uint8():
  buffer = CircularReplayBuffer(100_000, observation_shape=(64, 64))
  assert buffer.memory_bytes() < 0.42e9  # 100k 64x64 frames: 0.41 GB, the rows' other fields
  for t in range(20):
    buffer.add(np.full((64, 64), t, np.uint8), 0, 0.0, False, t == 0)
  sequences = SequenceView(buffer).sample(4, 6, np.random.default_rng(0))
  (chunk,) = EpisodeView(buffer).chunks(32)
  for batch in (sequences, chunk):
    assert batch['observation'].dtype == np.uint8 and batch['next_observation'].dtype == np.uint8
  np.testing.assert_array_equal(chunk['observation'][:19, 0, 0], np.arange(19))
