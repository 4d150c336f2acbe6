"""Visit counts over hashed observations (agents/visit_density.py): exact keys count repeats of
the same observation, SimHash keys are the signs of fixed projections, worked by hand, and the
table survives a checkpoint."""

import numpy as np
import pytest

from agents import visit_density
from runner import errors


def test_exact_keys_count_each_observation_apart():
  counter = visit_density.VisitCounter()
  cells = np.eye(4, dtype=np.float32)
  for cell in (0, 1, 1, 3, 1, 0):
    counter.add(cells[cell])
  np.testing.assert_array_equal(counter.counts(cells), [2, 3, 0, 1])
  assert len(counter) == 3
  # The same observation is the same key, whatever array holds it.
  assert counter.keys(cells[1:2].copy())[0] == counter.keys(cells)[1]


def test_simhash_keys_are_the_signs_of_the_projections_by_hand():
  counter = visit_density.VisitCounter(hash_bits=2)
  counter._projection = np.array([[1.0, 1.0], [-1.0, 1.0]], np.float32)
  # x @ P: (1, 0) -> (1, 1), bits 11 = 3; (0, 1) -> (-1, 1), bits 10 (bit 0 off) = 2;
  # (-1, -0.5) -> (-0.5, -1.5) = 0; (2, 3) -> (-1, 5) = 2, the key of (0, 1).
  observations = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -0.5], [2.0, 3.0]], np.float32)
  np.testing.assert_array_equal(counter.keys(observations), [3, 2, 0, 2])
  counter.add(observations[1])
  np.testing.assert_array_equal(counter.counts(observations), [0, 1, 0, 1])


def test_simhash_projections_come_from_the_seed_and_near_observations_share_keys():
  frames = np.random.default_rng(0).integers(0, 255, (6, 4, 8, 8)).astype(np.uint8)
  first, second, other = (visit_density.VisitCounter(hash_bits=64, seed=seed)
                          for seed in (3, 3, 4))
  np.testing.assert_array_equal(first.keys(frames), second.keys(frames))
  assert not np.array_equal(first.keys(frames), other.keys(frames))
  assert len(set(first.keys(frames).tolist())) == 6  # 64 bits tell random frames apart
  nudged = frames.copy()
  nudged[:, 0, 0, 0] ^= 1  # one pixel's lowest bit
  assert np.mean(first.keys(nudged) == first.keys(frames)) >= 5 / 6
  with pytest.raises(errors.BadInputError, match='observations of 3 numbers'):
    first.keys(np.zeros((1, 3)))


def test_the_table_round_trips_and_refuses_a_checkpoint_of_other_keys():
  counter = visit_density.VisitCounter(hash_bits=0)
  observations = np.arange(12, dtype=np.float32).reshape(4, 3)
  for row in (0, 0, 2, 3, 3, 3):
    counter.add(observations[row])
  restored = visit_density.VisitCounter(hash_bits=0)
  restored.load_state_dict(counter.state_dict())
  np.testing.assert_array_equal(restored.counts(observations), [2, 0, 1, 3])
  empty = visit_density.VisitCounter().state_dict()
  assert empty['keys'].shape == (0,)
  with pytest.raises(errors.BadInputError, match='8 hash bits'):
    visit_density.VisitCounter(hash_bits=0).load_state_dict(
        visit_density.VisitCounter(hash_bits=8).state_dict())
  with pytest.raises(errors.InvalidSettingError, match='0 .exact observations. to 64'):
    visit_density.VisitCounter(hash_bits=65)


def replay_of(cells, capacity=64):
  """A uniform replay holding one episode that visits `cells` (indices into 4 one-hot cells), then
  its final observation (cell 0)."""
  from agents.replay.circular import CircularReplayBuffer
  replay = CircularReplayBuffer(capacity, (4,), np.float32)
  eye = np.eye(4, dtype=np.float32)
  for step, cell in enumerate(cells):
    replay.add(eye[cell], 0, 0.0, False, step == 0)
  replay.add_final(eye[0])
  return replay, eye


def test_the_visited_state_sampler_draws_each_held_key_alike():
  # Cell 1 starts 12 transitions, cell 2 three, cell 3 one: the replay's own draw gives them
  # 12 : 3 : 1; the sampler 1 : 1 : 1.
  replay, eye = replay_of([1] * 12 + [2] * 3 + [3])
  sampler = visit_density.VisitedStateSampler(replay.capacity)
  rows = sampler.draw_starts(replay, 6000, np.random.default_rng(0))
  assert replay.is_valid_start(rows).all()
  cells = np.argmax(replay.stacks(rows), axis=1)
  shares = np.bincount(cells, minlength=4)[1:] / len(rows)
  np.testing.assert_allclose(shares, 1 / 3, atol=0.03)
  assert len(sampler) == 3
  # Within a key, its rows alike: cell 1's 12 rows (0-11) each about 1/12 of its draws.
  np.testing.assert_allclose(np.bincount(rows[cells == 1], minlength=12)[:12] / np.sum(cells == 1),
                             1 / 12, atol=0.03)


def test_the_visited_state_sampler_follows_overwritten_rows_and_its_checkpoint():
  replay, eye = replay_of([1, 1, 2, 2, 2, 3], capacity=8)  # 7 rows written of 8
  sampler = visit_density.VisitedStateSampler(replay.capacity)
  sampler.sync(replay)
  assert len(sampler) == 3
  for step in range(7):  # a second episode in cell 2 alone overwrites cells 1, 2 and 3's rows
    replay.add(eye[2], 0, 0.0, False, step == 0)
  rows = sampler.draw_starts(replay, 200, np.random.default_rng(1))
  assert set(np.argmax(replay.stacks(rows), axis=1).tolist()) == {2}
  assert len(sampler) == 1

  restored = visit_density.VisitedStateSampler(replay.capacity)
  restored.load_state_dict(sampler.state_dict())
  np.testing.assert_array_equal(restored.draw_starts(replay, 50, np.random.default_rng(2)),
                                sampler.draw_starts(replay, 50, np.random.default_rng(2)))
  with pytest.raises(errors.BadInputError, match='hash bits'):
    visit_density.VisitedStateSampler(replay.capacity, hash_bits=8).load_state_dict(
        sampler.state_dict())
  with pytest.raises(errors.BadInputError, match='do not fit'):
    visit_density.VisitedStateSampler(16).load_state_dict(sampler.state_dict())
  with pytest.raises(errors.BadInputError, match='a replay of 8 rows'):
    visit_density.VisitedStateSampler(16).sync(replay)
