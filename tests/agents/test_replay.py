"""Replay: the sum tree's sums and sampling law, n-step returns and discounts against hand-computed
episodes, frame stacks rebuilt with zero padding, validity at the write cursor and after wrap-around,
priorities, and checkpoint round trips (chunks rewritten only where rows were written)."""

import json
import os

import numpy as np
import pytest

from agents.replay import (CircularReplayBuffer, PrioritizedReplayBuffer, SumTree,
                           importance_weights)
from agents.replay import circular
from runner import checkpoints

# -- sum tree --------------------------------------------------------------------------------------


def test_sum_tree_totals_and_lookup():
  tree = SumTree(5)
  tree.set([0, 1, 2, 3, 4], [1.0, 0.0, 2.0, 3.0, 4.0])
  assert tree.total == 10.0
  # Cumulative intervals: slot0 [0,1), slot2 [1,3), slot3 [3,6), slot4 [6,10); slot1 is empty.
  np.testing.assert_array_equal(tree.find([0.0, 0.99, 1.0, 2.5, 3.0, 5.9, 6.0, 9.99]),
                                [0, 0, 2, 2, 3, 3, 4, 4])
  tree.set([3, 3], [7.0, 0.5])  # repeated slot: the last value wins
  assert tree.get([3])[0] == 0.5 and tree.total == pytest.approx(7.5)
  assert tree.max_recorded_priority == 7.0


def test_sum_tree_rejects_bad_priorities_and_slots():
  tree = SumTree(4)
  with pytest.raises(ValueError, match='non-negative'):
    tree.set([0], [-1.0])
  with pytest.raises(ValueError, match='finite'):
    tree.set([0], [np.nan])
  with pytest.raises(IndexError):
    tree.set([4], [1.0])
  with pytest.raises(ValueError, match='all zero'):
    tree.stratified_sample(2, np.random.default_rng(0))


def test_sum_tree_sampling_frequencies_follow_priorities():
  priorities = np.array([1.0, 2.0, 0.0, 4.0, 8.0, 0.5, 0.5, 0.0, 16.0])
  tree = SumTree(len(priorities))
  tree.set(np.arange(len(priorities)), priorities)
  rng = np.random.default_rng(0)
  draws = np.concatenate([tree.stratified_sample(32, rng) for _ in range(4000)])
  counts = np.bincount(draws, minlength=len(priorities))
  expected = priorities / priorities.sum() * len(draws)
  assert counts[priorities == 0].sum() == 0
  # Pearson's chi-square over the 7 non-empty slots: 6 degrees of freedom, the 0.999 quantile is
  # 22.46. (Stratified draws are less variable than independent ones, so this is conservative.)
  nonzero = priorities > 0
  chi_square = np.sum((counts[nonzero] - expected[nonzero])**2 / expected[nonzero])
  assert chi_square < 22.46, (counts, expected)


def test_sum_tree_state_round_trip():
  tree = SumTree(6)
  tree.set(np.arange(6), [0.5, 1.5, 0.0, 3.0, 2.0, 9.0])
  copy = SumTree(6)
  copy.load_state_dict(tree.state_dict())
  assert copy.total == tree.total and copy.max_recorded_priority == 9.0
  rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
  np.testing.assert_array_equal(tree.stratified_sample(16, rng_a), copy.stratified_sample(16, rng_b))


def test_importance_weights_are_normalised_by_the_largest():
  weights = importance_weights(np.array([0.5, 0.25, 0.125], np.float32), 0.5)
  # (1/p)^0.5 = sqrt2, 2, sqrt8 -> divided by sqrt8.
  np.testing.assert_allclose(weights, [0.5, 1 / np.sqrt(2), 1.0], rtol=1e-5)


# -- circular buffer: n-step returns --------------------------------------------------------------


def vector_buffer(capacity=50, horizon=3, gamma=0.5, buffer_class=CircularReplayBuffer,
                  previous_actions=False):
  return buffer_class(capacity, observation_shape=(1,), observation_dtype=np.float32,
                      update_horizon=horizon, gamma=gamma, previous_actions=previous_actions)


