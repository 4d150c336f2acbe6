"""SFP's conditional normalising flow: a RealNVP-style density p(a_t | a_{t-1}) over actions.

The flow maps an action x (data) to a noise vector u (the standard normal base) through
`num_blocks` blocks, each an affine coupling layer followed by a batch-norm flow layer, the
coupling masks alternating between blocks (RealNVP, Dinh et al. 2017; the layers of the SFP
reference's flows/flows.py, after Kostrikov's pytorch-flows):

  coupling   y = x * exp(log_s) + t on the unmasked dimensions, where (log_s, t) come from one
             shared trunk over [x * mask, pre_mlp(condition)]: Dense(hidden) ReLU Dense(hidden)
             ReLU, then linear heads (no tanh on log_s: the reference's shared trunk has none);
             pre_mlp is Dense ReLU Dense ReLU Dense (no activation after its last layer), one per
             coupling layer. log|det| = sum(log_s).
  batch norm y = exp(log_gamma) * (x - mean) / sqrt(var) + beta; in training mode mean and var
             are the batch's (var with eps added), and enter the log-determinant, which is
             sum(log_gamma - log(var) / 2); in evaluation mode they are the running statistics
             (collection 'batch_stats'), updated in training as
             running = momentum * running + (1 - momentum) * batch.

`__call__` is the forward direction (actions to noise: the density by change of variables),
`inverse` the sampling direction; both return the log-determinant of their own direction.
Every Dense layer is orthogonally initialised with zero biases, as the reference's.
"""

from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))


def dense(features: int, name: Optional[str] = None) -> nn.Dense:
  return nn.Dense(features, kernel_init=nn.initializers.orthogonal(),
                  bias_init=nn.initializers.zeros, name=name)


def orthogonal_matrix(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
  """A (rows, columns) matrix with orthonormal columns (or rows, when wider than tall): the
  Q of a Gaussian matrix's QR with its signs fixed, as flax's orthogonal initializer draws it,
  computed with numpy (compiling XLA's random numbers and QR for every layer of a flow takes
  seconds on a CPU; numpy takes microseconds)."""
  gaussian = rng.standard_normal((max(rows, columns), min(rows, columns)))
  q, r = np.linalg.qr(gaussian)
  q = q * np.sign(np.diag(r))
  return (q.T if rows < columns else q).astype(np.float32)


def standard_normal_log_density(noise: jnp.ndarray) -> jnp.ndarray:
  """log N(u; 0, I) summed over the last axis."""
  return jnp.sum(-0.5 * jnp.square(noise) - 0.5 * LOG_2PI, axis=-1)


def alternating_masks(action_dim: int, num_blocks: int) -> Tuple[Tuple[float, ...], ...]:
  """The coupling masks, 1 where a dimension passes unchanged and conditions the others: the
  odd dimensions first, then the even ones, alternating (the reference's arange(D) % 2)."""
  first = tuple(float(index % 2) for index in range(action_dim))
  return tuple(first if block % 2 == 0 else tuple(1.0 - m for m in first)
               for block in range(num_blocks))


class AffineCoupling(nn.Module):
  """One RealNVP affine coupling layer conditioned on a vector (see the module docstring)."""
  mask: Tuple[float, ...]
  hidden_size: int = 128
  condition_sizes: Sequence[int] = (128, 128, 128)

  @nn.compact
  def __call__(self, x: jnp.ndarray, condition: jnp.ndarray,
               inverse: bool = False) -> Tuple[jnp.ndarray, jnp.ndarray]:
    mask = jnp.asarray(self.mask, x.dtype)
    features = condition
    for index, size in enumerate(self.condition_sizes):
      features = dense(size, f'condition_{index}')(features)
      if index < len(self.condition_sizes) - 1:
        features = nn.relu(features)
    # The masked dimensions are the same before and after the layer, so the inverse sees the
    # same trunk input as the forward pass did.
    hidden = jnp.concatenate([x * mask, features], axis=-1)
    hidden = nn.relu(dense(self.hidden_size, 'trunk_0')(hidden))
    hidden = nn.relu(dense(self.hidden_size, 'trunk_1')(hidden))
    log_scale = dense(x.shape[-1], 'log_scale')(hidden) * (1.0 - mask)
    shift = dense(x.shape[-1], 'shift')(hidden) * (1.0 - mask)
    if inverse:
      return (x - shift) * jnp.exp(-log_scale), -jnp.sum(log_scale, axis=-1)
    return x * jnp.exp(log_scale) + shift, jnp.sum(log_scale, axis=-1)


class BatchNormFlow(nn.Module):
  """RealNVP's batch-normalisation bijector (see the module docstring). `momentum` is the
  running statistics' weight on their old value (the reference's convention)."""
  momentum: float = 0.0
  eps: float = 1e-5

  @nn.compact
  def __call__(self, x: jnp.ndarray, training: bool = False,
               inverse: bool = False) -> Tuple[jnp.ndarray, jnp.ndarray]:
    dimension = x.shape[-1]
    log_gamma = self.param('log_gamma', nn.initializers.zeros, (dimension,))
    beta = self.param('beta', nn.initializers.zeros, (dimension,))
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, (dimension,), jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, (dimension,), jnp.float32)
    if training:
      if inverse:
        raise ValueError('BatchNormFlow inverts only in evaluation mode: a batch\'s statistics '
                         'exist only for the forward pass that computed them')
      mean = jnp.mean(x, axis=0)
      var = jnp.mean(jnp.square(x - mean), axis=0) + self.eps
      if self.is_mutable_collection('batch_stats') and not self.is_initializing():
        old_weight = self.momentum
        running_mean.value = (old_weight * running_mean.value
                              + (1.0 - old_weight) * jax.lax.stop_gradient(mean))
        running_var.value = (old_weight * running_var.value
                             + (1.0 - old_weight) * jax.lax.stop_gradient(var))
    else:
      mean, var = running_mean.value, running_var.value
    log_det = jnp.sum(log_gamma - 0.5 * jnp.log(var)) * jnp.ones(x.shape[:-1], x.dtype)
    if inverse:
      return (x - beta) * jnp.exp(-log_gamma) * jnp.sqrt(var) + mean, -log_det
    return jnp.exp(log_gamma) * (x - mean) / jnp.sqrt(var) + beta, log_det


