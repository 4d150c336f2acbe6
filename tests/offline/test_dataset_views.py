"""Dataset views (offline/dataset_views.py) against hand-built examples at episode boundaries:
transitions, windows (plain and padded) and action pairs."""

import numpy as np
import pytest

from tests.offline.dataset_examples import write_numbered


def test_windows_never_cross_an_episode_end(tmp_path):
  # Episodes of 3, 1 and 5 steps (4, 2 and 6 observations); horizon 2 needs 3 observations, so
  # episode 0 gives windows from steps 0 and 1, episode 1 none, episode 2 from steps 0..3.
  dataset = write_numbered(tmp_path / 'd', [3, 1, 5])
  windows = dataset.windows(2)
  np.testing.assert_array_equal(windows['episode'], [0, 0, 2, 2, 2, 2])
  np.testing.assert_array_equal(windows['start'], [0, 1, 0, 1, 2, 3])
  np.testing.assert_array_equal(windows['observations'][..., 0], [
      [0, 1, 2], [1, 2, 3], [20, 21, 22], [21, 22, 23], [22, 23, 24], [23, 24, 25]])
  np.testing.assert_array_equal(windows['actions'][..., 0], [
      [0, 1], [1, 2], [200, 201], [201, 202], [202, 203], [203, 204]])
  np.testing.assert_array_equal(windows['rewards'], [
      [0, 1], [1, 2], [2000, 2001], [2001, 2002], [2002, 2003], [2003, 2004]])
  np.testing.assert_array_equal(windows['terminations'], [
      [0, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 1]])
  assert not windows['truncations'].any()
  assert windows['observations'].dtype == np.float32 and windows['terminations'].dtype == bool
  # Horizon 5: only episode 2's six observations fit, once; horizon 6: nothing, with the shapes kept.
  np.testing.assert_array_equal(dataset.windows(5)['observations'][..., 0], [[20, 21, 22, 23, 24, 25]])
  empty = dataset.windows(6)
  assert empty['observations'].shape == (0, 7, 1) and empty['actions'].shape == (0, 6, 1)
  assert empty['rewards'].shape == (0, 6)
  # Horizon 1: every step once, i.e. the transitions.
  assert len(dataset.windows(1)['start']) == dataset.num_steps
  with pytest.raises(ValueError, match='horizon'):
    dataset.windows(0)


def test_padded_windows_start_at_every_step_and_hold_the_final_observation(tmp_path):
  # Episodes of 3, 1 and 5 steps; episode 1 is truncated, the others terminate.
  dataset = write_numbered(tmp_path / 'd', [3, 1, 5])
  windows = dataset.windows(2, pad_episode_ends=True)
  np.testing.assert_array_equal(windows['episode'], [0, 0, 0, 1, 2, 2, 2, 2, 2])
  np.testing.assert_array_equal(windows['start'], [0, 1, 2, 0, 0, 1, 2, 3, 4])
  np.testing.assert_array_equal(windows['observations'][..., 0], [
      [0, 1, 2], [1, 2, 3], [2, 3, 3], [10, 11, 11],
      [20, 21, 22], [21, 22, 23], [22, 23, 24], [23, 24, 25], [24, 25, 25]])
  np.testing.assert_array_equal(windows['valid'], [
      [1, 1], [1, 1], [1, 0], [1, 0], [1, 1], [1, 1], [1, 1], [1, 1], [1, 0]])
  np.testing.assert_array_equal(windows['actions'][..., 0], [
      [0, 1], [1, 2], [2, 0], [100, 0], [200, 201], [201, 202], [202, 203], [203, 204], [204, 0]])
  np.testing.assert_array_equal(windows['rewards'], [
      [0, 1], [1, 2], [2, 0], [1000, 0],
      [2000, 2001], [2001, 2002], [2002, 2003], [2003, 2004], [2004, 0]])
  np.testing.assert_array_equal(windows['terminations'], [
      [0, 0], [0, 1], [1, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 1], [1, 0]])
  np.testing.assert_array_equal(windows['truncations'][3], [1, 0])
  assert windows['truncations'].sum() == 1
  # Longer than any episode: still one window per step, held at the end.
  long = dataset.windows(6, pad_episode_ends=True)
  assert len(long['start']) == dataset.num_steps
  np.testing.assert_array_equal(long['observations'][3, :, 0], [10, 11, 11, 11, 11, 11, 11])
  np.testing.assert_array_equal(long['valid'][3], [1, 0, 0, 0, 0, 0])
  # The windows that fit are the unpadded ones, all valid.
  fitting = dataset.windows(2)
  assert fitting['valid'].all()
  keep = windows['valid'].all(axis=1)
  for name in ('observations', 'actions', 'rewards', 'terminations', 'episode', 'start'):
    np.testing.assert_array_equal(windows[name][keep], fitting[name])


def test_action_pairs_stay_inside_episodes(tmp_path):
  dataset = write_numbered(tmp_path / 'd', [3, 1, 5])
  previous, current = dataset.action_pairs()
  np.testing.assert_array_equal(previous[:, 0], [0, 1, 200, 201, 202, 203])
  np.testing.assert_array_equal(current[:, 0], [1, 2, 201, 202, 203, 204])
  previous, current = dataset.action_pairs(initial_action=np.array([-1.0]))
  np.testing.assert_array_equal(previous[:, 0], [-1, 0, 1, -1, -1, 200, 201, 202, 203])
  np.testing.assert_array_equal(current[:, 0], [0, 1, 2, 100, 200, 201, 202, 203, 204])
  assert previous.dtype == np.float32


def test_transitions_end_on_each_episodes_own_final_observation(tmp_path):
  dataset = write_numbered(tmp_path / 'd', [3, 1, 2])
  transitions = dataset.transitions()
  np.testing.assert_array_equal(transitions['observation'][:, 0], [0, 1, 2, 10, 20, 21])
  np.testing.assert_array_equal(transitions['next_observation'][:, 0], [1, 2, 3, 11, 21, 22])
  np.testing.assert_array_equal(transitions['action'][:, 0], [0, 1, 2, 100, 200, 201])
  np.testing.assert_array_equal(transitions['terminated'], [0, 0, 1, 0, 0, 1])
  np.testing.assert_array_equal(transitions['truncated'], [0, 0, 0, 1, 0, 0])
  transitions['observation'][:] = -1  # views are copies
  assert dataset[0].observations[0, 0] == 0