def add_episode(buffer, observations, rewards, terminated, final_observation=None):
  """observations[t] is o_t; action t is 10 + t; the episode ends after len(rewards) steps."""
  for t, reward in enumerate(rewards):
    last = t == len(rewards) - 1
    buffer.add(np.array([observations[t]], np.float32), 10 + t, reward, terminated and last, t == 0)
  buffer.add_final(np.array([final_observation], np.float32))


def test_n_step_returns_and_discounts_by_hand():
  buffer = vector_buffer(horizon=3, gamma=0.5)
  # Episode A terminates after 4 steps: o0..o3 = 0..3, final o4 = 4. Rewards 1, 2, 4, 8.
  add_episode(buffer, [0, 1, 2, 3], [1.0, 2.0, 4.0, 8.0], terminated=True, final_observation=4)
  # Episode B is truncated after 2 steps: o = 100, 101, final 102. Rewards 16, 32.
  add_episode(buffer, [100, 101], [16.0, 32.0], terminated=False, final_observation=102)
  add_episode(buffer, [200, 201, 202, 203], [0.0] * 4, terminated=False, final_observation=204)
  batch = buffer.gather(np.array([0, 1, 2, 3, 5, 6]))
  np.testing.assert_allclose(batch['reward'], [
      1 + 0.5 * 2 + 0.25 * 4,   # full window, bootstraps from o3 with 0.5^3
      2 + 0.5 * 4 + 0.25 * 8,   # window reaches the termination: discount 0
      4 + 0.5 * 8,
      8,
      16 + 0.5 * 32,            # truncated: bootstraps from the final observation with 0.5^2
      32,
  ])
  np.testing.assert_allclose(batch['discount'], [0.125, 0.0, 0.0, 0.0, 0.25, 0.5])
  np.testing.assert_allclose(batch['next_observation'][:, 0], [3, 4, 4, 4, 102, 102])
  np.testing.assert_array_equal(batch['action'], [10, 11, 12, 13, 10, 11])
  np.testing.assert_allclose(batch['observation'][:, 0], [0, 1, 2, 3, 100, 101])


def test_later_stacks_read_a_horizon_of_their_own_within_the_window():
  buffer = vector_buffer(horizon=3)
  add_episode(buffer, [0, 1, 2, 3], [0.0] * 4, terminated=True, final_observation=4)
  add_episode(buffer, [100, 101], [0.0] * 2, terminated=False, final_observation=102)
  starts = np.array([0, 1, 2, 3, 5, 6])
  # One move on, or the final observation where the episode ends first.
  np.testing.assert_allclose(buffer.later_stacks(starts, 1)[:, 0], [1, 2, 3, 4, 101, 102])
  np.testing.assert_allclose(buffer.later_stacks(starts, 2)[:, 0], [2, 3, 4, 4, 102, 102])
  # The whole horizon is gather's next observation.
  np.testing.assert_array_equal(buffer.later_stacks(starts, 3),
                                buffer.gather(starts)['next_observation'])
  for steps in (0, 4):
    with pytest.raises(ValueError, match='1..3 steps ahead'):
      buffer.later_stacks(starts, steps)


def test_previous_actions_by_hand_at_episode_starts_and_window_ends():
  buffer = vector_buffer(horizon=3, gamma=0.5, previous_actions=True)
  # The same episodes as above: actions 10, 11, 12, 13 (terminated), then 10, 11 (truncated).
  add_episode(buffer, [0, 1, 2, 3], [1.0, 2.0, 4.0, 8.0], terminated=True, final_observation=4)
  add_episode(buffer, [100, 101], [16.0, 32.0], terminated=False, final_observation=102)
  add_episode(buffer, [200, 201, 202, 203], [0.0] * 4, terminated=False, final_observation=204)
  batch = buffer.gather(np.array([0, 1, 2, 3, 5, 6, 10]))
  # a_{t-1}, zero at an episode's first step.
  np.testing.assert_array_equal(batch['previous_action'], [0, 10, 11, 12, 0, 10, 11])
  # The action just before the next observation: the window's last step (a_{t+2} for a full
  # window, the episode's last action when the window reaches its end).
  np.testing.assert_array_equal(batch['next_previous_action'], [12, 13, 13, 13, 11, 11, 13])
  assert 'previous_action' not in vector_buffer(horizon=3).gather(np.array([0]))


