"""The diffusion machinery GOM's two generative models share (the outcome model over psi given s,
the readout policy over a given [s, psi]): the discretised VP-SDE, the epsilon-prediction loss,
the DDIM sampler with optional score guidance, and the FiLM-residual MLP "U-Net" denoiser.

Conventions: data x0 live in [-1, 1] per dimension (the learner scales psi and actions there);
steps are integers t in [0, num_steps), t = 0 the least noisy; x_t = sqrt(alpha_bar_t) x0 +
sqrt(1 - alpha_bar_t) epsilon; a denoiser is any function `denoiser_fn(x_t [N, D], t [N] int32,
condition [N, C]) -> epsilon_hat [N, D]` (a closure over a module's parameters, so the same loss
and sampler serve the online parameters, their EMA copy, or an oracle in the tests).
"""

from typing import Callable, NamedTuple, Optional, Sequence

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np

DenoiserFn = Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]


class VPSchedule(NamedTuple):
  """The discretised VP-SDE, every field [num_steps], indexed by the integer step t."""
  betas: jnp.ndarray
  alphas_bar: jnp.ndarray  # prod_{s <= t} (1 - beta_s)
  one_minus_alphas_bar: jnp.ndarray  # computed without cancellation near t = 0
  sqrt_alphas_bar: jnp.ndarray
  sqrt_one_minus_alphas_bar: jnp.ndarray

  @property
  def num_steps(self) -> int:
    return self.betas.shape[0]


def vp_schedule(num_steps: int = 1000, beta_min: float = 0.1,
                beta_max: float = 20.0) -> VPSchedule:
  """The VP-SDE dx = -beta(tau) x / 2 dtau + sqrt(beta(tau)) dW, beta(tau) = beta_min + tau
  (beta_max - beta_min) on tau in [0, 1], in DDPM's discretisation (the reference's, Song et al.
  2021's VPSDE.discrete_betas): beta_t = beta(t / (num_steps - 1)) / num_steps for t = 0 ...
  num_steps - 1, i.e. linear from beta_min / T to beta_max / T, and alpha_bar_t = prod_{s <= t}
  (1 - beta_s). Then alpha_bar_{T-1} ~ exp(-sum beta) = exp(-(beta_min + beta_max) / 2) =
  exp(-10.05) with the defaults (exactly a little less: log(1 - b) < -b), close to the continuous
  SDE's alpha_bar(1) = exp(-(beta_max - beta_min) / 2 - beta_min). Computed in float64."""
  if num_steps < 1 or not 0.0 < beta_min <= beta_max or beta_max >= num_steps:
    raise ValueError(f'a VP schedule needs num_steps >= 1 and 0 < beta_min <= beta_max < '
                     f'num_steps, got {num_steps}, {beta_min}, {beta_max}')
  betas = np.linspace(beta_min / num_steps, beta_max / num_steps, num_steps, dtype=np.float64)
  log_alphas_bar = np.cumsum(np.log1p(-betas))
  one_minus_alphas_bar = -np.expm1(log_alphas_bar)
  alphas_bar = np.exp(log_alphas_bar)
  as_array = lambda values: jnp.asarray(values, jnp.float32)
  return VPSchedule(as_array(betas), as_array(alphas_bar), as_array(one_minus_alphas_bar),
                    as_array(np.sqrt(alphas_bar)), as_array(np.sqrt(one_minus_alphas_bar)))


def _per_row(values: jnp.ndarray, like: jnp.ndarray) -> jnp.ndarray:
  """values [*t.shape] broadcast against x [*t.shape, ...]."""
  return values.reshape(values.shape + (1,) * (like.ndim - values.ndim))


def add_noise(schedule: VPSchedule, x0: jnp.ndarray, t: jnp.ndarray,
              noise: jnp.ndarray) -> jnp.ndarray:
  """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, for x0 and noise [N, ...] and
  integer steps t [N] (or a scalar)."""
  t = jnp.asarray(t, jnp.int32)
  return (_per_row(schedule.sqrt_alphas_bar[t], x0) * x0
          + _per_row(schedule.sqrt_one_minus_alphas_bar[t], x0) * noise)


