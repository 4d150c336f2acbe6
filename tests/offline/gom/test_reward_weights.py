"""GOM's closed-form reward weights: exact recovery, the normal equations (plain, ridge, and with
a duplicated column), and ridge shrinkage. References are float64 products, not numpy's LAPACK.

Only the recovery test is the reference's size (500 x 129): on a busy machine OpenBLAS's threads
make each LAPACK call at that size take seconds (with OPENBLAS_NUM_THREADS=1, milliseconds),
so the properties are checked on 200 x 20, where OpenBLAS stays single-threaded."""

import jax
import numpy as np

from offline.gom import reward_weights

# One compile per feature shape, shared by the tests (eager lstsq dispatch is slow).
FIT = jax.jit(reward_weights.fit_reward_weights)


def _problem(num_rows=200, dim=20, seed=0):
  rng = np.random.default_rng(seed)
  # Gaussian features: condition number about 3 for 500 x 129 (1.9 for 200 x 20), so float32
  # is exact enough.
  features = rng.normal(size=(num_rows, dim)).astype(np.float32)
  weights = rng.normal(size=dim).astype(np.float32)
  return rng, features, weights


def _noisy_rewards(rng, features, weights):
  return (features @ weights + rng.normal(size=len(features))).astype(np.float32)


def _normal_equations_gap(features, rewards, weights, ridge=0.0):
  """max |X^T (r - X w) - ridge w|, relative to max |X^T r|: 0 at the (ridge) solution."""
  x = features.astype(np.float64)
  w = np.asarray(weights, np.float64)
  gap = x.T @ (rewards - x @ w) - ridge * w
  return np.abs(gap).max() / np.abs(x.T @ rewards).max()


def test_exactly_linear_rewards_are_recovered():
  _, features, weights = _problem(500, 129)
  rewards = features @ weights
  fitted = np.asarray(FIT(features, rewards, 0.0))
  np.testing.assert_allclose(fitted, weights, atol=1e-4)
  np.testing.assert_allclose(features @ fitted, rewards, atol=1e-3)


def test_residual_is_orthogonal_to_the_features():
  rng, features, weights = _problem()
  rewards = _noisy_rewards(rng, features, weights)
  fitted = FIT(features, rewards, 0.0)
  assert _normal_equations_gap(features, rewards, fitted) < 1e-5
  # The noise is fit a little, not much: the weights stay near the true ones.
  assert np.abs(np.asarray(fitted) - weights).max() < 0.3


def test_ridge_solves_its_normal_equations_and_shrinks_the_weights():
  rng, features, weights = _problem()
  rewards = _noisy_rewards(rng, features, weights)
  fits = {ridge: FIT(features, rewards, ridge) for ridge in (0.0, 10.0, 1000.0)}
  for ridge, fitted in fits.items():
    assert _normal_equations_gap(features, rewards, fitted, ridge) < 1e-5
  norms = [np.linalg.norm(fits[ridge]) for ridge in (0.0, 10.0, 1000.0)]
  assert norms[0] > norms[1] > norms[2]


def test_duplicated_column_gives_the_least_squares_predictions():
  rng, features, weights = _problem()
  features[:, -1] = features[:, 0]  # rank 128 of 129 (the same shape: no second compile)
  rewards = _noisy_rewards(rng, features, weights)
  fitted = np.asarray(FIT(features, rewards, 0.0))
  assert np.all(np.isfinite(fitted))
  # Every least-squares solution has the same predictions, those whose residual is orthogonal
  # to the features; the minimum-norm one splits the duplicate's weight evenly between copies.
  assert _normal_equations_gap(features, rewards, fitted) < 1e-5
  np.testing.assert_allclose(fitted[0], fitted[-1], atol=1e-4)
  full = np.asarray(FIT(features[:, :-1], rewards, 0.0))
  np.testing.assert_allclose(features @ fitted, features[:, :-1] @ full, atol=1e-3)