def test_a_start_whose_previous_row_was_overwritten_is_not_valid_with_previous_actions():
  plain, with_previous = (vector_buffer(6, horizon=1, previous_actions=flag)
                          for flag in (False, True))
  for buffer in (plain, with_previous):
    for t in range(8):  # one long open episode: rows 0..7 written, 6 kept, row 2 the oldest
      buffer.add(np.array([t], np.float32), t, 0.0, False, t == 0)
  assert plain.oldest_row == 2 and plain.is_valid_start(np.array([2]))[0]
  # Row 2 holds step 2, the oldest kept; its previous action was step 1's, in row 1, which step 7
  # has overwritten.
  np.testing.assert_array_equal(with_previous.is_valid_start(np.arange(6)),
                                plain.is_valid_start(np.arange(6)) & (np.arange(6) != 2))
  batch = with_previous.sample(32, np.random.default_rng(0))
  np.testing.assert_array_equal(batch['previous_action'], batch['action'] - 1)


def test_final_rows_and_unfinished_windows_are_not_valid_starts():
  buffer = vector_buffer(horizon=3)
  add_episode(buffer, [0, 1], [1.0, 1.0], terminated=True, final_observation=2)  # rows 0-2
  for t in range(4):  # an open episode: rows 3..6
    buffer.add(np.array([10.0 + t], np.float32), 0, 0.0, False, t == 0)
  # Row 2 is a final observation; rows 4, 5, 6 do not have 3 later rows yet.
  np.testing.assert_array_equal(buffer.is_valid_start(np.arange(7)),
                                [True, True, False, True, False, False, False])
  rng = np.random.default_rng(0)
  assert set(buffer.sample(64, rng)['indices']) == {0, 1, 3}


def test_an_episode_left_open_is_closed_as_a_truncation():
  buffer = vector_buffer(horizon=2, gamma=0.5)
  buffer.add(np.array([0.0], np.float32), 0, 1.0, False, True)
  buffer.add(np.array([1.0], np.float32), 0, 2.0, False, False)  # never ended
  add_episode(buffer, [50, 51], [0.0, 0.0], terminated=True, final_observation=52)
  batch = buffer.gather(np.array([0]))
  # Row 1 became the episode's final observation: the transition from row 0 bootstraps from it.
  assert batch['reward'][0] == 1.0 and batch['discount'][0] == 0.5
  assert batch['next_observation'][0, 0] == 1.0
  assert not buffer.is_valid_start(np.array([1]))[0]


def test_sampling_from_an_empty_or_unready_buffer_is_a_clear_error():
  buffer = vector_buffer(horizon=3)
  with pytest.raises(ValueError, match='empty'):
    buffer.sample(2, np.random.default_rng(0))
  buffer.add(np.array([0.0], np.float32), 0, 0.0, False, True)
  with pytest.raises(ValueError, match='no valid transition'):
    buffer.sample(2, np.random.default_rng(0))


@pytest.mark.parametrize('buffer_class', [CircularReplayBuffer, PrioritizedReplayBuffer])
def test_a_single_valid_row_among_many_is_still_sampled(buffer_class):
  # Horizon 30 in an open episode of 31 rows: only row 0 starts a whole window, so redrawing a
  # batch of 200 at random would need far more than the allowed rounds.
  buffer = buffer_class(100, observation_shape=(1,), observation_dtype=np.float32,
                        update_horizon=30, gamma=0.5)
  for t in range(31):
    buffer.add(np.array([t], np.float32), 0, 1.0, False, t == 0)
  batch = buffer.sample(200, np.random.default_rng(0))
  assert set(batch['indices']) == {0}
  assert batch['discount'][0] == pytest.approx(0.5 ** 30)


