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

`allo_loss` is the other objective, the augmented Lagrangian Laplacian objective (ALLO; Gomez,
Bowling and Machado 2024, "Proper Laplacian Representation Learning", which the DCEO reference's
README recommends as more robust). With <f, g> = E_u[f(u) g(u)] over the state distribution and
[[.]] a stop-gradient:

  graph drawing   = E_(s, s') sum_i (phi_i(s) - phi_i(s'))^2
  constraint j, k = <phi_j, [[phi_k]]> - delta_jk                  (k <= j: the lower triangle)
  loss            = graph drawing + sum_{k <= j} [[beta_jk]] constraint_jk
                    + barrier * sum_{k <= j} constraint_jk^2

minimised over phi while the duals beta climb their gradient, beta += rate * constraint
(`allo_dual_step`). The stop-gradients make function j answer only to the functions before it, so
the stable equilibrium is each eigenvector on its own, in order, not a rotation of them; and no
norm transform or coefficient needs tuning. Each constraint's inner product is estimated twice,
on the u states and on the v states: the dual term takes their mean and the barrier their product,
an unbiased estimate of the square. At the equilibrium beta_jj = -4 lambda_j of the walk's I - P
for one-step pairs (the grid worlds' -lambda_j of L = D - A, `allo_eigenvalues`).
"""

from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from runner import errors

NORM_TRANSFORMS = ('log1p', 'squared')
OBJECTIVES = ('generalized', 'allo')


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


class Objective(NamedTuple):
  """Which loss phi minimises and its settings: `name` one of OBJECTIVES, `norm_transform` the
  generalised loss's f, ALLO's `barrier` and `dual_learning_rate`."""
  name: str = 'generalized'
  norm_transform: str = 'log1p'
  barrier: float = 2.0
  dual_learning_rate: float = 1e-2

  def checked(self, owner: str, dimension: int) -> 'Objective':
    """Itself, or InvalidSettingError naming `owner` and the unknown objective or transform."""
    if self.name not in OBJECTIVES:
      raise errors.InvalidSettingError(f'{owner}: unknown representation objective '
                                       f'{self.name!r}: choose one of {", ".join(OBJECTIVES)}')
    norm_transform(self.norm_transform, dimension)
    return self

  def loss(self, phi_state: jnp.ndarray, phi_next_state: jnp.ndarray, phi_u: jnp.ndarray,
           phi_v: jnp.ndarray, duals: Optional[jnp.ndarray],
           positive_weights: Optional[jnp.ndarray] = None):
    """(loss, statistics, constraint estimate): laplacian_loss's (no constraints: None) or
    allo_loss's under `duals`."""
    if self.name == 'allo':
      return allo_loss(phi_state, phi_next_state, phi_u, phi_v, duals, self.barrier,
                       positive_weights)
    loss, statistics = laplacian_loss(phi_state, phi_next_state, phi_u, phi_v,
                                      self.norm_transform, positive_weights)
    return loss, statistics, None

  def step(self, loss_fn: Callable[[Any], Tuple[jnp.ndarray, Tuple[Any, Any]]],
           optimizer: optax.GradientTransformation, params: Any, optimizer_state: Any,
           duals: Optional[jnp.ndarray]):
    """One optimizer step of phi on `loss_fn(params) -> (loss, (aux, constraints))` (its
    constraints `loss`'s third value), then ALLO's dual step on them. Returns (params,
    optimizer_state, duals, loss, aux)."""
    (loss, (aux, constraints)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, optimizer_state = optimizer.update(gradients, optimizer_state, params)
    if self.name == 'allo':
      duals = allo_dual_step(duals, constraints, self.dual_learning_rate)
    return optax.apply_updates(params, updates), optimizer_state, duals, loss, aux


def _constraint_errors(phi: jnp.ndarray) -> jnp.ndarray:
  """(d, d) lower triangle of <phi_j, [[phi_k]]> - delta_jk, estimated over the batch's rows."""
  inner = phi.T @ jax.lax.stop_gradient(phi) / phi.shape[0]
  return jnp.tril(inner - jnp.eye(phi.shape[-1], dtype=phi.dtype))


def allo_loss(phi_state: jnp.ndarray, phi_next_state: jnp.ndarray, phi_u: jnp.ndarray,
              phi_v: jnp.ndarray, duals: jnp.ndarray, barrier: float,
              positive_weights: Optional[jnp.ndarray] = None,
              ) -> Tuple[jnp.ndarray, Dict[str, jnp.ndarray], jnp.ndarray]:
  """ALLO's loss (the module docstring) for (batch, d) representations and (d, d) duals, its
  statistics ('loss', 'positive_loss' the graph drawing term, 'negative_loss' the constraints'
  terms, 'constraint_error' the squared constraints' sum) and the (d, d) lower-triangular
  constraint estimate, gradient-free, for `allo_dual_step`. `positive_weights` as in
  laplacian_loss."""
  drawn = jnp.sum((phi_state - phi_next_state) ** 2, axis=-1)
  if positive_weights is None:
    graph = jnp.mean(drawn)
  else:
    graph = jnp.sum(positive_weights * drawn) / jnp.sum(positive_weights)
  errors_u, errors_v = _constraint_errors(phi_u), _constraint_errors(phi_v)
  constraints = (jnp.sum(jax.lax.stop_gradient(duals) * (errors_u + errors_v) / 2)
                 + barrier * jnp.sum(errors_u * errors_v))
  loss = graph + constraints
  estimate = jax.lax.stop_gradient((errors_u + errors_v) / 2)
  return loss, {'loss': loss, 'positive_loss': graph, 'negative_loss': constraints,
                'constraint_error': jnp.sum(estimate ** 2)}, estimate


def allo_dual_step(duals: jnp.ndarray, constraint_estimate: jnp.ndarray,
                   learning_rate: float) -> jnp.ndarray:
  """The duals' gradient ascent step: beta + rate * constraint, kept lower triangular."""
  return jnp.tril(duals + learning_rate * constraint_estimate)


def allo_eigenvalues(duals: jnp.ndarray) -> jnp.ndarray:
  """The eigenvalues ALLO's duals estimate, -diag(beta) / 4, of the walk's I - P for one-step pairs
  (multiply by 4 for a grid world's L = D - A, whose walk has I - P = L / 4)."""
  return -jnp.diagonal(duals) / 4


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
