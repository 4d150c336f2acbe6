"""Behaviour cloning's likelihoods against hand-computed values, and the action models' units."""

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest

from agents import base
from offline.bc import losses
from offline.bc import model


def test_tanh_gaussian_nll_at_the_centre_is_the_gaussian_normaliser():
  # u = 0, mean 0, std 1, unit scale: per dimension -log N(0; 0, 1) = 0.5 log(2 pi) = 0.918939,
  # and tanh's Jacobian at 0 is 1. Two dimensions: 1.837877.
  nll = losses.tanh_gaussian_nll(jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.zeros((1, 2)),
                                 jnp.zeros(2))
  np.testing.assert_allclose(nll, [1.837877], rtol=1e-6)


def test_tanh_gaussian_nll_counts_the_squash_and_the_box_scale():
  # a = tanh(1) = 0.761594 in the unit box of a Box of half-width 2; u ~ N(0.5, 0.5^2).
  # -log N(1; 0.5, 0.5) = 0.5 * 1^2 + log 0.5 + 0.5 log(2 pi) = 0.5 - 0.693147 + 0.918939
  #                     = 0.725791
  # log |d tanh / du| at 1 = log(1 - 0.761594^2) = log 0.419974 = -0.867562
  # -log p(action) = 0.725791 - 0.867562 + log 2 (0.693147) = 0.551377
  nll = losses.tanh_gaussian_nll(jnp.array([[0.5]]), jnp.log(jnp.array([[0.5]])),
                                 jnp.array([[0.761594156]]), jnp.log(jnp.array([2.0])))
  np.testing.assert_allclose(nll, [0.551377], rtol=1e-5)


def test_actions_on_the_bounds_are_clipped_inside_before_atanh():
  mean, log_std, scale = jnp.zeros((2, 1)), jnp.zeros((2, 1)), jnp.zeros(1)
  on_bounds = losses.tanh_gaussian_nll(mean, log_std, jnp.array([[1.0], [-1.0]]), scale)
  inside = losses.tanh_gaussian_nll(mean, log_std, jnp.array([[0.999], [-0.999]]), scale)
  assert np.all(np.isfinite(on_bounds))
  np.testing.assert_allclose(on_bounds, inside)
  # By hand: u = atanh(0.999) = 3.800201; 0.5 u^2 + 0.5 log(2 pi) + log(1 - 0.999^2)
  #        = 7.220764 + 0.918939 - 6.215108 = 1.924595
  np.testing.assert_allclose(inside, [1.924595, 1.924595], rtol=2e-5)


def test_categorical_nll():
  # softmax([0, log 3]) = [1/4, 3/4]; softmax([1, 2, 3])[2] = 1 / (1 + e^-1 + e^-2).
  np.testing.assert_allclose(
      losses.categorical_nll(jnp.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]]),
                             jnp.array([1, 0])),
      [-np.log(0.75), -np.log(0.25)], rtol=1e-6)
  np.testing.assert_allclose(losses.categorical_nll(jnp.array([[1.0, 2.0, 3.0]]), jnp.array([2])),
                             [0.407606], rtol=1e-5)


def test_box_actions_are_rescaled_to_the_unit_box_and_back():
  actions = model.TanhGaussianActions(gymnasium.spaces.Box(np.array([0.0, -2.0], np.float32),
                                                           np.array([4.0, 2.0], np.float32)))
  np.testing.assert_allclose(actions.dataset_actions(np.array([[0.0, 2.0], [3.0, -1.0]])),
                             [[-1.0, 1.0], [0.5, -0.5]])
  np.testing.assert_allclose(actions.to_environment(np.array([0.5, -0.5])), [3.0, -1.0])


def test_discrete_actions_are_counted_from_the_space_start():
  actions = model.CategoricalActions(gymnasium.spaces.Discrete(4, start=1))
  np.testing.assert_array_equal(actions.dataset_actions(np.array([1, 4])), [0, 3])
  assert actions.to_environment(np.int32(3)) == 4


def test_unbounded_box_actions_are_refused():
  with pytest.raises(base.IncompatibleSpaceError, match='BCLearner.*finite bounds'):
    model.action_model('BCLearner', gymnasium.spaces.Box(-np.inf, np.inf, (2,)))