def test_wrong_observation_shape_is_named():
  buffer = vector_buffer()
  with pytest.raises(ValueError, match=r'shape \(1,\).*\(2,\)'):
    buffer.add(np.zeros(2, np.float32), 0, 0.0, False, True)


# -- frame stacks ---------------------------------------------------------------------------------


def frame(value):
  return np.full((2, 2), value, np.uint8)


def stacked(values):
  """The (stack, 2, 2) observation an env stacking frames `values` gives (0 = padding)."""
  return np.stack([frame(v) for v in values])


def test_stacks_are_rebuilt_with_zero_padding_at_episode_starts():
  buffer = CircularReplayBuffer(30, observation_shape=(3, 2, 2), stack_size=3, update_horizon=1)
  # Episode 1: frames 1, 2, 3 then final 4; episode 2: frames 5, 6 then final 7.
  history = []
  for episode in ([1, 2, 3, 4], [5, 6, 7]):
    history = []
    for t, value in enumerate(episode):
      history = (history + [value])[-3:]
      observation = stacked([0] * (3 - len(history)) + history)
      if t == len(episode) - 1:
        buffer.add_final(observation)
      else:
        buffer.add(observation, 0, 1.0, False, t == 0)
  assert buffer.memory_bytes() < 30 * (4 + 4 + 4 + 3 + 2 * 2) + 1
  batch = buffer.gather(np.array([0, 1, 2, 4, 5]))
  firsts = batch['observation'][:, :, 0, 0]
  np.testing.assert_array_equal(firsts, [[0, 0, 1], [0, 1, 2], [1, 2, 3], [0, 0, 5], [0, 5, 6]])
  np.testing.assert_array_equal(batch['next_observation'][:, :, 0, 0],
                                [[0, 1, 2], [1, 2, 3], [2, 3, 4], [0, 5, 6], [5, 6, 7]])


def test_wrap_around_overwrites_the_oldest_rows_and_keeps_stacks_honest():
  capacity = 10
  buffer = CircularReplayBuffer(capacity, observation_shape=(2, 2, 2), stack_size=2,
                                update_horizon=1)
  previous = 0
  for t in range(25):  # one long episode of frames 1..25
    buffer.add(stacked([previous, t + 1]), 0, float(t), False, t == 0)
    previous = t + 1
  assert len(buffer) == capacity and buffer.add_count == 25
  # Rows now hold frames 16..25 at positions 5..9, 0..4; the newest (position 4) has no next row.
  valid = buffer.is_valid_start(np.arange(capacity))
  # Position 5 is the oldest row: its stack would need the overwritten frame 15.
  np.testing.assert_array_equal(valid, [True, True, True, True, False,
                                        False, True, True, True, True])
  batch = buffer.gather(np.flatnonzero(valid))
  np.testing.assert_array_equal(batch['observation'][:, :, 0, 0],
                                [[20, 21], [21, 22], [22, 23], [23, 24],
                                 [16, 17], [17, 18], [18, 19], [19, 20]])
  np.testing.assert_array_equal(batch['next_observation'][:, -1, 0, 0],
                                [22, 23, 24, 25, 18, 19, 20, 21])


# -- prioritized ----------------------------------------------------------------------------------


def test_new_rows_get_the_highest_priority_and_final_rows_none():
  buffer = vector_buffer(horizon=1, buffer_class=PrioritizedReplayBuffer)
  add_episode(buffer, [0, 1, 2], [0.0] * 3, terminated=True, final_observation=3)
  np.testing.assert_array_equal(buffer.sum_tree.get(np.arange(4)), [1.0, 1.0, 1.0, 0.0])
  buffer.set_priorities(np.array([0, 1]), np.array([5.0, 0.25]))
  add_episode(buffer, [7], [0.0], terminated=True, final_observation=8)
  assert buffer.sum_tree.get([4])[0] == 5.0
  batch = buffer.sample(8, np.random.default_rng(0))
  np.testing.assert_allclose(batch['sampling_probability'],
                             buffer.sum_tree.get(batch['indices']) / (5.0 + 0.25 + 1.0 + 5.0))


