"""Replay buffer and n-step accumulation."""

import numpy as np
import pytest

from agents.replay import NStepAccumulator, ReplayBuffer


def make_buffer(capacity=4):
  return ReplayBuffer(capacity, {'x': ((2,), np.float32), 'a': ((), np.int32)})


def test_add_and_wrap_around_overwrites_the_oldest():
  buffer = make_buffer(capacity=3)
  for i in range(5):
    buffer.add({'x': np.full(2, i, np.float32), 'a': i})
  assert len(buffer) == 3 and buffer.add_count == 5
  batch = buffer.sample(200, np.random.default_rng(0))
  assert set(batch['a'].tolist()) == {2, 3, 4}
  np.testing.assert_array_equal(batch['x'][:, 0], batch['a'])  # fields stay aligned


def test_sampling_is_uniform_over_stored_transitions():
  buffer = make_buffer(capacity=4)
  for i in range(4):
    buffer.add({'x': np.zeros(2, np.float32), 'a': i})
  counts = np.bincount(buffer.sample(40000, np.random.default_rng(1))['a'], minlength=4)
  # Binomial(40000, 1/4): sd about 87; 5 sd is far beyond chance with this fixed seed.
  assert np.all(np.abs(counts - 10000) < 5 * 87), counts


def test_sampling_empty_buffer_and_wrong_fields_are_errors():
  buffer = make_buffer()
  with pytest.raises(ValueError, match='empty'):
    buffer.sample(1, np.random.default_rng(0))
  with pytest.raises(KeyError):
    buffer.add({'x': np.zeros(2)})


def test_state_dict_round_trip_restores_contents_and_position():
  buffer = make_buffer(capacity=3)
  for i in range(4):
    buffer.add({'x': np.full(2, i, np.float32), 'a': i})
  copy = make_buffer(capacity=3)
  copy.load_state_dict(buffer.state_dict())
  assert copy.add_count == 4
  buffer.add({'x': np.full(2, 9, np.float32), 'a': 9})
  copy.add({'x': np.full(2, 9, np.float32), 'a': 9})
  rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
  np.testing.assert_array_equal(buffer.sample(50, rng1)['a'], copy.sample(50, rng2)['a'])


def test_load_state_dict_rejects_mismatched_shapes():
  buffer = make_buffer(capacity=3)
  buffer.add({'x': np.zeros(2, np.float32), 'a': 0})
  state = buffer.state_dict()
  state['fields']['x'] = np.zeros((1, 3), np.float32)
  with pytest.raises(ValueError, match="'x'"):
    make_buffer(capacity=3).load_state_dict(state)


def run_episode(accumulator, rewards, terminated):
  """Feeds steps s_t = t with the given rewards; returns all emitted transitions."""
  emitted = []
  for t, reward in enumerate(rewards):
    last = t == len(rewards) - 1
    emitted += accumulator.add(t, t, reward, t + 1, terminated and last, last)
  return emitted


def test_one_step_transitions_pass_through():
  transitions = run_episode(NStepAccumulator(1, 0.9), [1.0, 2.0], terminated=False)
  assert [(t['observation'], t['next_observation']) for t in transitions] == [(0, 1), (1, 2)]
  np.testing.assert_allclose([t['reward'] for t in transitions], [1.0, 2.0])
  np.testing.assert_allclose([t['discount'] for t in transitions], [0.9, 0.9])


def test_three_step_returns_with_termination_by_hand():
  gamma = 0.5
  transitions = run_episode(NStepAccumulator(3, gamma), [1.0, 2.0, 4.0, 8.0], terminated=True)
  # From s0: 1 + 0.5*2 + 0.25*4 = 3, bootstrap from s3 with 0.125.
  # From s1: 2 + 0.5*4 + 0.25*8 = 6 and s2: 4 + 0.5*8 = 8 and s3: 8 all reach the terminal: discount 0.
  assert [t['observation'] for t in transitions] == [0, 1, 2, 3]
  assert [t['next_observation'] for t in transitions] == [3, 4, 4, 4]
  np.testing.assert_allclose([t['reward'] for t in transitions], [3.0, 6.0, 8.0, 8.0])
  np.testing.assert_allclose([t['discount'] for t in transitions], [0.125, 0.0, 0.0, 0.0])


def test_truncated_episode_flushes_with_shorter_horizons_and_bootstraps():
  gamma = 0.5
  transitions = run_episode(NStepAccumulator(3, gamma), [1.0, 2.0], terminated=False)
  # Truncated after two steps: s0 -> s2 with 1 + 0.5*2 = 2 and gamma^2; s1 -> s2 with 2 and gamma.
  assert [t['next_observation'] for t in transitions] == [2, 2]
  np.testing.assert_allclose([t['reward'] for t in transitions], [2.0, 2.0])
  np.testing.assert_allclose([t['discount'] for t in transitions], [0.25, 0.5])
  assert len(NStepAccumulator(3, gamma)) == 0
