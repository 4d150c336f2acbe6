"""Kernels and maximum mean discrepancies for DSM's two-level distributional loss (METHODS.md, DSM).

A delta-model's atoms are distributions over states, each represented by samples. Its loss compares
two *sets of atoms* (the model's and the bootstrapped targets'):

  inner: MMD^2 between two atoms, a U-statistic over their samples (clipped at 0: the U-statistic
         is unbiased, so it can be negative), with a state kernel (rational quadratic by default)
         on the samples or on their discriminator embeddings;
  outer: MMD^2 between the two sets of atoms, a V-statistic whose kernel (inverse multiquadric by
         default) takes the inner MMD^2 between atoms as its squared distance, divided by the
         median of all the pairwise inner distances (the adaptive bandwidth).

Every kernel here is a function of a *squared* distance (for the energy distance, its power
||x - y||^alpha is taken from the squared distance), so the pairwise matrices are computed once
and shared. Kernels are frozen dataclasses: hashable, so a jitted function can take one as a
static argument, and gin-configurable, so a gin file picks the variant (`@RBFKernel()` with
`adaptive_bandwidth` for the reference's median-heuristic variant, `@EnergyDistanceKernel()` for
its energy-distance variant).
"""

import dataclasses
from typing import Tuple

import gin
import jax
import jax.numpy as jnp

# The median bandwidth's floor: a batch of identical samples would otherwise divide by zero.
MINIMUM_BANDWIDTH = 1e-6


def squared_distances(x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
  """[n, m] squared Euclidean distances between the rows of x [n, d] and y [m, d], as
  ||x||^2 + ||y||^2 - 2 x.y (one matmul: the differences would hold n x m x d numbers, gigabytes
  for DSM's 1632 x 1632 samples per window), clipped at 0 where rounding makes it negative."""
  cross = jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)
  squared = jnp.sum(jnp.square(x), axis=-1)[:, None] + jnp.sum(jnp.square(y), axis=-1)[None, :]
  return jnp.maximum(squared - 2.0 * cross, 0.0)


def _power(value: jnp.ndarray, exponent: float) -> jnp.ndarray:
  """value ** exponent for value > 0, by multiplications for a whole exponent and a square root for
  +-1/2: a float power is an exp and a log per element, and DSM's kernels take millions of them
  per window (the reference's bandwidths 0.5, 1, 2 and 5 need none)."""
  exponent = float(exponent)
  if exponent.is_integer():
    return jax.lax.integer_pow(value, int(exponent))
  if exponent == 0.5:
    return jnp.sqrt(value)
  if exponent == -0.5:
    return jax.lax.rsqrt(value)
  return value ** exponent


def _safe_power(value: jnp.ndarray, exponent: float) -> jnp.ndarray:
  """value ** exponent for value >= 0, with gradient 0 (not inf or NaN) at value = 0."""
  positive = value > 0
  return jnp.where(positive, _power(jnp.where(positive, value, 1.0), exponent), 0.0)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RationalQuadraticKernel:
  """k = sum_b (1 + d2 / (2 b))^-b over the bandwidths b (d2: the squared distance)."""
  bandwidths: Tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)

  def __call__(self, squared_distance: jnp.ndarray) -> jnp.ndarray:
    return sum(_power(1.0 + squared_distance / (2.0 * b), -b) for b in self.bandwidths)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RBFKernel:
  """k = sum_b exp(-d2 / b): the Gaussian kernel, whose bandwidths divide the squared distance."""
  bandwidths: Tuple[float, ...] = (1.0,)

  def __call__(self, squared_distance: jnp.ndarray) -> jnp.ndarray:
    return sum(jnp.exp(-squared_distance / b) for b in self.bandwidths)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class InverseMultiquadricKernel:
  """k = sum_b (1 + d2 / b)^-1/2 (DSM's outer kernel, b = 1)."""
  bandwidths: Tuple[float, ...] = (1.0,)

  def __call__(self, squared_distance: jnp.ndarray) -> jnp.ndarray:
    return sum(jax.lax.rsqrt(1.0 + squared_distance / b) for b in self.bandwidths)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EnergyDistanceKernel:
  """k = -||x - y||^alpha: its MMD^2 is the energy distance (alpha in (0, 2))."""
  alpha: float = 1.0

  def __call__(self, squared_distance: jnp.ndarray) -> jnp.ndarray:
    return -_safe_power(squared_distance, self.alpha / 2.0)


