"""PSDRL's Bayesian last layer: the posterior against float64 closed forms, statistics summed in
chunks, the Cholesky fallback on features float32 cannot factor, and the covariance of many draws
in both conventions (METHODS.md's 1-D numbers, and a 3 x 3 Sigma with off-diagonals)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import bayesian_last_layer as bll
from runner import errors


def _features_and_targets(n=50, k=6, m=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, k)), rng.normal(size=(n, m))


def _closed_form(features, targets, prior_precision, noise_precision):
  """float64 numpy: (Sigma, mean) = (P^-1, P^-1 noise X^T Y), P = noise X^T X + prior I."""
  identity = np.eye(features.shape[1])
  precision = noise_precision * features.T @ features + prior_precision * identity
  cross = noise_precision * features.T @ targets
  return np.linalg.inv(precision), np.linalg.solve(precision, cross)


def test_mean_is_the_ridge_solution():
  features, targets = _features_and_targets()
  alpha = 100.0
  mean, _ = bll.ridge_posterior(jnp.asarray(features, jnp.float32),
                                jnp.asarray(targets, jnp.float32), alpha, 1.0)
  expected = np.linalg.solve(features.T @ features + alpha * np.eye(6), features.T @ targets)
  assert mean.dtype == jnp.float32 and mean.shape == (6, 3)
  np.testing.assert_allclose(mean, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('prior_precision, noise_precision',
                         [(100.0, 1.0), (2.0, 0.25), (0.5, 4.0)])
def test_mean_and_covariance_match_the_closed_form(prior_precision, noise_precision):
  features, targets = _features_and_targets(seed=1)
  mean, covariance = bll.ridge_posterior(features.astype(np.float32), targets.astype(np.float32),
                                         prior_precision, noise_precision)
  expected_covariance, expected_mean = _closed_form(features, targets, prior_precision,
                                                    noise_precision)
  np.testing.assert_allclose(mean, expected_mean, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(covariance, expected_covariance, rtol=1e-4,
                             atol=1e-6 * np.abs(expected_covariance).max())


def test_factor_is_a_square_root_of_the_covariance_and_nothing_was_retried():
  features, targets = _features_and_targets(seed=2)
  posterior = bll.ridge_posterior_from_statistics(
      *bll.sufficient_statistics(features.astype(np.float32), targets.astype(np.float32)), 3.0)
  factor = np.asarray(posterior.covariance_factor, np.float64)
  np.testing.assert_allclose(factor @ factor.T, posterior.covariance, rtol=1e-5, atol=1e-9)
  np.testing.assert_array_equal(np.tril(factor, -1), 0.0)  # C^-T: upper triangular
  assert int(posterior.retries) == 0 and bool(posterior.succeeded)
  assert float(posterior.prior_precision) == 3.0


def test_float64_matches_the_closed_form_tightly():
  features, targets = _features_and_targets(seed=3)
  with jax.enable_x64(True):
    mean, covariance = bll.ridge_posterior(jnp.asarray(features), jnp.asarray(targets), 7.0, 0.5)
    assert mean.dtype == jnp.float64 and covariance.dtype == jnp.float64
  expected_covariance, expected_mean = _closed_form(features, targets, 7.0, 0.5)
  np.testing.assert_allclose(mean, expected_mean, rtol=1e-11)
  np.testing.assert_allclose(covariance, expected_covariance, rtol=1e-11, atol=1e-15)


def test_statistics_summed_over_chunks_equal_all_at_once():
  features, targets = _features_and_targets(n=103, seed=4)
  features, targets = features.astype(np.float32), targets.astype(np.float32)
  gram, cross = bll.sufficient_statistics(features, targets)
  # Chunks of 32 rows, the last padded to a full chunk and masked, as the agent would over replay.
  chunk_gram, chunk_cross = 0.0, 0.0
  for start in range(0, 103, 32):
    rows = slice(start, start + 32)
    size = len(features[rows])
    padded_features = np.zeros((32, 6), np.float32)
    padded_targets = np.full((32, 3), 99.0, np.float32)  # padding must not count
    padded_features[:size], padded_targets[:size] = features[rows], targets[rows]
    statistics = bll.sufficient_statistics(padded_features, padded_targets,
                                           mask=np.arange(32) < size)
    chunk_gram, chunk_cross = chunk_gram + statistics[0], chunk_cross + statistics[1]
  np.testing.assert_allclose(chunk_gram, gram, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(chunk_cross, cross, rtol=1e-5, atol=1e-5)
  from_chunks = bll.ridge_posterior_from_statistics(chunk_gram, chunk_cross, 100.0, 1.0)
  mean, covariance = bll.ridge_posterior(features, targets, 100.0, 1.0)
  np.testing.assert_allclose(from_chunks.mean, mean, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(from_chunks.covariance, covariance, rtol=1e-5, atol=1e-9)


def test_failed_factorisation_multiplies_the_prior_precision_by_ten():
  # X^T X = [[1, 2], [2, 1]] (eigenvalues 3 and -1): P = gram + 0.5 I is indefinite; with 5 I
  # (eigenvalues 8 and 4) it factors. Then Sigma = [[6, -2], [-2, 6]] / 32.
  posterior = bll.ridge_posterior_from_statistics(jnp.array([[1.0, 2.0], [2.0, 1.0]]),
                                                  jnp.ones((2, 1)), 0.5, 1.0)
  assert int(posterior.retries) == 1 and bool(posterior.succeeded)
  np.testing.assert_allclose(posterior.prior_precision, 5.0, rtol=1e-6)
  np.testing.assert_allclose(posterior.covariance, [[6 / 32, -2 / 32], [-2 / 32, 6 / 32]],
                             rtol=1e-6)
  np.testing.assert_allclose(posterior.mean, [[0.125], [0.125]], rtol=1e-6)


def test_duplicate_large_columns_are_retried_until_float32_sees_the_prior():
  # Two identical columns of 2^9: X^T X = 2^20 [[1, 1], [1, 1]], singular, and a float32 spacing
  # of 1/8 at 2^20 rounds 2^20 + 0.004 and 2^20 + 0.04 back to 2^20: a zero pivot, an infinite
  # inverse. At 0.4 the prior survives the rounding and the factorisation is finite.
  features = jnp.full((4, 2), 2.0 ** 9, jnp.float32)
  targets = jnp.ones((4, 1), jnp.float32)
  posterior = bll.ridge_posterior_from_statistics(*bll.sufficient_statistics(features, targets),
                                                  0.004, 1.0)
  assert int(posterior.retries) == 2 and bool(posterior.succeeded)
  np.testing.assert_allclose(posterior.prior_precision, 0.4, rtol=1e-6)
  for array in posterior[:3]:
    assert np.all(np.isfinite(array))


def test_retries_are_bounded_and_a_zero_prior_never_recovers():
  features = jnp.full((4, 2), 2.0 ** 9, jnp.float32)
  statistics = bll.sufficient_statistics(features, jnp.ones((4, 1), jnp.float32))
  posterior = bll.ridge_posterior_from_statistics(*statistics, 0.0, 1.0, max_retries=3)
  assert int(posterior.retries) == 3 and not bool(posterior.succeeded)
  assert float(posterior.prior_precision) == 0.0
  no_retry = bll.ridge_posterior_from_statistics(*statistics, 0.004, 1.0, max_retries=0)
  assert int(no_retry.retries) == 0 and not bool(no_retry.succeeded)


def test_posterior_and_draw_under_jit():
  posterior = jax.jit(bll.ridge_posterior_from_statistics, static_argnames='max_retries')(
      jnp.array([[1.0, 2.0], [2.0, 1.0]]), jnp.ones((2, 1)), jnp.float32(0.5), 1.0)
  assert int(posterior.retries) == 1
  np.testing.assert_allclose(posterior.prior_precision, 5.0, rtol=1e-6)
  draw = jax.jit(bll.sample_last_layer, static_argnames='convention')
  key = jax.random.PRNGKey(0)
  for convention in bll.CONVENTIONS:
    jitted = draw(key, posterior.mean, posterior.covariance, 1e-3, convention,
                  posterior.covariance_factor)
    eager = bll.sample_last_layer(key, posterior.mean, posterior.covariance, 1e-3, convention,
                                  posterior.covariance_factor)
    assert jitted.shape == (2, 1)
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)


# METHODS.md's check: 1-D features with X^T X = 900, prior precision 100, scale 1e-3: Sigma =
# 1 / 1000, so the correct draw has sd sqrt(1e-3 / 1000) = 1e-3 and the reference's 1e-3 / 1000.
# 200k outputs of one feature are 200k independent draws.
@pytest.mark.parametrize('convention, sd', [('cholesky', 1e-3), ('reference', 1e-6)])
def test_one_dimensional_draw_sd(convention, sd):
  features = jnp.full((9, 1), 10.0)  # X^T X = 9 x 100 = 900
  posterior = bll.ridge_posterior_from_statistics(
      *bll.sufficient_statistics(features, jnp.zeros((9, 200_000))), 100.0, 1.0)
  np.testing.assert_allclose(posterior.covariance, [[1e-3]], rtol=1e-6)
  for factor in (posterior.covariance_factor, None):
    draws = bll.sample_last_layer(jax.random.PRNGKey(1), posterior.mean, posterior.covariance,
                                  1e-3, convention, factor)
    np.testing.assert_allclose(np.std(np.asarray(draws, np.float64)), sd, rtol=0.02)
    np.testing.assert_allclose(np.mean(np.asarray(draws, np.float64)), 0.0, atol=0.02 * sd)


def _three_by_three_posterior():
  gram = np.array([[2.0, 0.8, 0.3], [0.8, 1.5, -0.5], [0.3, -0.5, 1.0]])
  sigma = np.linalg.inv(gram + 0.5 * np.eye(3))
  posterior = bll.ridge_posterior_from_statistics(gram.astype(np.float32),
                                                  np.zeros((3, 200_000), np.float32), 0.5, 1.0)
  return posterior, sigma


@pytest.mark.parametrize('convention', bll.CONVENTIONS)
@pytest.mark.parametrize('use_factor', [True, False])
def test_draw_covariance_in_three_dimensions(convention, use_factor):
  posterior, sigma = _three_by_three_posterior()
  scale = 1e-3
  expected = scale * sigma if convention == 'cholesky' else (scale * sigma) @ (scale * sigma)
  assert np.abs(expected - np.diag(np.diag(expected))).max() > 0.1 * np.abs(expected).max()
  draws = bll.sample_last_layer(jax.random.PRNGKey(2), posterior.mean, posterior.covariance,
                                scale, convention,
                                posterior.covariance_factor if use_factor else None)
  empirical = np.cov(np.asarray(draws, np.float64))  # rows are the 3 weights, columns the draws
  np.testing.assert_allclose(empirical, expected, atol=0.02 * np.abs(expected).max())


def test_reference_convention_reproduces_the_reference_draw():
  # The reference: w[i] = mu[i] + randsamp[i] @ cov_i, rows i the outputs (our columns), with
  # its own scale for the reward (the last output) and for the next state.
  posterior, sigma = _three_by_three_posterior()
  rng = np.random.default_rng(5)
  mean = rng.normal(size=(3, 4))
  noise = rng.normal(size=(3, 4))
  scales = np.array([1e-3, 1e-3, 1e-3, 2e-2])
  draw = bll.last_layer_from_noise(noise, mean, posterior.covariance, scales, 'reference')
  reference = np.stack([mean.T[i] + noise.T[i] @ (scales[i] * sigma) for i in range(4)])
  np.testing.assert_allclose(draw, reference.T, rtol=1e-5, atol=1e-7)
  # 'cholesky' with the posterior's factor: mean + sqrt(c) S Z, S S^T = Sigma.
  draw = bll.last_layer_from_noise(noise, mean, posterior.covariance, scales, 'cholesky',
                                   posterior.covariance_factor)
  factor = np.asarray(posterior.covariance_factor, np.float64)
  np.testing.assert_allclose(draw, mean + np.sqrt(scales) * (factor @ noise), rtol=1e-5,
                             atol=1e-7)


def test_unknown_convention_names_the_parameter_and_the_choices():
  with pytest.raises(errors.InvalidSettingError, match="convention 'chol'.*cholesky, reference"):
    bll.sample_last_layer(jax.random.PRNGKey(0), jnp.zeros((2, 1)), jnp.eye(2), 1e-3, 'chol')
