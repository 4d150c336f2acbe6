"""DSM's kernels and MMD statistics against METHODS.md's hand-computed values, the block-wise atom
distances against one MMD per pair, and the two-level loss's properties."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline.dsm import kernels


def test_rational_quadratic_values():
  values = kernels.RationalQuadraticKernel()(jnp.array([0.0, 1.0, 4.0]))
  np.testing.assert_allclose(values, [5.0, 3.4131, 1.8355], atol=1e-4)


def test_inverse_multiquadric_values():
  np.testing.assert_allclose(kernels.InverseMultiquadricKernel()(jnp.array([0.0, 1.0])),
                             [1.0, 0.70710678], atol=1e-6)


def test_rbf_and_energy_kernels_by_hand():
  np.testing.assert_allclose(kernels.RBFKernel((1.0, 2.0))(jnp.array([2.0])),
                             [np.exp(-2.0) + np.exp(-1.0)], rtol=1e-6)
  # -||x - y||^alpha from the squared distance: 9 -> -3 (alpha 1), -(9^0.75) (alpha 1.5).
  np.testing.assert_allclose(kernels.EnergyDistanceKernel()(jnp.array([9.0, 0.0])), [-3.0, 0.0])
  np.testing.assert_allclose(kernels.EnergyDistanceKernel(1.5)(jnp.array([9.0])),
                             [-(9.0 ** 0.75)], rtol=1e-6)


def test_energy_kernel_gradient_is_finite_at_zero_distance():
  gradient = jax.grad(lambda d: kernels.EnergyDistanceKernel(1.0)(d))(0.0)
  assert np.isfinite(gradient) and gradient == 0.0


def test_mmd_u_and_v_statistics_match_methods_md():
  x = jnp.array([[0.0], [1.0]])
  y = jnp.array([[0.0], [2.0]])
  rbf = kernels.RBFKernel((1.0,))
  np.testing.assert_allclose(kernels.mmd(x, y, rbf, unbiased=True), -0.4908, atol=1e-4)
  np.testing.assert_allclose(kernels.mmd(x, y, rbf, unbiased=False), 0.3161, atol=1e-4)


def test_mmd_of_a_sample_with_itself_is_zero_as_a_v_statistic():
  x = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
  assert abs(float(kernels.mmd(x, x, kernels.RationalQuadraticKernel(), unbiased=False))) < 1e-6


def test_median_bandwidth_leaves_out_same_sample_pairs():
  x = jnp.array([[0.0], [1.0]])
  y = jnp.array([[0.0], [3.0]])
  d = lambda a, b: kernels.squared_distances(a, b)  # noqa: E731
  # Off-diagonal within: 1, 1 (x) and 9, 9 (y); between: 0, 9, 1, 4 -> median of
  # {1, 1, 9, 9, 0, 9, 1, 4} = 2.5.
  assert float(kernels.median_bandwidth(d(x, x), d(y, y), d(x, y))) == pytest.approx(2.5)
  # The adaptive MMD is the fixed one on distances divided by it.
  expected = kernels.mmd_from_distances(d(x, x) / 2.5, d(y, y) / 2.5, d(x, y) / 2.5,
                                        kernels.RBFKernel(), unbiased=True)
  np.testing.assert_allclose(kernels.mmd(x, y, kernels.RBFKernel(), adaptive_bandwidth=True),
                             expected, rtol=1e-6)


@pytest.mark.parametrize('kernel', [kernels.RationalQuadraticKernel(), kernels.RBFKernel((0.5,)),
                                    kernels.EnergyDistanceKernel(1.5)])
def test_blockwise_atom_distances_equal_one_clipped_mmd_per_pair(kernel):
  key_x, key_y = jax.random.split(jax.random.PRNGKey(1))
  xs = jax.random.normal(key_x, (4, 6, 2))
  ys = 0.5 + jax.random.normal(key_y, (3, 6, 2))
  blocks = kernels.atom_distances(xs, ys, kernel)
  assert blocks.shape == (4, 3)
  for i, j in itertools.product(range(4), range(3)):
    pair = max(float(kernels.mmd(xs[i], ys[j], kernel, unbiased=True)), 0.0)
    assert float(blocks[i, j]) == pytest.approx(pair, rel=1e-4, abs=1e-6)


def test_adaptive_atom_distances_use_each_pairs_median():
  xs = jax.random.normal(jax.random.PRNGKey(2), (3, 5, 2))
  distances = kernels.atom_distances(xs, 2.0 * xs, kernels.RBFKernel(), adaptive_bandwidth=True)
  pair = kernels.mmd(xs[1], 2.0 * xs[2], kernels.RBFKernel(), adaptive_bandwidth=True)
  assert float(distances[1, 2]) == pytest.approx(max(float(pair), 0.0), rel=1e-5, abs=1e-7)


def test_distributional_mmd_is_the_outer_v_statistic_over_inner_distances():
  key_x, key_y = jax.random.split(jax.random.PRNGKey(3))
  xs = jax.random.normal(key_x, (4, 8, 2))
  ys = 1.0 + jax.random.normal(key_y, (4, 8, 2))
  inner, outer = kernels.RationalQuadraticKernel(), kernels.InverseMultiquadricKernel()
  loss = kernels.distributional_mmd(xs, ys, inner, outer)
  dxx, dyy, dxy = (kernels.atom_distances(a, b, inner) for a, b in ((xs, xs), (ys, ys), (xs, ys)))
  # Clipped U-statistics between atoms of one distribution are often 0: the median has a floor.
  median = max(np.median(np.concatenate([np.asarray(dxx)[~np.eye(4, dtype=bool)],
                                         np.asarray(dyy)[~np.eye(4, dtype=bool)],
                                         np.asarray(dxy).ravel()])), kernels.MINIMUM_BANDWIDTH)
  imq = lambda d: 1.0 / np.sqrt(1.0 + np.asarray(d) / median)  # noqa: E731
  expected = imq(dxx).mean() + imq(dyy).mean() - 2.0 * imq(dxy).mean()
  assert float(loss) == pytest.approx(expected, rel=1e-4)
  # Identical sets of atoms are at distance zero; the loss is symmetric.
  assert abs(float(kernels.distributional_mmd(xs, xs, inner, outer))) < 1e-6
  assert float(kernels.distributional_mmd(ys, xs, inner, outer)) == pytest.approx(float(loss),
                                                                                  rel=1e-5)
