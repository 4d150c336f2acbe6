"""PSDRL's Bayesian last layer (posterior sampling for deep RL, Sasso et al. 2023), pure: the
ridge-regression posterior of the transition model's last layer and a draw from it.

X (n, k) holds the penultimate features of the transition model for every transition in replay
(k = 2292 there), Y (n, m) the targets (the next latent state and the reward, m = 1537). With
noise precision 1 / sigma^2 and prior precision 1 / sigma_p^2 (METHODS.md):

  Sigma = (X^T X / sigma^2 + I / sigma_p^2)^-1         (k, k), shared by every output
  mu_i  = Sigma X^T y_i / sigma^2                      (column i of the (k, m) mean)

The reference uses noise precision 1 and prior precision 100 (ridge regression with alpha = 100:
mu = solve(X^T X + 100 I, X^T y)), scales the covariance by 1e-3 when it draws, and when the
Cholesky factorisation of the precision fails multiplies the prior precision by 10 and tries
again. Everything here works from the sufficient statistics (X^T X, X^T Y), which a caller may
sum over replay in chunks: 100k transitions x 2292 features need not be held at once.

Draws. The reference draws each output's weights as w_i = mu_i + z_i @ (c Sigma), z_i standard
normal, c the scale, whose covariance is (c Sigma)^2, not c Sigma. The default 'cholesky'
convention draws w_i = mu_i + sqrt(c) S z_i for any S with S S^T = Sigma (the Cholesky factor of
Sigma, or the one the posterior already has, below), whose covariance is c Sigma; 'reference'
reproduces the reference's draw. In one dimension with X^T X = 900, prior precision 100 and
c = 1e-3: Sigma = 1e-3, so a 'cholesky' draw has sd sqrt(1e-6) = 1e-3 and a 'reference' draw
sd 1e-6.

Where the square root of Sigma lives. The posterior factors the precision P = C C^T (C lower
triangular) once; S = C^-T (upper triangular, one triangular solve) satisfies S S^T = P^-1 =
Sigma, so the posterior returns it as `covariance_factor` and computes Sigma itself as S S^T.
Handing that factor to the draw spares a second factorisation of Sigma and, more to the point,
its failure: Sigma is as ill-conditioned as P, and its own float32 Cholesky can fail where P's
succeeded. S is not chol(Sigma) (which is lower triangular), but every S with S S^T = Sigma
gives a draw of the same distribution; without a factor the draw factors Sigma itself.
"""

from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy import linalg as jsp_linalg

from runner import errors

# The reference's values (METHODS.md).
PRIOR_PRECISION = 100.0
NOISE_PRECISION = 1.0
COVARIANCE_SCALE = 1e-3
PRIOR_PRECISION_GROWTH = 10.0
MAX_RETRIES = 5

CONVENTIONS = ('cholesky', 'reference')

# The Gram matrix and the draws must not be computed in TF32 on a GPU: its 10-bit mantissa would
# cost the posterior far more accuracy than the float32 factorisation does.
_PRECISION = lax.Precision.HIGHEST


class Posterior(NamedTuple):
  """The posterior of the last layer, and how its factorisation went.

  mean: (k, m), column i the posterior mean of output i's weights.
  covariance: (k, k) Sigma, every output's (unscaled) posterior covariance.
  covariance_factor: (k, k) upper-triangular S with S S^T = Sigma (see the module docstring).
  prior_precision: the prior precision finally used (the one asked for times 10^retries).
  retries: how many times the factorisation failed and was tried again with 10 x the prior.
  succeeded: False when it still failed after the last retry: then the arrays hold NaN or inf.
  """
  mean: jnp.ndarray
  covariance: jnp.ndarray
  covariance_factor: jnp.ndarray
  prior_precision: jnp.ndarray
  retries: jnp.ndarray
  succeeded: jnp.ndarray


def _float_dtype(array: jnp.ndarray):
  """float32 for integer and half-precision inputs, float64 kept when x64 is enabled."""
  return jnp.promote_types(jnp.asarray(array).dtype, jnp.float32)


def sufficient_statistics(features: jnp.ndarray, targets: jnp.ndarray,
                          mask: Optional[jnp.ndarray] = None) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """(gram, cross) = (X^T X (k, k), X^T Y (k, m)) for features X (n, k) and targets Y (n, m).

  Statistics of disjoint chunks of rows add up to those of all the rows, so the agent can sum
  them over replay chunk by chunk. mask (n,), 1 for rows that count and 0 for padding, lets every
  chunk have one shape (one compilation) however many transitions the last one holds.
  """
  dtype = _float_dtype(features)
  features = jnp.asarray(features, dtype)
  targets = jnp.asarray(targets, dtype)
  weighted = features if mask is None else features * jnp.asarray(mask, dtype)[:, None]
  gram = jnp.matmul(weighted.T, features, precision=_PRECISION)
  cross = jnp.matmul(weighted.T, targets, precision=_PRECISION)
  return gram, cross


