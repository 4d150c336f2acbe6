"""DSM's targets: the geometric offsets' law, the windows' ends, and on a tabular Markov chain whose
occupancy is known exactly, targets bootstrapped from the exact occupancy are samples of it, a
fraction gamma^H of them from the bootstrap."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline import datasets
from offline.dsm import targets

OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)


@pytest.mark.parametrize('gamma', [0.5, 0.9, 0.95])
def test_geometric_offsets_have_law_one_minus_gamma_times_gamma_to_the_k(gamma):
  offsets = np.asarray(targets.geometric_offsets(jax.random.PRNGKey(0), (400_000,), gamma))
  assert offsets.min() == 0
  for k in range(4):
    assert np.mean(offsets == k) == pytest.approx((1 - gamma) * gamma ** k, abs=3e-3)
  assert np.mean(offsets >= 6) == pytest.approx(gamma ** 6, abs=3e-3)
  assert np.all(np.asarray(targets.geometric_offsets(jax.random.PRNGKey(1), (10,), 0.0)) == 0)


def write(tmp_path, episodes):
  path = str(tmp_path / 'data')
  datasets.write_dataset(path, episodes, OBSERVATIONS, ACTIONS)
  return datasets.load_dataset(path)


def episode(observations, terminated):
  length = len(observations) - 1
  return dict(observations=np.asarray(observations, np.float32)[:, None],
              actions=np.zeros((length, 1), np.float32), rewards=np.zeros(length),
              terminations=(np.arange(length) == length - 1) & terminated,
              truncations=(np.arange(length) == length - 1) & (not terminated))


def test_windows_end_at_the_episode_end_and_bootstrap_unless_it_terminated(tmp_path):
  # A terminated episode 0 1 2 3 and a truncated one 10 11 12 13 14, horizon 2.
  dataset = write(tmp_path, [episode([0, 1, 2, 3], True), episode([10, 11, 12, 13, 14], False)])
  windows = targets.prepare_windows(dataset, horizon=2)
  np.testing.assert_array_equal(windows['observations'][..., 0], [
      [0, 1, 2], [1, 2, 3], [2, 3, 3], [10, 11, 12], [11, 12, 13], [12, 13, 14], [13, 14, 14]])
  np.testing.assert_array_equal(windows['end_index'], [2, 2, 1, 2, 2, 2, 1])
  # Terminated inside the window: absorbing (windows 1 and 2 reach observation 3, the terminal).
  np.testing.assert_array_equal(windows['bootstraps'], [True, False, False] + [True] * 4)
  reference = targets.prepare_windows(dataset, horizon=2, absorbing_truncations=True)
  np.testing.assert_array_equal(reference['bootstraps'],
                                [True, False, False, True, True, False, False])


def test_occupancy_targets_take_s_k_before_the_end_then_the_bootstrap_or_the_absorbing_state():
  observations = jnp.array([[[0.0], [1.0], [2.0], [3.0]], [[5.0], [6.0], [6.0], [6.0]],
                            [[7.0], [8.0], [8.0], [8.0]]])
  end_index = jnp.array([3, 1, 1])
  bootstraps = jnp.array([True, False, True])
  bootstrap_samples = jnp.full((3, 1, 5, 1), -1.0)
  offsets = jnp.broadcast_to(jnp.arange(5), (3, 1, 5))
  result = np.asarray(targets.occupancy_targets(observations, end_index, bootstraps,
                                                bootstrap_samples, offsets))[:, 0, :, 0]
  np.testing.assert_array_equal(result, [[0, 1, 2, -1, -1],  # s_k for k < 3, then bootstrapped
                                         [5, 6, 6, 6, 6],  # terminated at s_1: absorbing
                                         [7, -1, -1, -1, -1]])  # truncated at s_1: bootstrapped


@pytest.mark.parametrize('gamma,horizon', [(0.9, 3), (0.8, 6)])
def test_targets_from_the_exact_tabular_occupancy_are_samples_of_it(tmp_path, gamma, horizon):
  # A 4-state chain of our own: from each state, a step to the right or a stay, wrapping around.
  transition = np.array([[0.3, 0.7, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.2, 0.8],
                         [0.6, 0.0, 0.0, 0.4]])
  occupancy = (1 - gamma) * np.linalg.inv(np.eye(4) - gamma * transition)  # rows: sources
  rng = np.random.default_rng(0)
  episodes = []
  for _ in range(300):
    states = [0]
    for _ in range(40):
      states.append(rng.choice(4, p=transition[states[-1]]))
    episodes.append(episode(states, terminated=False))
  windows = targets.prepare_windows(write(tmp_path, episodes), horizon)
  # Windows that start in state 0 and fit before the episode's end.
  rows = np.flatnonzero((windows['observations'][:, 0, 0] == 0)
                        & (windows['end_index'] == horizon))
  observations = jnp.asarray(windows['observations'][rows])
  batch, atoms, samples = len(rows), 1, 200
  ends = observations[:, horizon, 0].astype(np.int32)
  # The exact model as the bootstrap: samples of the occupancy from s_H, marked by +10 so the test
  # can count them.
  keys = jax.random.split(jax.random.PRNGKey(1), batch)
  exact = jax.vmap(lambda key, end: jax.random.choice(
      key, 4, (atoms, samples), p=jnp.asarray(occupancy)[end]))(keys, ends)
  bootstrap = (exact + 10.0)[..., None]
  offsets = targets.geometric_offsets(jax.random.PRNGKey(2), (batch, atoms, samples), gamma)
  result = np.asarray(targets.occupancy_targets(
      observations, jnp.asarray(windows['end_index'][rows]),
      jnp.asarray(windows['bootstraps'][rows]), bootstrap, offsets))[..., 0]
  assert np.mean(result >= 10) == pytest.approx(gamma ** horizon, abs=0.01)
  states = np.where(result >= 10, result - 10, result).astype(int)
  frequencies = np.bincount(states.ravel(), minlength=4) / states.size
  np.testing.assert_allclose(frequencies, occupancy[0], atol=0.015)
