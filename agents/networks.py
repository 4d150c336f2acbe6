"""Shared flax.linen networks. Parameters stay explicit pytrees (target networks are just copies).

Torsos turn a batch of observations into feature vectors (`MLPTorso` for vectors, `NatureCNN` for
stacks of frames); heads turn features into Q-values (`MLP`, `NatureDQN`) or into C51 logits per
action (`RainbowNetwork`, with dueling and noisy layers as switches); `RepresentationNetwork` maps
them to DCEO's d-dimensional Laplacian representation.
"""

import functools
from typing import Callable, Optional, Sequence, Tuple

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp

from runner import errors

xavier_uniform = nn.initializers.xavier_uniform


def with_bindings_now(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
  """`factory` with the gin bindings in force now for its parameters, or `factory` itself when it
  is not a gin configurable (a plain class, a functools.partial).

  A module that holds a sub-module's factory (`RainbowNetwork.torso = @MLPTorso`) builds the
  sub-module inside its @nn.compact call, at every init and apply, and gin binds a configurable's
  parameters when it is called. A network built under one gin configuration and applied under
  another (an agent rebuilt from a run's config.gin by offline.components.restore_trained, which
  restores the caller's configuration afterwards) would then build its torso with the caller's
  bindings, not its run's. Holders freeze their factory's bindings at construction with this.
  """
  try:
    bindings = gin.get_bindings(factory)
  except ValueError:  # not in gin's registry
    return factory
  # Built once now, detached, so that gin's operative config (a run's config.gin) records the
  # factory's parameters as it would have at a build under this configuration; later builds get
  # them explicitly, which gin does not record.
  factory(parent=None)
  return functools.partial(factory, **bindings) if bindings else factory


class TorsoHolder(nn.Module):
  """A module whose `torso` factory is built inside its call: the factory's gin bindings are
  frozen when the module is constructed (`with_bindings_now`)."""

  def __post_init__(self):
    object.__setattr__(self, 'torso', with_bindings_now(self.torso))
    super().__post_init__()


@gin.configurable
class MLPTorso(nn.Module):
  """ReLU layers on flattened observations; inputs rescaled from [min_vals, max_vals] to [-1, 1]
  when bounds are given (one per flattened input), as Dopamine's classic-control networks."""
  hidden_sizes: Sequence[int] = (512, 512)
  min_vals: Optional[Sequence[float]] = None
  max_vals: Optional[Sequence[float]] = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = x.astype(jnp.float32).reshape((x.shape[0], -1))
    if self.min_vals is not None:
      if self.max_vals is None or len(self.min_vals) != len(self.max_vals):
        raise ValueError('min_vals and max_vals must be given together, of equal length')
      low = jnp.asarray(self.min_vals, jnp.float32)
      high = jnp.asarray(self.max_vals, jnp.float32)
      x = 2.0 * (x - low) / (high - low) - 1.0
    for size in self.hidden_sizes:
      x = nn.relu(nn.Dense(size, kernel_init=xavier_uniform())(x))
    return x


@gin.configurable
class MLP(nn.Module):
  """Dopamine's classic-control Q-network: `MLPTorso` and a linear layer of `num_outputs`."""
  num_outputs: int
  hidden_sizes: Sequence[int] = (512, 512)
  min_vals: Optional[Sequence[float]] = None
  max_vals: Optional[Sequence[float]] = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = MLPTorso(self.hidden_sizes, self.min_vals, self.max_vals)(x)
    return nn.Dense(self.num_outputs, kernel_init=xavier_uniform())(x)


@gin.configurable
class NatureCNN(nn.Module):
  """ReLU convolutions on a batch of images, by default the Nature-DQN torso (32x8x8/4, 64x4x4/2,
  64x3x3/1).

  Input: (batch, stack, H, W) frames first (gymnasium's frame stacks, moved to channels-last here),
  (batch, H, W), or with `frames_first=False` (batch, H, W, channels) as MinAtar gives; scaled by
  `input_scale` (1/255 for uint8 frames, 1 for observations already in [0, 1]).

  'VALID' padding is the Nature paper's (and CleanRL's): 84 -> 20 -> 9 -> 7, 3136 features.
  Dopamine's JAX networks pad 'SAME' (flax's default: 84 -> 21 -> 11 -> 11, 7744 features), which
  costs 2-3x as much per update on a CPU for no reported gain.
  """
  conv_layers: Sequence[Tuple[int, int, int]] = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
  padding: str = 'VALID'
  input_scale: float = 1.0 / 255.0
  frames_first: bool = True

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    if x.ndim not in (3, 4):
      raise errors.InvalidSettingError(
          f'NatureCNN takes a batch of images, (batch, H, W) or (batch, stack, H, W), got '
          f'observations of shape {x.shape[1:]} (batched: {x.shape}): for vector observations '
          "give the network an MLP torso, e.g. 'RainbowNetwork.torso = @MLPTorso'")
    x = x.astype(jnp.float32) * self.input_scale
    if x.ndim == 3:
      x = x[..., None]
    elif self.frames_first:
      x = jnp.transpose(x, (0, 2, 3, 1))
    for features, kernel, stride in self.conv_layers:
      x = nn.relu(nn.Conv(features, (kernel, kernel), (stride, stride), padding=self.padding,
                          kernel_init=xavier_uniform())(x))
    return x.reshape((x.shape[0], -1))


@gin.configurable
class NatureDQN(TorsoHolder):
  """Nature-DQN Q-network: a torso (`NatureCNN`), a `hidden_size` ReLU layer (0: none), one
  output per action."""
  num_outputs: int
  torso: Callable[[], nn.Module] = NatureCNN
  hidden_size: int = 512

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = self.torso()(x)
    if self.hidden_size:
      x = nn.relu(nn.Dense(self.hidden_size, kernel_init=xavier_uniform())(x))
    return nn.Dense(self.num_outputs, kernel_init=xavier_uniform())(x)


@gin.configurable
class RepresentationNetwork(TorsoHolder):
  """phi, DCEO's Laplacian representation (agents/dceo.py): a torso (Nature CNN for pixels,
  MLPTorso for vectors), a `hidden_size` ReLU layer (0: none), then a linear layer of `dimension`
  outputs."""
  dimension: int
  torso: Callable[[], nn.Module] = NatureCNN
  hidden_size: int = 512

  @nn.compact
  def __call__(self, observations: jnp.ndarray) -> jnp.ndarray:
    features = self.torso()(observations)
    if self.hidden_size:
      features = nn.relu(nn.Dense(self.hidden_size,
                                  kernel_init=xavier_uniform())(features))
    return nn.Dense(self.dimension, kernel_init=xavier_uniform())(features)


class NoisyDense(nn.Module):
  """A linear layer with factorised Gaussian noise on its weights (Fortunato et al., 2018, eqs.
  8-11): w = mu + sigma * f(p) f(q)^T, with f(x) = sign(x) sqrt|x|. One noise draw per call, shared
  by the whole batch (as Dopamine); the noise comes from the 'noise' RNG stream. `deterministic`
  uses the means only (evaluation).

  Two ways to the same numbers: batches of at least `materialize_from_batch` rows build the noisy
  weight matrix once (one matmul forward, one weight gradient backward); smaller ones, such as the
  single observation an agent acts on, use x @ mu + ((x * p) @ sigma) * q, which skips building
  the fan_in x features matrix (3136 x 512 behind the Nature CNN). On a CPU the crossover is at
  about 16 rows forward; with gradients, building wins at every batch size.
  """
  features: int
  materialize_from_batch: int = 16

  @nn.compact
  def __call__(self, x: jnp.ndarray, deterministic: bool = False) -> jnp.ndarray:
    fan_in = x.shape[-1]
    bound = fan_in ** -0.5
    # Explicit dtypes: weakly typed parameters would make every jitted update recompile once
    # their first update turns them strongly typed.
    mean_init = lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -bound, bound)
    scale_init = lambda key, shape: jnp.full(shape, 0.1 * bound, jnp.float32)
    kernel_mu = self.param('kernel_mu', mean_init, (fan_in, self.features))
    kernel_sigma = self.param('kernel_sigma', scale_init, (fan_in, self.features))
    bias_mu = self.param('bias_mu', mean_init, (self.features,))
    bias_sigma = self.param('bias_sigma', scale_init, (self.features,))
    if deterministic:
      return x @ kernel_mu + bias_mu
    input_key, output_key = jax.random.split(self.make_rng('noise'))
    squash = lambda noise: jnp.sign(noise) * jnp.sqrt(jnp.abs(noise))
    input_noise = squash(jax.random.normal(input_key, (fan_in,)))
    output_noise = squash(jax.random.normal(output_key, (self.features,)))
    bias = bias_mu + bias_sigma * output_noise
    if x.ndim > 1 and x.shape[0] >= self.materialize_from_batch:
      return x @ (kernel_mu + kernel_sigma * jnp.outer(input_noise, output_noise)) + bias
    return x @ kernel_mu + ((x * input_noise) @ kernel_sigma) * output_noise + bias


