"""The Laplacian representation's loss (DCEO, Klissarov and Machado 2023; the generalised graph
drawing objective of Wang et al. 2021), pure, and the subspace overlap that checks what it learned.

phi maps a state to d numbers whose i-th should approximate the Laplacian's eigenvector of the
i-th smallest eigenvalue. With coefficients c = [d, d-1, ..., 1, 0] (c_d = 0 closes the list):

  positive(s, s') = sum_{i=1..d} c_i (phi_i(s) - phi_i(s'))^2       (s' a next state of s)
  negative(u, v)  = sum_{k=1..d} (c_{k-1} - c_k) [ (phi(u)[:k] . phi(v)[:k])^2
                                                   - f(||phi(u)[:k]||) - f(||phi(v)[:k]||) ]
                                                   (u, v independent states)
  loss            = mean over the batch of positive + negative

(indices from 1 for phi, c from c_0 = d: every weight c_{k-1} - c_k is 1). f takes the norm
itself, not its square, as the reference does: 'log1p' is f(x) = log(1 + x) (the reference's
default: steadier with a deep network), 'squared' is f(x) = x^2 / d (the earlier work's soft
orthonormality constraint, E[phi(u)[:k] phi(u)[:k]^T] = I / d at its minimum, and what makes a
tabular phi exact).
"""

from typing import Dict, Optional, Tuple

import jax.numpy as jnp
import numpy as np

from runner import errors

NORM_TRANSFORMS = ('log1p', 'squared')


def coefficients(dimension: int) -> jnp.ndarray:
  """c = [d, d-1, ..., 1, 0], float32 (d + 1 entries)."""
  return jnp.arange(dimension, -1, -1, dtype=jnp.float32)


def norm_transform(name: str, dimension: int):
  """f of the negative term, by name (see the module docstring)."""
  if name == 'log1p':
    return jnp.log1p
  if name == 'squared':
    return lambda norm: norm ** 2 / dimension
  raise errors.InvalidSettingError(f'unknown norm_transform {name!r}: choose one of '
                                   f'{", ".join(NORM_TRANSFORMS)}')


def positive_term(phi_state: jnp.ndarray, phi_next_state: jnp.ndarray) -> jnp.ndarray:
  """(batch,) sum_i c_i (phi_i(s) - phi_i(s'))^2 for (batch, d) representations."""
  dimension = phi_state.shape[-1]
  return jnp.sum(coefficients(dimension)[:dimension] * (phi_state - phi_next_state) ** 2, axis=-1)


def negative_term(phi_u: jnp.ndarray, phi_v: jnp.ndarray,
                  transform: str = 'log1p') -> jnp.ndarray:
  """(batch,) sum_k (c_{k-1} - c_k) [(u_k . v_k)^2 - f(|u_k|) - f(|v_k|)], u_k = phi(u)[:k]."""
  dimension = phi_u.shape[-1]
  f = norm_transform(transform, dimension)
  c = coefficients(dimension)
  weights = c[:-1] - c[1:]  # weight of prefix length k = 1..d
  # Prefix sums over the dimensions give every k's dot product and squared norm at once.
  dot_products = jnp.cumsum(phi_u * phi_v, axis=-1)
  u_norms = jnp.sqrt(jnp.cumsum(phi_u ** 2, axis=-1))
  v_norms = jnp.sqrt(jnp.cumsum(phi_v ** 2, axis=-1))
  return jnp.sum(weights * (dot_products ** 2 - f(u_norms) - f(v_norms)), axis=-1)


def laplacian_loss(phi_state: jnp.ndarray, phi_next_state: jnp.ndarray, phi_u: jnp.ndarray,
                   phi_v: jnp.ndarray, transform: str = 'log1p',
                   positive_weights: Optional[jnp.ndarray] = None,
                   ) -> Tuple[jnp.ndarray, Dict[str, jnp.ndarray]]:
  """The batch mean of positive + negative, and statistics: 'loss', 'positive_loss',
  'negative_loss' (their batch means). With `positive_weights` (batch,), the positive term's mean
  is weighted by them, sum_b w_b positive_b / sum_b w_b: an importance-weighted estimate under
  another distribution of the states s than the batch's."""
  positives = positive_term(phi_state, phi_next_state)
  if positive_weights is None:
    positive = jnp.mean(positives)
  else:
    positive = jnp.sum(positive_weights * positives) / jnp.sum(positive_weights)
  negative = jnp.mean(negative_term(phi_u, phi_v, transform))
  loss = positive + negative
  return loss, {'loss': loss, 'positive_loss': positive, 'negative_loss': negative}


def subspace_overlap(phi: np.ndarray, eigenvectors: np.ndarray, dimension: int) -> float:
  """||V_d^T Q_phi||_F^2 / d: 1 when phi's columns (states x d) span the first `dimension`
  eigenvectors' columns, 0 when they are orthogonal to them. Q_phi is an orthonormal basis of
  phi's column space (QR); V_d's columns must be orthonormal (eigh's are). A subspace, not each
  column: eigenvectors of a repeated eigenvalue, or a phi rotated within the span, score 1."""
  phi = np.asarray(phi, np.float64)
  eigenvectors = np.asarray(eigenvectors, np.float64)
  if phi.ndim != 2 or phi.shape[1] != dimension or eigenvectors.shape[0] != phi.shape[0]:
    raise errors.BadInputError(
        f'subspace_overlap needs phi of (states, {dimension}) and eigenvectors of (states, >= '
        f'{dimension}), got {phi.shape} and {eigenvectors.shape}')
  largest = min(eigenvectors.shape[1], phi.shape[0])
  if not 1 <= dimension <= largest:
    raise errors.InvalidSettingError(
        f'subspace_overlap: dimension {dimension} must be in 1..{largest}')
  basis, _ = np.linalg.qr(phi)
  projection = eigenvectors[:, :dimension].T @ basis
  return float(np.sum(projection ** 2) / dimension)