def median_bandwidth(dxx: jnp.ndarray, dyy: jnp.ndarray, dxy: jnp.ndarray) -> jnp.ndarray:
  """The median of the distances between distinct samples (the diagonals of dxx and dyy left
  out), at least MINIMUM_BANDWIDTH; no gradient flows through it."""
  def off_diagonal(matrix):
    return jnp.where(jnp.eye(matrix.shape[0], dtype=bool), jnp.nan, matrix).ravel()
  values = jnp.concatenate([off_diagonal(dxx), off_diagonal(dyy), dxy.ravel()])
  return jax.lax.stop_gradient(jnp.maximum(jnp.nanmedian(values), MINIMUM_BANDWIDTH))


def mmd_from_distances(dxx: jnp.ndarray, dyy: jnp.ndarray, dxy: jnp.ndarray, kernel,
                       unbiased: bool, adaptive_bandwidth: bool = False) -> jnp.ndarray:
  """MMD^2 from the pairwise squared distances within x (dxx), within y (dyy) and between them:
  the U-statistic (`unbiased`: same-sample pairs left out of the within-set means) or the
  V-statistic; with `adaptive_bandwidth`, the distances are first divided by their median."""
  if adaptive_bandwidth:
    bandwidth = median_bandwidth(dxx, dyy, dxy)
    dxx, dyy, dxy = dxx / bandwidth, dyy / bandwidth, dxy / bandwidth
  kxx, kyy, kxy = kernel(dxx), kernel(dyy), kernel(dxy)
  n, m = dxx.shape[0], dyy.shape[0]
  if unbiased:
    within_x = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
    within_y = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
  else:
    within_x, within_y = jnp.mean(kxx), jnp.mean(kyy)
  return within_x + within_y - 2.0 * jnp.mean(kxy)


def mmd(x: jnp.ndarray, y: jnp.ndarray, kernel, unbiased: bool = True,
        adaptive_bandwidth: bool = False) -> jnp.ndarray:
  """MMD^2 between the samples x [n, d] and y [m, d] (see mmd_from_distances)."""
  return mmd_from_distances(squared_distances(x, x), squared_distances(y, y),
                            squared_distances(x, y), kernel, unbiased, adaptive_bandwidth)


def atom_distances(xs: jnp.ndarray, ys: jnp.ndarray, kernel,
                   adaptive_bandwidth: bool = False) -> jnp.ndarray:
  """[a, b] matrix of the inner distance between atom i of xs [a, n, d] and atom j of ys [b, n, d]:
  their MMD^2 U-statistic under `kernel`, clipped at 0.

  With a fixed bandwidth, one Gram matrix over all the samples serves every pair of atoms (each
  atom's within-sample mean once, the cross means by blocks), three times cheaper than an MMD per
  pair. The median bandwidth differs per pair, so `adaptive_bandwidth` computes each pair's MMD
  on its own.
  """
  if adaptive_bandwidth:
    pair = lambda x, y: mmd(x, y, kernel, unbiased=True, adaptive_bandwidth=True)  # noqa: E731
    values = jax.vmap(lambda x: jax.vmap(lambda y: pair(x, y))(ys))(xs)
    return jnp.maximum(values, 0.0)
  num_x, samples, dim = xs.shape
  num_y = ys.shape[0]

  def within(atoms):  # U-statistic mean of k over distinct samples of the same atom: [atoms]
    gram = kernel(jax.vmap(lambda atom: squared_distances(atom, atom))(atoms))
    diagonal = jnp.trace(gram, axis1=1, axis2=2)
    return (jnp.sum(gram, axis=(1, 2)) - diagonal) / (samples * (samples - 1))

  cross = kernel(squared_distances(xs.reshape(-1, dim), ys.reshape(-1, dim)))
  cross = jnp.mean(cross.reshape(num_x, samples, num_y, samples), axis=(1, 3))
  values = within(xs)[:, None] + within(ys)[None, :] - 2.0 * cross
  return jnp.maximum(values, 0.0)


def distributional_mmd(xs: jnp.ndarray, ys: jnp.ndarray, inner_kernel, outer_kernel,
                       inner_adaptive_bandwidth: bool = False,
                       outer_adaptive_bandwidth: bool = True) -> jnp.ndarray:
  """DSM's two-level loss between two sets of atoms xs [a, n, d] and ys [b, n, d]: the outer MMD^2
  V-statistic whose squared distance between atoms is their clipped inner MMD^2 (atom_distances),
  divided by its median when `outer_adaptive_bandwidth` (the reference's default)."""
  dxx = atom_distances(xs, xs, inner_kernel, inner_adaptive_bandwidth)
  dyy = atom_distances(ys, ys, inner_kernel, inner_adaptive_bandwidth)
  dxy = atom_distances(xs, ys, inner_kernel, inner_adaptive_bandwidth)
  return mmd_from_distances(dxx, dyy, dxy, outer_kernel, unbiased=False,
                            adaptive_bandwidth=outer_adaptive_bandwidth)
