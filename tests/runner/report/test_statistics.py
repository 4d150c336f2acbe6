"""The report's statistics against hand-computed numbers: IQM, bootstrap intervals, performance
profiles and the probability of improvement (rliable's definitions)."""

import numpy as np
import pytest
import scipy.stats

from runner.report import statistics


def test_mean_and_iqm_of_four_seeds_by_hand():
  values = [1.0, 2.0, 3.0, 10.0]
  assert np.mean(values) == 4.0
  # Four seeds: the middle two, (2 + 3) / 2.
  assert statistics.interquartile_mean(values) == pytest.approx(2.5)
  assert statistics.interquartile_mean([10.0, 3.0, 1.0, 2.0]) == pytest.approx(2.5)  # order-free


def test_iqm_weights_for_few_seeds_by_hand():
  np.testing.assert_allclose(statistics.iqm_weights(1), [1.0])
  np.testing.assert_allclose(statistics.iqm_weights(2), [0.5, 0.5])
  np.testing.assert_allclose(statistics.iqm_weights(3), [1 / 6, 2 / 3, 1 / 6])
  np.testing.assert_allclose(statistics.iqm_weights(4), [0, 0.5, 0.5, 0])
  np.testing.assert_allclose(statistics.iqm_weights(5), [0, 0.3, 0.4, 0.3, 0])
  assert statistics.interquartile_mean([7.0]) == 7.0
  assert statistics.interquartile_mean([1.0, 3.0]) == pytest.approx(2.0)
  assert statistics.interquartile_mean([0.0, 1.0, 5.0]) == pytest.approx(0 / 6 + 2 / 3 * 1 + 5 / 6)
  assert statistics.interquartile_mean([1.0, 2.0, 6.0]) == pytest.approx(2.5)
  assert statistics.interquartile_mean([1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(3.0)


def test_iqm_is_scipys_trimmed_mean_when_seeds_are_a_multiple_of_four():
  values = np.random.default_rng(0).normal(size=(8, 5))
  np.testing.assert_allclose(statistics.interquartile_mean(values, axis=0),
                             scipy.stats.trim_mean(values, 0.25, axis=0))
  np.testing.assert_allclose(statistics.interquartile_mean(values.T, axis=1),
                             scipy.stats.trim_mean(values, 0.25, axis=0))


def test_iqm_is_nan_when_a_seed_is_nan():
  assert np.isnan(statistics.interquartile_mean([1.0, 2.0, 3.0, np.nan]))


def test_bootstrap_ci_of_two_seeds_by_hand():
  # Resampled means of [0, 1] are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4: the 95% CI is [0, 1].
  low, high = statistics.bootstrap_mean_ci([0.0, 1.0], 0.95, samples=4000, seed=0)
  assert (low, high) == (0.0, 1.0)
  low, high = statistics.bootstrap_mean_ci([0.0, 1.0], 0.4, samples=4000, seed=0)
  assert (low, high) == (0.5, 0.5)


def test_bootstrap_ci_contains_the_mean_and_shrinks_as_seeds_agree():
  spread = np.array([[1.0, 0.0], [2.0, 5.0], [3.0, 10.0], [10.0, 20.0]])  # (seeds, iterations)
  low, high = statistics.bootstrap_mean_ci(spread, 0.95, samples=2000, seed=1)
  mean = spread.mean(axis=0)
  assert np.all(low <= mean) and np.all(mean <= high)
  assert np.all(high - low > 0)
  closer = mean + (spread - mean) / 10
  close_low, close_high = statistics.bootstrap_mean_ci(closer, 0.95, samples=2000, seed=1)
  np.testing.assert_allclose(close_high - close_low, (high - low) / 10)
  same_low, same_high = statistics.bootstrap_mean_ci(np.full((3, 2), 5.0), 0.95, 2000, seed=1)
  np.testing.assert_array_equal(same_low, [5.0, 5.0])
  np.testing.assert_array_equal(same_high, [5.0, 5.0])


def test_bootstrap_ci_is_deterministic_for_a_seed():
  values = np.random.default_rng(3).normal(size=(5, 7))
  first = statistics.bootstrap_mean_ci(values, 0.9, samples=1000, seed=7)
  again = statistics.bootstrap_mean_ci(values, 0.9, samples=1000, seed=7)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, statistics.bootstrap_mean_ci(values, 0.9, samples=1000, seed=8))


# -- comparisons across tasks ---------------------------------------------------------------------


def test_score_distributions_by_hand():
  # Task A: runs [0, 0.5, 1]; task B: runs [0.2, 0.8]. Above tau = 0.25: A 2 of 3, B 1 of 2, so the
  # run-score distribution is (2/3 + 1/2) / 2 = 7/12; above 0.9: A 1/3, B 0 -> 1/6; above -1: 1.
  tasks = [np.array([0.0, 0.5, 1.0]), np.array([0.2, 0.8])]
  np.testing.assert_allclose(statistics.score_distribution(tasks, [-1.0, 0.25, 0.9, 1.0]),
                             [1.0, 7 / 12, 1 / 6, 0.0])
  # Task means 0.5 and 0.5: both above 0.25 and neither above 0.5.
  np.testing.assert_allclose(statistics.average_score_distribution(tasks, [0.25, 0.5]), [1.0, 0.0])
  # With equal runs per task, the fraction of all runs (rliable's np.mean(scores > tau)).
  scores = np.random.default_rng(0).normal(size=(5, 3))
  thresholds = np.linspace(-2, 2, 9)
  np.testing.assert_allclose(statistics.score_distribution(list(scores.T), thresholds),
                             [np.mean(scores > tau) for tau in thresholds])


def test_performance_profile_is_non_increasing_with_an_interval_around_it():
  tasks = [np.random.default_rng(task).uniform(size=4) for task in range(3)]
  thresholds = np.linspace(0, 1, 21)
  for use_score_distribution in (True, False):
    profile = statistics.performance_profile(tasks, thresholds, use_score_distribution,
                                             samples=500, seed=1)
    assert np.all(np.diff(profile.value) <= 0)
    assert np.all(profile.low <= profile.value) and np.all(profile.value <= profile.high)
  # One run per task leaves nothing to resample: the interval is the profile itself.
  single = statistics.performance_profile([[0.3], [0.7]], [0.5], samples=100)
  np.testing.assert_array_equal([single.value, single.low, single.high], [[0.5]] * 3)


def test_probability_of_improvement_by_hand():
  # Task A: X [1, 3], Y [2, 2]: pairs (1,2) (1,2) lose, (3,2) (3,2) win -> 2/4. Task B: X [5],
  # Y [1, 5, 9]: 5 > 1 wins, 5 = 5 ties (1/2), 5 < 9 loses -> 1.5/3. Mean (1/2 + 1/2) / 2 = 1/2.
  x, y = [[1.0, 3.0], [5.0]], [[2.0, 2.0], [1.0, 5.0, 9.0]]
  assert statistics.probability_of_improvement(x, y) == pytest.approx(0.5)
  # Task A alone, X [4, 6, 8] over Y [5, 7]: 6 > 5, 8 > 5, 8 > 7 -> 3 of 6 pairs.
  assert statistics.probability_of_improvement([[4.0, 6.0, 8.0]], [[5.0, 7.0]]) == 0.5
  # X [1, 2, 6] over Y [4, 5, 9]: only 6 beats 4 and 5 -> 2/9; the other way 7/9.
  assert statistics.probability_of_improvement([[1.0, 2.0, 6.0]], [[4.0, 5.0, 9.0]]) == (
      pytest.approx(2 / 9))
  assert statistics.probability_of_improvement([[1.0, 2.0, 6.0]], [[10.0]]) == 0.0
  # Equal to scipy's Mann-Whitney U over m * n (rliable's definition).
  rng = np.random.default_rng(2)
  a, b = rng.integers(0, 4, size=6).astype(float), rng.integers(0, 4, size=4).astype(float)
  u = scipy.stats.mannwhitneyu(a, b, alternative='greater').statistic
  assert statistics.probability_of_improvement([a], [b]) == pytest.approx(u / 24)


def test_probability_of_improvement_properties():
  rng = np.random.default_rng(5)
  x = [rng.integers(0, 5, size=3).astype(float) for _ in range(4)]
  y = [rng.integers(0, 5, size=5).astype(float) for _ in range(4)]
  assert statistics.probability_of_improvement(x, y) + statistics.probability_of_improvement(
      y, x) == pytest.approx(1.0)
  assert statistics.probability_of_improvement(x, x) == 0.5
  estimate = statistics.probability_of_improvement_estimate(x, y, samples=500, seed=3)
  assert 0 <= estimate.low <= estimate.value <= estimate.high <= 1
  assert estimate == statistics.probability_of_improvement_estimate(x, y, samples=500, seed=3)
  with pytest.raises(ValueError):
    statistics.probability_of_improvement(x, y[:2])


def test_min_max_normalisation_of_a_task_by_hand():
  # Pooled values 1..9: (x - 1) / 8.
  dqn, rainbow = statistics.min_max_normalise([[1.0, 2.0, 6.0], [4.0, 5.0, 9.0]])
  np.testing.assert_allclose(dqn, [0, 1 / 8, 5 / 8])
  np.testing.assert_allclose(rainbow, [3 / 8, 4 / 8, 1])
  assert statistics.min_max_normalise([[3.0, 3.0], [3.0]]) is None
  assert statistics.min_max_normalise([[1.0, np.nan], [3.0]]) is None