class ConditionalFlow(nn.Module):
  """The flow over `action_dim`-dimensional actions conditioned on a vector (the previous
  action); see the module docstring. Variables: 'params', and 'batch_stats' with batch norm."""
  action_dim: int
  num_blocks: int = 6
  hidden_size: int = 128
  condition_sizes: Sequence[int] = (128, 128, 128)
  batch_norm: bool = True
  batch_norm_momentum: float = 0.0
  batch_norm_eps: float = 1e-5

  def setup(self):
    self.couplings = [AffineCoupling(mask, self.hidden_size, tuple(self.condition_sizes))
                      for mask in alternating_masks(self.action_dim, self.num_blocks)]
    self.batch_norms = ([BatchNormFlow(self.batch_norm_momentum, self.batch_norm_eps)
                         for _ in range(self.num_blocks)] if self.batch_norm else [])

  def __call__(self, actions: jnp.ndarray, conditions: jnp.ndarray,
               training: bool = False) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """(noise, log|det d noise / d actions|) for a batch of actions."""
    x, log_det = actions, jnp.zeros(actions.shape[:-1], actions.dtype)
    for index in range(self.num_blocks):
      x, part = self.couplings[index](x, conditions)
      log_det = log_det + part
      if self.batch_norm:
        x, part = self.batch_norms[index](x, training)
        log_det = log_det + part
    return x, log_det

  def inverse(self, noise: jnp.ndarray,
              conditions: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """(actions, log|det d actions / d noise|), in evaluation mode (running statistics)."""
    x, log_det = noise, jnp.zeros(noise.shape[:-1], noise.dtype)
    for index in reversed(range(self.num_blocks)):
      if self.batch_norm:
        x, part = self.batch_norms[index](x, False, inverse=True)
        log_det = log_det + part
      x, part = self.couplings[index](x, conditions, inverse=True)
      log_det = log_det + part
    return x, log_det

  def log_prob(self, actions: jnp.ndarray, conditions: jnp.ndarray,
               training: bool = False) -> jnp.ndarray:
    """log p(actions | conditions) in nats, by change of variables."""
    noise, log_det = self(actions, conditions, training)
    return standard_normal_log_density(noise) + log_det

  def block(self, x: jnp.ndarray, conditions: jnp.ndarray, index: int) -> jnp.ndarray:
    """Block `index`'s coupling layer alone, forward (what its batch-norm layer normalises)."""
    return self.couplings[index](x, conditions)[0]
