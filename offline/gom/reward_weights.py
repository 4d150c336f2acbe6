"""GOM's reward weights: r ~ w . phi, fit in closed form by (optionally ridge) least squares.

Transfer to a new task refits w on the dataset's transitions relabelled with the new reward, with
phi the cumulants of the next state (METHODS.md, GOM); the outcome model and the readout policy are
not retrained. (The reference fits w by gradient descent on the same squared error; the closed
form is its limit, without a learning rate or a number of steps to choose.)
"""

import jax.numpy as jnp


def fit_reward_weights(features: jnp.ndarray, rewards: jnp.ndarray,
                       ridge: float = 0.0) -> jnp.ndarray:
  """argmin_w ||features w - rewards||^2 + ridge ||w||^2, for features [N, D] and rewards [N]:
  w [D]. Pure and jittable (`ridge` may be traced).

  Solved as one least-squares problem on the features stacked over sqrt(ridge) I (the ridge
  normal equations' system, without squaring the features' condition number as X^T X would) by
  an SVD (jnp.linalg.lstsq): with rank-deficient features (a duplicated or constant-zero column,
  fewer rows than columns) and no ridge it returns the minimum-norm solution, whose predictions
  are the least-squares fit's; with ridge 0 the appended rows are zeros and change nothing.
  """
  # At least float32, float64 kept where enabled.
  dtype = jnp.promote_types(jnp.asarray(features).dtype, jnp.float32)
  features = jnp.asarray(features, dtype)
  rewards = jnp.asarray(rewards, dtype).reshape(-1)
  dim = features.shape[-1]
  penalty = jnp.sqrt(jnp.asarray(ridge, features.dtype)) * jnp.eye(dim, dtype=features.dtype)
  stacked_features = jnp.concatenate([features, penalty], axis=0)
  stacked_rewards = jnp.concatenate([rewards, jnp.zeros((dim,), rewards.dtype)])
  weights, _, _, _ = jnp.linalg.lstsq(stacked_features, stacked_rewards)
  return weights
