"""The optimizer factory: Dopamine's defaults unchanged, the warm-up-cosine learning rate, AdamW's
decoupled decay and gradient clipping against hand-computed numbers, and its gin wiring."""

import math

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents import dqn
from agents import optimizers


def one_update(optimizer, params, gradients, steps=1):
  """The parameters after `steps` updates with the same gradients."""
  state = optimizer.init(params)
  for _ in range(steps):
    updates, state = optimizer.update(gradients, state, params)
    params = optax.apply_updates(params, updates)
  return params


def test_the_default_is_dopamines_adam_with_the_same_state_and_numbers():
  params, gradients = jnp.array([1.0, -2.0]), jnp.array([0.3, -0.1])
  made = optimizers.create_optimizer(learning_rate=0.1)
  reference = optax.adam(0.1, b1=0.9, b2=0.999, eps=1.5e-4)
  assert jax.tree.structure(made.init(params)) == jax.tree.structure(reference.init(params))
  np.testing.assert_array_equal(one_update(made, params, gradients, steps=3),
                                one_update(reference, params, gradients, steps=3))
  assert dqn.create_optimizer is optimizers.create_optimizer  # the old import path still works


def test_warmup_cosine_learning_rate_by_hand():
  # Peak 1 after 4 warm-up steps, cosine to 0.1 at step 12: rate(k) = k / 4 for k <= 4, then
  # 0.1 + 0.9 * (1 + cos(pi * (k - 4) / 8)) / 2, and 0.1 from step 12 on.
  schedule = optimizers.learning_rate_schedule(1.0, 'warmup_cosine', warmup_steps=4,
                                               decay_steps=12, end_learning_rate=0.1)
  expected = {0: 0.0, 1: 0.25, 2: 0.5, 4: 1.0, 6: 0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2,
              8: 0.55, 12: 0.1, 30: 0.1}
  for step, rate in expected.items():
    assert float(schedule(step)) == pytest.approx(rate, abs=1e-6), step
  assert optimizers.learning_rate_schedule(0.3) == 0.3  # 'constant' is the plain number
  # Through the optimizer: SGD with a unit gradient moves the parameter by exactly the rate of
  # each update, the first update being step 0.
  sgd = optimizers.create_optimizer('sgd', learning_rate=1.0, schedule='warmup_cosine',
                                    warmup_steps=4, decay_steps=12, end_learning_rate=0.1)
  state, params, moves = sgd.init(jnp.zeros(1)), jnp.zeros(1), []
  for _ in range(9):
    updates, state = sgd.update(jnp.ones(1), state, params)
    params = optax.apply_updates(params, updates)
    moves.append(-float(updates[0]))
  steps = (0, 1, 2, 4, 6, 8)
  np.testing.assert_allclose([moves[k] for k in steps], [expected[k] for k in steps], atol=1e-6)


def test_adamw_decays_the_parameters_directly():
  # A zero gradient gives Adam a zero step; the decoupled decay still moves each parameter by
  # -learning_rate * weight_decay * parameter: 2 -> 2 - 0.1 * 0.5 * 2 = 1.9.
  adamw = optimizers.create_optimizer('adamw', learning_rate=0.1, weight_decay=0.5)
  np.testing.assert_allclose(one_update(adamw, jnp.array([2.0, -4.0]), jnp.zeros(2)),
                             [1.9, -3.8], rtol=1e-6)
  # Plain Adam leaves them where they are.
  np.testing.assert_array_equal(
      one_update(optimizers.create_optimizer('adam', learning_rate=0.1), jnp.array([2.0, -4.0]),
                 jnp.zeros(2)), [2.0, -4.0])


def test_clipping_bounds_the_gradients_global_norm():
  # Gradients (3, 4) and (12,) have global norm 13; clipped to norm 2.6 they are a fifth: SGD at
  # rate 1 moves by -(0.6, 0.8) and -2.4.
  sgd = optimizers.create_optimizer('sgd', learning_rate=1.0, max_grad_norm=2.6)
  params = {'a': jnp.zeros(2), 'b': jnp.zeros(1)}
  moved = one_update(sgd, params, {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([12.0])})
  np.testing.assert_allclose(moved['a'], [-0.6, -0.8], rtol=1e-6)
  np.testing.assert_allclose(moved['b'], [-2.4], rtol=1e-6)
  # Below the bound the gradients pass unchanged.
  loose = optimizers.create_optimizer('sgd', learning_rate=1.0, max_grad_norm=100.0)
  np.testing.assert_allclose(
      one_update(loose, params, {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([12.0])})['b'],
      [-12.0])


def test_bad_settings_are_named():
  with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
    optimizers.create_optimizer('lamb')
  with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
    optimizers.create_optimizer(schedule='step')
  with pytest.raises(ValueError, match='decay_steps > warmup_steps'):
    optimizers.create_optimizer(schedule='warmup_cosine', warmup_steps=10, decay_steps=10)
  with pytest.raises(ValueError, match='max_grad_norm must be positive'):
    optimizers.create_optimizer(max_grad_norm=0.0)


def test_gin_bindings_reach_the_factory():
  gin.clear_config()
  try:
    gin.parse_config(['import agents.optimizers', "create_optimizer.name = 'adamw'",
                      'create_optimizer.learning_rate = 0.1', 'create_optimizer.weight_decay = 0.5',
                      "create_optimizer.schedule = 'warmup_cosine'",
                      'create_optimizer.warmup_steps = 2', 'create_optimizer.decay_steps = 4'])
    # Update 0 has rate 0 in the warm-up, so AdamW's decay leaves the parameters unchanged; update
    # 1 has rate 0.05: 2 * (1 - 0.05 * 0.5) = 1.95.
    optimizer = optimizers.create_optimizer()
    np.testing.assert_allclose(one_update(optimizer, jnp.array([2.0]), jnp.zeros(1)), [2.0])
    np.testing.assert_allclose(one_update(optimizer, jnp.array([2.0]), jnp.zeros(1), steps=2),
                               [1.95], rtol=1e-6)
  finally:
    gin.clear_config()