def test_prioritized_buffer_round_trip_continues_identically():
  def fill(buffer, episodes):
    for e in range(episodes):
      add_episode(buffer, [e * 10 + t for t in range(5)], [float(t) for t in range(5)],
                  terminated=e % 2 == 0, final_observation=e * 10 + 5)

  original = vector_buffer(capacity=32, horizon=3, buffer_class=PrioritizedReplayBuffer)
  fill(original, 9)  # wraps around
  original.set_priorities(np.arange(0, 32, 3), np.linspace(0.1, 4.0, 11))
  copy = vector_buffer(capacity=32, horizon=3, buffer_class=PrioritizedReplayBuffer)
  copy.load_state_dict(original.state_dict())
  rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
  for _ in range(3):
    batch_a, batch_b = original.sample(16, rng_a), copy.sample(16, rng_b)
    for key in batch_a:
      np.testing.assert_array_equal(batch_a[key], batch_b[key])
    fill(original, 1)
    fill(copy, 1)
  with pytest.raises(ValueError, match='shape'):
    vector_buffer(capacity=64, buffer_class=PrioritizedReplayBuffer).load_state_dict(
        original.state_dict())


@pytest.mark.parametrize('add_count, filled, expected', [
    # capacity 10, chunks of 4 rows: rows 0-3, 4-7, 8-9; add i goes to row i % 10.
    (6, 6, [4, 6]),  # rows 0-5 written once: chunk 0 last by add 3, chunk 1 by add 5
    (13, 10, [13, 8, 10]),  # second lap up to row 2: chunk 0 by add 12, chunks 1-2 in lap one
    (20, 10, [14, 18, 20]),  # two whole laps: each chunk last by its end row in lap two
    (0, 0, []),
])
def test_chunk_versions_by_hand(add_count, filled, expected):
  versions = circular.chunk_versions(add_count, 10, filled, 4)
  np.testing.assert_array_equal(versions, expected)


def test_chunk_versions_match_a_simulated_buffer():
  rng = np.random.default_rng(0)
  for _ in range(200):
    capacity, chunk_rows = int(rng.integers(2, 30)), int(rng.integers(1, 12))
    add_count = int(rng.integers(0, 4 * capacity))
    last_write = np.zeros(capacity, np.int64)
    for add in range(add_count):
      last_write[add % capacity] = add + 1
    filled = min(add_count, capacity)
    expected = [last_write[start:start + chunk_rows].max()
                for start in range(0, filled, chunk_rows)]
    np.testing.assert_array_equal(
        circular.chunk_versions(add_count, capacity, filled, chunk_rows), expected)


def test_a_checkpointed_buffer_rewrites_only_the_chunks_written_since(tmp_path, monkeypatch):
  monkeypatch.setattr(circular, 'CHECKPOINT_CHUNK_BYTES', 4 * 16)  # 4 rows of 4x4 uint8 frames
  buffer = CircularReplayBuffer(20, observation_shape=(4, 4))
  frame = lambda value: np.full((4, 4), value, np.uint8)
  for step in range(14):
    buffer.add(frame(step), 0, float(step), False, step == 0)
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  save = lambda iteration: checkpointer.save(iteration, {}, lambda _: {'replay': buffer.state_dict()})
  first = save(0)
  for step in range(14, 17):  # rows 14-16: chunk 3 (rows 12-15) and chunk 4 (rows 16-19)
    buffer.add(frame(step), 0, float(step), False, False)
  second = save(1)
  with open(os.path.join(second, checkpoints.MANIFEST)) as file:
    files = json.load(file)['chunked']['replay/rows/observation']['files']
  linked = [os.path.exists(os.path.join(first, name))
            and os.path.samefile(os.path.join(first, name), os.path.join(second, name))
            for name in files]
  assert linked == [True, True, True, False, False]
  restored = CircularReplayBuffer(20, observation_shape=(4, 4))
  restored.load_state_dict(checkpointer.load(1)[2]['replay'])
  for name, array in buffer._rows().items():  # pylint: disable=protected-access
    np.testing.assert_array_equal(restored._rows()[name], array, err_msg=name)  # pylint: disable=protected-access