def _factor(precision_matrix: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
  """(C, S, ok): the lower Cholesky factor C of the precision, S = C^-T, and whether both are
  finite. JAX's cholesky returns NaN where LAPACK / cuSOLVER fail; a zero pivot instead leaves C
  finite and S infinite, and the reference too retries when its inverse holds NaN."""
  cholesky = jnp.linalg.cholesky(precision_matrix)
  identity = jnp.eye(precision_matrix.shape[0], dtype=precision_matrix.dtype)
  factor = jsp_linalg.solve_triangular(cholesky, identity, lower=True).T
  ok = jnp.all(jnp.isfinite(cholesky)) & jnp.all(jnp.isfinite(factor))
  return cholesky, factor, ok


def ridge_posterior_from_statistics(gram: jnp.ndarray, cross: jnp.ndarray,
                                    prior_precision=PRIOR_PRECISION,
                                    noise_precision=NOISE_PRECISION,
                                    max_retries: int = MAX_RETRIES) -> Posterior:
  """The posterior from the sufficient statistics gram = X^T X (k, k) and cross = X^T Y (k, m).

  P = noise_precision gram + prior_precision I; Sigma = P^-1; mean = Sigma noise_precision cross.
  When P's Cholesky factorisation fails (not positive definite in floating point: singular or
  badly scaled features), the prior precision is multiplied by 10 and P factored again, at most
  max_retries times (a jax.lax.while_loop: jittable, prior_precision may be traced). A prior
  precision of 0 stays 0 and never recovers: the reference starts from 100.
  """
  dtype = _float_dtype(gram)
  gram = jnp.asarray(gram, dtype)
  cross = jnp.asarray(cross, dtype)
  noise_precision = jnp.asarray(noise_precision, dtype)
  identity = jnp.eye(gram.shape[0], dtype=dtype)
  scaled_gram = noise_precision * gram

  def attempt(prior):
    return _factor(scaled_gram + prior * identity)

  def retry_wanted(state):
    _, retries, _, _, ok = state
    return ~ok & (retries < max_retries)

  def retry(state):
    prior, retries, _, _, _ = state
    prior = prior * PRIOR_PRECISION_GROWTH
    return (prior, retries + 1) + attempt(prior)

  prior = jnp.asarray(prior_precision, dtype)
  initial = (prior, jnp.asarray(0, jnp.int32)) + attempt(prior)
  prior, retries, cholesky, factor, ok = lax.while_loop(retry_wanted, retry, initial)

  # Triangular solves against P itself rather than a product with Sigma: the mean is the ridge
  # solution and should be as accurate as a direct solve.
  mean = jsp_linalg.cho_solve((cholesky, True), noise_precision * cross)
  covariance = jnp.matmul(factor, factor.T, precision=_PRECISION)
  return Posterior(mean=mean, covariance=covariance, covariance_factor=factor,
                   prior_precision=prior, retries=retries, succeeded=ok)


def ridge_posterior(features: jnp.ndarray, targets: jnp.ndarray,
                    prior_precision=PRIOR_PRECISION,
                    noise_precision=NOISE_PRECISION) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """(mean (k, m), covariance (k, k)) of the last layer for features X (n, k), targets Y (n, m):
  ridge_posterior_from_statistics of all the rows at once, with its Cholesky fallback. Use that
  function for the factor, the prior precision used, or statistics summed over chunks."""
  posterior = ridge_posterior_from_statistics(*sufficient_statistics(features, targets),
                                              prior_precision, noise_precision)
  return posterior.mean, posterior.covariance


def check_convention(convention: str) -> str:
  """`convention` if it is one of CONVENTIONS, else InvalidSettingError naming the choices."""
  if convention not in CONVENTIONS:
    raise errors.InvalidSettingError(f'unknown convention {convention!r}: choose one of '
                                     f'{", ".join(CONVENTIONS)}')
  return convention


def last_layer_from_noise(noise: jnp.ndarray, mean: jnp.ndarray, covariance: jnp.ndarray,
                          scale=COVARIANCE_SCALE, convention: str = 'cholesky',
                          covariance_factor: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """The draw W (k, m) that standard normal noise Z (k, m) gives (sample_last_layer's map).

  scale: c, a scalar or one per output (m,) (the reference scales the reward's covariance with
  its own prior, the next state's with another).
  'cholesky': W = mean + sqrt(c) S Z, S = covariance_factor or else chol(covariance): column i
  has covariance c_i Sigma.
  'reference': W = mean + c Sigma Z, the reference's w_i = mu_i + z_i @ (c_i Sigma) with z_i
  column i of Z (Sigma is symmetric): covariance (c_i Sigma)^2.
  """
  check_convention(convention)
  dtype = _float_dtype(mean)
  mean = jnp.asarray(mean, dtype)
  covariance = jnp.asarray(covariance, dtype)
  noise = jnp.asarray(noise, dtype)
  scale = jnp.asarray(scale, dtype)  # () or (m,): broadcasts over the columns
  if convention == 'reference':
    return mean + scale * jnp.matmul(covariance, noise, precision=_PRECISION)
  if covariance_factor is None:
    covariance_factor = jnp.linalg.cholesky(covariance)
  covariance_factor = jnp.asarray(covariance_factor, dtype)
  return mean + jnp.sqrt(scale) * jnp.matmul(covariance_factor, noise, precision=_PRECISION)


def sample_last_layer(key: jax.Array, mean: jnp.ndarray, covariance: jnp.ndarray,
                      scale=COVARIANCE_SCALE, convention: str = 'cholesky',
                      covariance_factor: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """A draw W (k, m) of the last layer: last_layer_from_noise with Z standard normal (k, m),
  every output's column independent. Pass the posterior's covariance_factor with 'cholesky' to
  skip factoring the covariance again; convention is static under jax.jit."""
  check_convention(convention)
  noise = jax.random.normal(key, jnp.shape(mean), _float_dtype(mean))
  return last_layer_from_noise(noise, mean, covariance, scale, convention, covariance_factor)