def epsilon_loss(denoiser_fn: DenoiserFn, schedule: VPSchedule, x0: jnp.ndarray,
                 condition: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
  """DDPM's simple loss: the mean over rows and dimensions of (denoiser_fn(x_t, t, condition) -
  epsilon)^2, with t uniform over the integer steps and epsilon standard normal, one per row
  (the reference's unweighted loss for a discretely trained VP-SDE)."""
  step_key, noise_key = jax.random.split(key)
  t = jax.random.randint(step_key, x0.shape[:1], 0, schedule.num_steps, jnp.int32)
  noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
  predicted = denoiser_fn(add_noise(schedule, x0, t, noise), t, condition)
  return jnp.mean(jnp.square(predicted - noise))


def ddim_timesteps(num_steps: int, num_sampling_steps: int) -> np.ndarray:
  """The decreasing steps DDIM visits: `num_sampling_steps` evenly spaced ones ending the
  training sequence (for 1000 and 50: 999, 979, ..., 19), so the first is the noisiest, where
  the initial noise is the model's prior ("trailing" spacing, Lin et al. 2024). The reference
  visits nearly the same steps: int(1000 tau) for tau = 1, 0.98, ..., 0.02, the 1000 clamped to
  999 by its indexing, ending at alpha_bar_0 rather than 1."""
  if not 1 <= num_sampling_steps <= num_steps:
    raise ValueError(f'DDIM needs 1 <= num_sampling_steps <= num_steps ({num_steps}), got '
                     f'{num_sampling_steps}')
  spacing = num_steps / num_sampling_steps
  return (np.round(num_steps - np.arange(num_sampling_steps) * spacing) - 1).astype(np.int32)


def ddim_sample(denoiser_fn: DenoiserFn, schedule: VPSchedule, condition: jnp.ndarray,
                noise: jnp.ndarray, num_sampling_steps: int = 50, eta: float = 0.0,
                key: Optional[jax.Array] = None, guidance: Optional[jnp.ndarray] = None,
                clip: bool = True) -> jnp.ndarray:
  """x0 [N, D] sampled by DDIM (Song et al. 2021) from `noise` [N, D] (standard normal, x at the
  noisiest step) over the steps of ddim_timesteps, one jax.lax.scan (one compile under jit).

  Each step predicts x0 from x_t and epsilon_hat, then moves to the next step's noise level:
  x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma^2) epsilon_hat + sigma z,
  sigma = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t) (1 - alpha_bar_t / alpha_bar_prev)).
  With eta = 0 (the reference's and the TD target's) no z is drawn: the result is a deterministic
  function of `noise`. With eta > 0 (eta = 1 is DDPM's posterior variance) `key` draws z; eta must
  then be a Python number, since it decides what is traced. The last step goes to alpha_bar = 1
  (DDIM's alpha_0 = 1), so the result is the last x0_hat and carries no added noise.

  `guidance` g ([D] or [N, D]) is added to the score, grad log p(x_t) = -epsilon_hat /
  sqrt(1 - alpha_bar_t), at every step, as the reference does: epsilon_hat <- epsilon_hat -
  sqrt(1 - alpha_bar_t) g. That is the score of every noisy marginal tilted by exp(g . x_t), so
  samples move toward larger g . x (for N(0, I) data, without clipping, every sample moves by the
  same positive multiple of g). GOM's planner passes g = coefficient * w scaled by the cumulants'
  range: toward outcomes of larger reward w . psi.

  `clip` clips every x0_hat to [-1, 1], where the data live (the reference's and diffusers'
  clip_sample), hence also the result; under guidance epsilon_hat is then re-derived from the
  clipped x0_hat (the reference's), keeping the step consistent when the tilt pushes x0_hat out.
  """
  timesteps = ddim_timesteps(schedule.num_steps, num_sampling_steps)
  previous_timesteps = np.append(timesteps[1:], -1).astype(np.int32)
  stochastic = float(eta) > 0.0
  if stochastic and key is None:
    raise ValueError('ddim_sample with eta > 0 draws noise at every step: pass a key')
  step_keys = jax.random.split(key, num_sampling_steps) if stochastic else None

  def step(x, inputs):
    t, t_previous, step_key = inputs
    has_previous = t_previous >= 0
    # Step -1 stands for the clean data: alpha_bar = 1.
    alpha_bar_previous = jnp.where(has_previous,
                                   schedule.alphas_bar[jnp.maximum(t_previous, 0)], 1.0)
    one_minus_previous = jnp.where(has_previous,
                                   schedule.one_minus_alphas_bar[jnp.maximum(t_previous, 0)], 0.0)
    sqrt_alpha_bar = schedule.sqrt_alphas_bar[t]
    sqrt_one_minus = schedule.sqrt_one_minus_alphas_bar[t]

    epsilon = denoiser_fn(x, jnp.full(x.shape[:1], t, jnp.int32), condition)
    if guidance is not None:
      epsilon = epsilon - sqrt_one_minus * guidance
    x0 = (x - sqrt_one_minus * epsilon) / sqrt_alpha_bar
    if clip:
      x0 = jnp.clip(x0, -1.0, 1.0)
      if guidance is not None:
        epsilon = (x - sqrt_alpha_bar * x0) / sqrt_one_minus

    direction_variance = one_minus_previous
    if stochastic:
      variance = (one_minus_previous / schedule.one_minus_alphas_bar[t]
                  * (1.0 - schedule.alphas_bar[t] / alpha_bar_previous))
      sigma = eta * jnp.sqrt(variance)
      direction_variance = jnp.maximum(one_minus_previous - jnp.square(sigma), 0.0)
    x_previous = jnp.sqrt(alpha_bar_previous) * x0 + jnp.sqrt(direction_variance) * epsilon
    if stochastic:
      x_previous = x_previous + sigma * jax.random.normal(step_key, x.shape, x.dtype)
    return x_previous, None

  inputs = (jnp.asarray(timesteps), jnp.asarray(previous_timesteps), step_keys)
  samples, _ = jax.lax.scan(step, jnp.asarray(noise), inputs)
  return samples


def sinusoidal_embedding(timesteps: jnp.ndarray, dim: int) -> jnp.ndarray:
  """The transformer's position encoding of the steps: [N] -> [N, dim], [sin(t f_k), cos(t f_k)]
  with f_k = 10000^(-k / (dim/2 - 1)), k < dim/2 (the reference's; zero-padded if dim is odd)."""
  half = dim // 2
  frequencies = jnp.exp(-np.log(10000.0) / max(half - 1, 1) * jnp.arange(half, dtype=jnp.float32))
  angles = jnp.asarray(timesteps, jnp.float32)[:, None] * frequencies[None, :]
  embedding = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
  return jnp.pad(embedding, ((0, 0), (0, dim % 2)))


class LinearBlock(nn.Module):
  """Dense, LayerNorm, activation."""
  width: int
  activation: Callable[[jnp.ndarray], jnp.ndarray] = nn.swish

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return self.activation(nn.LayerNorm()(nn.Dense(self.width)(x)))


class FiLMResidualBlock(nn.Module):
  """LinearBlock, FiLM (scale * h + shift, both linear in the FiLM input), LinearBlock, plus a
  linear projection of the block's input (the reference's ConditionalResidualLinearBlock)."""
  width: int
  activation: Callable[[jnp.ndarray], jnp.ndarray] = nn.swish

  @nn.compact
  def __call__(self, x: jnp.ndarray, film_input: jnp.ndarray) -> jnp.ndarray:
    hidden = LinearBlock(self.width, self.activation)(x)
    scale, shift = jnp.split(nn.Dense(2 * self.width, name='film')(film_input), 2, axis=-1)
    hidden = LinearBlock(self.width, self.activation)(scale * hidden + shift)
    return hidden + nn.Dense(self.width, name='skip')(x)


@gin.configurable
class FiLMResidualDenoiser(nn.Module):
  """The reference's ConditionalUnet1D: an MLP "U-Net" over widths of FiLM residual blocks.

  Inputs x_t [N, output_dim], integer steps t [N], condition [N, C]; output epsilon_hat
  [N, output_dim]. The step's sinusoidal embedding (`time_embedding_dim`) and an embedding of the
  condition (two LinearBlocks of width `condition_hidden_dim`, default 2 max(time_embedding_dim,
  C) as the reference, then a linear map to `time_embedding_dim`) are concatenated into the FiLM
  input of every block. Down: `blocks_per_level` blocks per width of `dims`, each level's output
  kept; middle: `blocks_per_level` blocks at the last width; up: for each width of `dims` but the
  last, in reverse, the running features concatenated with the latest kept output, then
  `blocks_per_level` blocks (so, as in the reference, the first level's output is never a skip).
  Last: a LinearBlock of dims[0] and a linear layer (flax's default init, as the reference: a
  zero-initialised one would leave every other parameter without gradient at the first step).

  The reference feeds the raw sinusoidal embedding to the FiLM layers (`time_hidden_sizes` = ());
  a non-empty `time_hidden_sizes` inserts an MLP (Dense + activation per size, then a linear map
  back to `time_embedding_dim`), as DDPM's U-Net does. Activation: swish (= SiLU), the reference's.
  """
  output_dim: int
  dims: Sequence[int] = (256, 512, 1024)
  blocks_per_level: int = 2
  time_embedding_dim: int = 256
  time_hidden_sizes: Sequence[int] = ()
  condition_hidden_dim: Optional[int] = None
  activation: Callable[[jnp.ndarray], jnp.ndarray] = nn.swish

  @nn.compact
  def __call__(self, x: jnp.ndarray, timesteps: jnp.ndarray,
               condition: jnp.ndarray) -> jnp.ndarray:
    time_embedding = sinusoidal_embedding(timesteps, self.time_embedding_dim)
    if self.time_hidden_sizes:
      for size in self.time_hidden_sizes:
        time_embedding = self.activation(nn.Dense(size)(time_embedding))
      time_embedding = nn.Dense(self.time_embedding_dim)(time_embedding)

    condition_hidden_dim = self.condition_hidden_dim or 2 * max(self.time_embedding_dim,
                                                                condition.shape[-1])
    condition_embedding = LinearBlock(condition_hidden_dim, self.activation)(condition)
    condition_embedding = LinearBlock(condition_hidden_dim, self.activation)(condition_embedding)
    condition_embedding = nn.Dense(self.time_embedding_dim)(condition_embedding)
    film_input = jnp.concatenate([time_embedding, condition_embedding], axis=-1)

    def blocks(features, width):
      for _ in range(self.blocks_per_level):
        features = FiLMResidualBlock(width, self.activation)(features, film_input)
      return features

    skips = []
    for width in self.dims:
      x = blocks(x, width)
      skips.append(x)
    x = blocks(x, self.dims[-1])
    for width in reversed(tuple(self.dims)[:-1]):
      x = blocks(jnp.concatenate([x, skips.pop()], axis=-1), width)
    x = LinearBlock(self.dims[0], self.activation)(x)
    return nn.Dense(self.output_dim, name='output')(x)