@gin.configurable
class RainbowNetwork(TorsoHolder):
  """Full Rainbow's network (Dopamine's FullRainbowNetwork): a torso, a `hidden_size` ReLU layer
  (0: none), then logits over `num_atoms` return atoms for each action; dueling splits the last
  layer into a value and a mean-centred advantage stream; `noisy` makes the layers after the torso
  NoisyDense.

  Returns logits of shape (batch, num_actions, num_atoms).
  """
  num_actions: int
  num_atoms: int = 51
  noisy: bool = True
  dueling: bool = True
  hidden_size: int = 512
  torso: Callable[[], nn.Module] = NatureCNN

  @nn.compact
  def __call__(self, x: jnp.ndarray, deterministic: bool = False) -> jnp.ndarray:
    def dense(features, inputs):
      if self.noisy:
        return NoisyDense(features)(inputs, deterministic)
      return nn.Dense(features, kernel_init=xavier_uniform())(inputs)

    x = self.torso()(x)
    if self.hidden_size:
      x = nn.relu(dense(self.hidden_size, x))
    batch = x.shape[0]
    logits = dense(self.num_actions * self.num_atoms, x).reshape(
        (batch, self.num_actions, self.num_atoms))
    if not self.dueling:
      return logits
    value = dense(self.num_atoms, x).reshape((batch, 1, self.num_atoms))
    return value + logits - jnp.mean(logits, axis=1, keepdims=True)  # logits are the advantages


