"""Shared flax.linen networks. Parameters stay explicit pytrees (target networks are just copies).

Torsos turn a batch of observations into feature vectors (`MLPTorso` for vectors, `NatureCNN` for
stacks of frames); heads turn features into Q-values (`MLP`, `NatureDQN`) or into C51 logits per
action (`RainbowNetwork`, with dueling and noisy layers as switches).
"""

from typing import Callable, Optional, Sequence

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp

xavier_uniform = nn.initializers.xavier_uniform


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
  """The Nature-DQN convolutions (32x8x8/4, 64x4x4/2, 64x3x3/1, ReLU) on a batch of frame stacks.

  Input: (batch, stack, H, W) or (batch, H, W), uint8 scaled by `input_scale` (1/255; 1 for
  observations already in [0, 1]); frames-first stacks are moved to channels-last for the
  convolutions. Dopamine's JAX networks pad 'SAME' (84 -> 21 -> 11 -> 11, 7744 features); the
  Nature paper and CleanRL use 'VALID' (84 -> 20 -> 9 -> 7, 3136 features), about half the cost.
  """
  padding: str = 'SAME'
  input_scale: float = 1.0 / 255.0

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = x.astype(jnp.float32) * self.input_scale
    x = x[..., None] if x.ndim == 3 else jnp.transpose(x, (0, 2, 3, 1))
    for features, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
      x = nn.relu(nn.Conv(features, (kernel, kernel), (stride, stride), padding=self.padding,
                          kernel_init=xavier_uniform())(x))
    return x.reshape((x.shape[0], -1))


@gin.configurable
class NatureDQN(nn.Module):
  """Nature-DQN Q-network: `NatureCNN`, a 512-unit ReLU layer, one output per action."""
  num_outputs: int
  torso: Callable[[], nn.Module] = NatureCNN

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = nn.relu(nn.Dense(512, kernel_init=xavier_uniform())(self.torso()(x)))
    return nn.Dense(self.num_outputs, kernel_init=xavier_uniform())(x)


class NoisyDense(nn.Module):
  """A linear layer with factorised Gaussian noise on its weights (Fortunato et al., 2018, eqs.
  8-11): w = mu + sigma * f(p) f(q)^T, with f(x) = sign(x) sqrt|x|. One noise draw per call, shared
  by the whole batch (as Dopamine); the noise comes from the 'noise' RNG stream. `deterministic`
  uses the means only (evaluation)."""
  features: int

  @nn.compact
  def __call__(self, x: jnp.ndarray, deterministic: bool = False) -> jnp.ndarray:
    fan_in = x.shape[-1]
    bound = 1.0 / jnp.sqrt(fan_in)
    mean_init = lambda key, shape: jax.random.uniform(key, shape, minval=-bound, maxval=bound)
    scale_init = lambda key, shape: jnp.full(shape, 0.1 / jnp.sqrt(fan_in))
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
    kernel = kernel_mu + kernel_sigma * jnp.outer(input_noise, output_noise)
    return x @ kernel + bias_mu + bias_sigma * output_noise


@gin.configurable
class RainbowNetwork(nn.Module):
  """Full Rainbow's network (Dopamine's FullRainbowNetwork): a torso, a `hidden_size` ReLU layer,
  then logits over `num_atoms` return atoms for each action; dueling splits the last layer into a
  value and a mean-centred advantage stream; `noisy` makes the layers after the torso NoisyDense.

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
    if not self.dueling:
      return dense(self.num_actions * self.num_atoms, x).reshape(
          (batch, self.num_actions, self.num_atoms))
    advantage = dense(self.num_actions * self.num_atoms, x).reshape(
        (batch, self.num_actions, self.num_atoms))
    value = dense(self.num_atoms, x).reshape((batch, 1, self.num_atoms))
    return value + advantage - jnp.mean(advantage, axis=1, keepdims=True)
