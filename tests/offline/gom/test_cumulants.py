"""GOM's random Fourier cumulants: shapes, the constant, the range, sin^2 + cos^2 = 1, seeding,
jit, each feature its own network, and the documented spread of f."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline.gom import cumulants

# Compiled once per state size and shared by the tests: eager dispatch would dominate their time.
CUMULANTS = jax.jit(cumulants.cumulants)
FEATURES = jax.jit(cumulants.random_features)


@functools.lru_cache(maxsize=None)
def _params(state_dim, seed=0, bias_stddev=0.0):
  return cumulants.init_cumulants(jax.random.PRNGKey(seed), state_dim, bias_stddev=bias_stddev)


def _states(state_dim, num_rows=64, seed=1, scale=3.0):
  return scale * np.random.default_rng(seed).normal(size=(num_rows, state_dim)).astype(np.float32)


@pytest.mark.parametrize('state_dim', [2, 4])
def test_shape_constant_range_and_unit_circle(state_dim):
  states = _states(state_dim)
  phi = np.asarray(CUMULANTS(_params(state_dim), states))
  assert cumulants.cumulant_dim(64) == 129
  assert phi.shape == (64, 129)
  np.testing.assert_array_equal(phi[:, -1], 1.0)
  assert np.all(np.abs(phi) <= 1.0)
  np.testing.assert_allclose(phi[:, :64] ** 2 + phi[:, 64:128] ** 2, 1.0, atol=1e-6)
  features = np.asarray(FEATURES(_params(state_dim), states))
  np.testing.assert_allclose(phi[:, :64], np.sin(features), atol=1e-6)
  np.testing.assert_allclose(phi[:, 64:128], np.cos(features), atol=1e-6)


def test_parameter_shapes_follow_the_arguments():
  init = functools.partial(cumulants.init_cumulants, state_dim=3, num_features=5,
                           hidden_sizes=(7,))
  params = jax.eval_shape(init, jax.random.PRNGKey(0))
  shapes = jax.tree_util.tree_map(lambda leaf: leaf.shape, params)
  assert shapes == {'hidden_0': {'kernel': (5, 3, 7), 'bias': (5, 7)},
                    'output': {'kernel': (5, 7, 1), 'bias': (5, 1)}}
  phi = jax.eval_shape(cumulants.cumulants, params, jnp.zeros((6, 3)))
  assert phi.shape == (6, cumulants.cumulant_dim(5))


def test_same_seed_same_cumulants_other_seed_others():
  states = _states(2)
  first = _params(2)
  again = cumulants.init_cumulants(jax.random.PRNGKey(0), 2)
  other = _params(2, seed=1)
  jax.tree_util.tree_map(np.testing.assert_array_equal, first, again)
  np.testing.assert_array_equal(CUMULANTS(first, states), CUMULANTS(again, states))
  assert not np.allclose(CUMULANTS(first, states), CUMULANTS(other, states))


def test_jit_equals_no_jit_and_leading_axes():
  params = _params(4)
  states = _states(4)
  compiled = np.asarray(CUMULANTS(params, states))
  np.testing.assert_allclose(cumulants.cumulants(params, states), compiled, atol=1e-6)
  np.testing.assert_allclose(CUMULANTS(params, states.reshape(8, 8, 4)),
                             compiled.reshape(8, 8, 129), atol=1e-6)


def test_each_feature_is_its_own_network():
  """Feature k of the stacked evaluation is network k alone, in float64 numpy."""
  params = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf, np.float64), _params(2))
  states = _states(2)
  features = np.asarray(FEATURES(_params(2), states))
  for k in (0, 37, 63):
    layer = lambda name, x: x @ params[name]['kernel'][k] + params[name]['bias'][k]
    hidden = np.maximum(layer('hidden_0', states), 0)
    hidden = np.maximum(layer('hidden_1', hidden), 0)
    np.testing.assert_allclose(features[:, k], layer('output', hidden)[:, 0], rtol=1e-5,
                               atol=1e-5)


def test_spread_of_f_is_half_the_states_rms_and_homogeneous():
  """The module docstring's claim: std f(s) ~ rms(s) / 2 with zero biases, f(2 s) = 2 f(s)."""
  states = _states(4, num_rows=1000, scale=3.0)
  features = np.asarray(FEATURES(_params(4), states))
  assert 0.75 * 1.5 < features.std() < 1.25 * 1.5
  np.testing.assert_allclose(FEATURES(_params(4), 2.0 * states), 2.0 * features, rtol=1e-4,
                             atol=1e-4)
  # Normal biases move f(0) off zero.
  zero = np.zeros((1, 4), np.float32)
  np.testing.assert_array_equal(FEATURES(_params(4), zero), 0.0)
  assert np.abs(FEATURES(_params(4, bias_stddev=1.0), zero)).max() > 0.1


def test_bounds():
  low, high = cumulants.cumulant_bounds(64)
  assert low.shape == high.shape == (129,)
  np.testing.assert_array_equal(low[:128], -1.0)
  np.testing.assert_array_equal(high, 1.0)
  assert low[-1] == 0.0
