"""The covering eigenoptions' reward (DCEO, agents/dceo.py), as pure functions.

Option o follows eigenfunction e = option_eigenfunctions[o] of a Laplacian representation phi
(optionally turned by an orthogonal R, `option_alignment = 'procrustes'`) and is rewarded for
climbing it:

  reward(s, s') = scale * (f_e(s') - f_e(s)) / sqrt(m_e),   f = phi @ R

with m_e = 1 in the reference. `normalize_option_reward` sets m_e to a running estimate of
E[f_e^2] over the states phi's own objective weighs (`running_mean_square`): then every option's
reward is that of a function with a unit mean square, the scale the Laplacian's eigenvectors are
normalised to (and the visited-cells oracle's functions have), whatever scale a learned phi
settles at (a log1p phi's mean square is near 0.16 on the grid worlds: benchmarks/RESULTS.md).

`procrustes_rotation` is the host-side fit that holds phi @ R to its values at the last fit.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

# Keeps the reward finite for a function that is (still) zero over the states seen.
MEAN_SQUARE_FLOOR = 1e-8


def default_eigenfunctions(num_options: int, follow_constant_eigenfunction: bool) -> tuple:
  """Indices 1..num_options (METHODS.md), or the reference's 0..num_options - 1, whose first
  option follows the eigenfunction that should be constant."""
  first = 0 if follow_constant_eigenfunction else 1
  return tuple(range(first, first + num_options))


def running_mean_square(previous: jnp.ndarray, updates: jnp.ndarray, values: jnp.ndarray,
                        weights: Optional[jnp.ndarray], decay: float) -> jnp.ndarray:
  """The new running estimate of each function's mean square, (d,): the batch's own (weighted)
  mean of values ** 2 over its rows at the first update (`updates` == 0), afterwards
  decay * previous + (1 - decay) * the batch's. `values` is (batch, d); `weights` (batch,) or None
  (all alike), normalised here."""
  squares = values ** 2
  if weights is None:
    batch_mean_square = jnp.mean(squares, axis=0)
  else:
    batch_mean_square = weights @ squares / jnp.sum(weights)
  return jnp.where(updates == 0, batch_mean_square,
                   decay * previous + (1.0 - decay) * batch_mean_square)


def intrinsic_reward(phi_state: jnp.ndarray, phi_next: jnp.ndarray, eigenfunction: jnp.ndarray,
                     scale: float = 1.0, rotation: Optional[jnp.ndarray] = None,
                     mean_square: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """The option's reward per transition (the module docstring), with no gradient into phi.
  phi_state, phi_next: (batch, d); eigenfunction: the followed column's index (traced or not);
  rotation: R, (d, d), or None (identity); mean_square: (d,), or None (no normalisation)."""
  if rotation is not None:
    phi_state, phi_next = phi_state @ rotation, phi_next @ rotation
  reward = phi_next[:, eigenfunction] - phi_state[:, eigenfunction]
  if mean_square is not None:
    reward = reward * jax.lax.rsqrt(jnp.maximum(mean_square[eigenfunction], MEAN_SQUARE_FLOOR))
  return scale * jax.lax.stop_gradient(reward)


def procrustes_rotation(current_values: np.ndarray, anchor_values: np.ndarray) -> np.ndarray:
  """The orthogonal R that brings phi's values now on the last fit's states nearest the values
  then, argmin ||current_values @ R - anchor_values||_F: U V^T from the SVD of
  current_values^T anchor_values (both (states, d))."""
  left, _, right = np.linalg.svd(np.asarray(current_values, np.float64).T
                                 @ np.asarray(anchor_values, np.float64))
  return left @ right