@gin.configurable
class TanhGaussianActor(nn.Module):
  """SAC's policy network: ReLU layers, then the mean and log standard deviation of a diagonal
  Gaussian over `action_dim` pre-squash actions (agents/sac.py squashes samples with tanh).

  The log standard deviation is clipped to `log_std_bounds` (Haarnoja et al.'s reference code):
  unclipped, as Dopamine leaves it, a few large critic gradients early on can send it to values
  whose exp under- or overflows.
  """
  action_dim: int
  hidden_sizes: Sequence[int] = (256, 256)
  log_std_bounds: Tuple[float, float] = (-20.0, 2.0)

  @nn.compact
  def __call__(self, observations: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
    x = MLPTorso(self.hidden_sizes)(observations)
    mean = nn.Dense(self.action_dim, kernel_init=xavier_uniform())(x)
    log_std = nn.Dense(self.action_dim, kernel_init=xavier_uniform())(x)
    return mean, jnp.clip(log_std, *self.log_std_bounds)


class _QNetwork(nn.Module):
  """One critic: Q(observation, action) from ReLU layers on their concatenation."""
  hidden_sizes: Sequence[int]

  @nn.compact
  def __call__(self, observations: jnp.ndarray, actions: jnp.ndarray) -> jnp.ndarray:
    x = jnp.concatenate([observations.astype(jnp.float32).reshape((observations.shape[0], -1)),
                         actions.reshape((actions.shape[0], -1))], axis=-1)
    x = MLPTorso(self.hidden_sizes)(x)
    return nn.Dense(1, kernel_init=xavier_uniform())(x)[:, 0]


@gin.configurable
class EnsembleQNetwork(nn.Module):
  """`num_critics` independent critics (SAC's twin Q networks by default) evaluated as one
  batched computation: each layer's weights are stacked on a leading critic axis, so the twins
  cost one matmul per layer rather than two. Returns Q-values of shape (num_critics, batch)."""
  hidden_sizes: Sequence[int] = (256, 256)
  num_critics: int = 2

  @nn.compact
  def __call__(self, observations: jnp.ndarray, actions: jnp.ndarray) -> jnp.ndarray:
    ensemble = nn.vmap(_QNetwork, variable_axes={'params': 0}, split_rngs={'params': True},
                       in_axes=None, out_axes=0, axis_size=self.num_critics)
    return ensemble(self.hidden_sizes)(observations, actions)
