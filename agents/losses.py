"""Pure loss and target functions shared by the agents, tested against hand-computed values.

Every function is elementwise or batched over the leading axis and free of agent state, so it can be
jitted, vmapped and checked in isolation (RLax-style).
"""

import gin
import jax
import jax.numpy as jnp


def huber_loss(targets: jnp.ndarray, predictions: jnp.ndarray, delta: float = 1.0) -> jnp.ndarray:
  """Elementwise Huber loss: quadratic within `delta` of the target, linear beyond."""
  error = jnp.abs(targets - predictions)
  quadratic = jnp.minimum(error, delta)
  return 0.5 * quadratic**2 + delta * (error - quadratic)


def mse_loss(targets: jnp.ndarray, predictions: jnp.ndarray) -> jnp.ndarray:
  """Elementwise squared error (no 1/2 factor, as Dopamine's mse_loss)."""
  return (targets - predictions)**2


LOSSES = {'huber': huber_loss, 'mse': mse_loss}


def get_loss(name: str):
  """The elementwise loss called `name` ('huber' or 'mse'); a clear error for anything else."""
  if name not in LOSSES:
    raise ValueError(f'unknown loss {name!r}; choose one of {sorted(LOSSES)}')
  return LOSSES[name]


def q_learning_targets(next_q_values: jnp.ndarray, rewards: jnp.ndarray,
                       discounts: jnp.ndarray) -> jnp.ndarray:
  """Bellman targets r + discount * max_a Q(s', a), with no gradient.

  `discounts` already folds in gamma^n and termination (0 for a terminal transition), so the same
  function serves one-step and n-step transitions.
  """
  return jax.lax.stop_gradient(rewards + discounts * jnp.max(next_q_values, axis=-1))


@gin.configurable
def linearly_decaying_epsilon(decay_period: int, step: int, warmup_steps: int,
                              epsilon: float) -> float:
  """Nature-DQN exploration schedule: 1 during warm-up, then linear decay to `epsilon`."""
  steps_left = decay_period + warmup_steps - step
  bonus = (1.0 - epsilon) * steps_left / decay_period
  return epsilon + min(max(bonus, 0.0), 1.0 - epsilon)


@gin.configurable
def identity_epsilon(decay_period: int, step: int, warmup_steps: int, epsilon: float) -> float:
  """Constant exploration: always `epsilon` (Dopamine's classic-control setting)."""
  del decay_period, step, warmup_steps
  return epsilon


def categorical_projection(atoms: jnp.ndarray, probabilities: jnp.ndarray,
                           support: jnp.ndarray) -> jnp.ndarray:
  """Projects a distribution with mass `probabilities` on `atoms` onto the fixed, evenly spaced
  `support` (C51, Bellemare et al. 2017, eq. 7): each atom, clipped to [v_min, v_max], splits its
  mass between the two nearest support points in proportion to closeness.

  atoms, probabilities: (..., K_in); support: (K,). Returns (..., K) probabilities.
  """
  v_min, v_max = support[0], support[-1]
  spacing = (v_max - v_min) / (support.shape[0] - 1)
  clipped = jnp.clip(atoms, v_min, v_max)
  # weight[..., j, i]: the share of input atom i that lands on support point j.
  weight = jnp.clip(1.0 - jnp.abs(clipped[..., None, :] - support[:, None]) / spacing, 0.0, 1.0)
  return jnp.sum(weight * probabilities[..., None, :], axis=-1)


def softmax_cross_entropy(target_probabilities: jnp.ndarray, logits: jnp.ndarray) -> jnp.ndarray:
  """-sum_i p_i log softmax(logits)_i over the last axis (the C51 loss), no gradient to targets."""
  target_probabilities = jax.lax.stop_gradient(target_probabilities)
  return -jnp.sum(target_probabilities * jax.nn.log_softmax(logits, axis=-1), axis=-1)


@gin.configurable
def zero_epsilon(decay_period: int, step: int, warmup_steps: int, epsilon: float) -> float:
  """No epsilon-greedy exploration in training (noisy networks explore instead)."""
  del decay_period, step, warmup_steps, epsilon
  return 0.0
