"""PSDRL's model networks (posterior sampling for deep RL, Sasso et al. 2023) and the pure
functions that train them, roll them along replay and plan one step through a sampled model.

The agent (agents/psdrl.py) owns the optimisers, the replay and the schedule; everything here is
a flax module or a pure, jittable function of explicit parameter pytrees. Modules are passed as
the first arguments (static under jax.jit: flax modules are hashable). Reference sizes are the
defaults; every size is a constructor argument, so a gin file can shrink them for DeepSea.

METHODS.md -> here:
- Autoencoder: `ConvAutoencoder` (64x64 uint8 frames, four 4x4 stride-2 VALID convolutions,
  48/96/192/384 channels -> 2x2x384 = 1536, mirrored by transposed convolutions; both kinds
  computed as stride-1 convolutions, `SpaceToDepthConv` and `SubPixelConvTranspose`, whose
  gradients XLA's CPU backend runs far faster, with flax's parameters) or `MLPAutoencoder`
  (vector observations); both have `encode` / `decode`, `__call__` reconstructs,
  `reconstruction_loss` is the MSE against the scaled observation.
- Transition model: `TransitionModel` (GRU over [z, one-hot a], then an MLP whose output is the
  penultimate features; its last layer features -> next latent + reward is kept apart, see
  below), `transition_loss` (windows, truncated BPTT), `episode_features` (the posterior's X).
- Terminal network: `TerminalNetwork`, `terminal_loss`; a predicted next latent counts as
  terminal unless the network's output is below 0.5.
- Value network: `ValueNetwork` on [z, h], `value_loss`; `lookahead_values` (acting and targets),
  `greedy_action` (random tie-break), `value_targets` (the sampled model rolled along replay).

The last layer. The posterior (agents/bayesian_last_layer.py) gives W of shape (k, m): k = the
feature size (2292), m = latent + 1 (1537), column m - 1 the reward; flax's Dense kernel has the
same (in, out) layout. A last layer is a `LastLayer(kernel (k, m), bias (m,))` and predictions are
features @ kernel + bias: `trained_last_layer(params)` is the transition model's own (trained by
`transition_loss`, the posterior's X never sees it), `sampled_last_layer(W)` a posterior draw with
a zero bias. The features carry no constant 1, as in the reference, whose regression has no
intercept and whose sampled model has no bias: the posterior's k stays the feature size, and the
features come out of a linear layer with its own bias b (below), so every prediction already has
an offset b @ W, though one tied to W. A caller that wants a free intercept fits the posterior to
the targets minus a bias and passes that bias to `sampled_last_layer`.

Where the reference (remosasso/PSDRL) differs from a first reading of METHODS.md, we follow it:
- The MLP's input is [h', z, one-hot a] (2292 + A), not [h', z]; h' is the GRU state after the
  step. Four linear layers of 2292, tanh after the first three only: the features are the output
  of the fourth, linear one (`activate_features=True` puts a tanh on them).
- The value network reads [z, h] in that order, z first.
- Transition training: every sampled sequence starts from h = 0, even mid-episode, and h is
  carried, detached, from one window to the next. Its window counter steps the optimiser after
  5 steps, not 4 (the loss of a window is the mean of its per-step MSEs). `transition_loss` takes
  one window of any length and its incoming h; the agent chooses the length and where h comes
  from (the reference's zeros, or the stored history through `episode_features`).
- Value learning: the GRU state starts at 0 at each sequence and follows the recorded latents and
  actions (only the next latent and reward come from the sampled last layer); one Adam step per
  sequence step, the target network copied every 4 steps: call `value_targets` per chunk of 4
  steps with the chunk's target parameters and carry `final_hidden` to the next chunk.
- The terminal network learns from encoded real next observations and is applied to predicted
  next latents.
- The reference decoder ends in a 5x5 transposed convolution with output padding 1 (30 -> 64);
  ours mirrors every 4x4 layer and pads by what the encoder's VALID convolution floored away
  (2 -> 6 -> 14 -> 31 -> 64), so it reaches any image size. The output is linear, as there.
"""

import math
from typing import Callable, NamedTuple, Optional, Sequence, Tuple

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
from jax import lax

from agents.networks import xavier_uniform
from runner import errors

DISCOUNT = 0.99
TERMINAL_THRESHOLD = 0.5


# Frames as (batch, height, width, channels), kernels as (height, width, in, out): flax's layout.
_NHWC = ('NHWC', 'HWIO', 'NHWC')


def _kernel_and_bias(module: nn.Module, in_channels: int):
  """The parameters of nn.Conv and nn.ConvTranspose, created in their order: 'kernel'
  (K, K, in, out) from module.kernel_init, then 'bias' (out,) of zeros."""
  kernel = module.param('kernel', module.kernel_init,
                        (module.kernel_size, module.kernel_size, in_channels, module.features),
                        jnp.float32)
  return kernel, module.param('bias', nn.initializers.zeros, (module.features,), jnp.float32)


class SpaceToDepthConv(nn.Module):
  """nn.Conv with VALID padding and stride S (same parameters: 'kernel' (K, K, in, out) and
  'bias'; same outputs), computed as a stride-1 convolution over S x S blocks of the input
  folded into channels when the kernel size is a multiple of the stride: its gradients are then
  stride-1 convolutions too, which XLA's CPU backend runs far faster than those of a strided one
  (see SubPixelConvTranspose).

  One axis, K = m S taps: y[i] = sum_{u < m, r < S} k[S u + r] x[S (i + u) + r].
  """
  features: int
  kernel_size: int
  stride: int
  kernel_init: Callable = xavier_uniform()

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    size, stride = self.kernel_size, self.stride
    channels = x.shape[-1]
    kernel, bias = _kernel_and_bias(self, channels)
    if size % stride:
      y = lax.conv_general_dilated(x, kernel, (stride, stride), 'VALID',
                                   dimension_numbers=_NHWC)
      return y + bias
    taps = size // stride
    blocks = [(length - size) // stride + taps for length in x.shape[1:3]]
    x = x[:, :blocks[0] * stride, :blocks[1] * stride]
    x = x.reshape(x.shape[0], blocks[0], stride, blocks[1], stride, channels)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(x.shape[0], blocks[0], blocks[1], -1)
    kernel = kernel.reshape(taps, stride, taps, stride, channels, self.features)
    kernel = kernel.transpose(0, 2, 1, 3, 4, 5).reshape(taps, taps, -1, self.features)
    y = lax.conv_general_dilated(x, kernel, (1, 1), 'VALID', dimension_numbers=_NHWC)
    return y + bias


class SubPixelConvTranspose(nn.Module):
  """nn.ConvTranspose with explicit padding (same parameters: 'kernel' (K, K, in, out) and
  'bias'; same outputs), computed as stride x stride ordinary convolutions, one per output
  phase, when the kernel size is a multiple of the stride.

  Why: XLA's CPU backend runs the input-dilated convolution of lax.conv_transpose, and its
  kernel gradient above all, through a slow generic path: the reference autoencoder's training
  step took 16 s for 250 frames on 2 cores, 14 s of it in the decoder's gradient. Phase by phase
  the same sums are stride-1 convolutions with (K / S) x (K / S) kernels.

  The identity (one axis; n inputs, kernel k of K = m S taps, padding (K - 1, K - 1 + e)):
  y[S i + a] = sum_u k[S - 1 - a + S u] x[i + u - (m - 1)], u < m, i <= n + m - 2, followed by
  e outputs of bias alone.
  """
  features: int
  kernel_size: int
  stride: int
  padding: Tuple[Tuple[int, int], Tuple[int, int]]
  kernel_init: Callable = xavier_uniform()

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    size, stride = self.kernel_size, self.stride
    kernel, bias = _kernel_and_bias(self, x.shape[-1])
    standard = all(low == size - 1 and high >= low for low, high in self.padding)
    if size % stride or not standard:
      y = lax.conv_transpose(x, kernel, (stride, stride), self.padding, dimension_numbers=_NHWC)
      return y + bias
    taps = size // stride
    # Phase (a, b)'s kernel: rows S - 1 - a, 2S - 1 - a, ...; stacked on the output channels.
    phases = [kernel[stride - 1 - a::stride, stride - 1 - b::stride]
              for a in range(stride) for b in range(stride)]
    x = jnp.pad(x, ((0, 0), (taps - 1, taps - 1), (taps - 1, taps - 1), (0, 0)))
    y = lax.conv_general_dilated(x, jnp.concatenate(phases, -1), (1, 1), 'VALID',
                                 dimension_numbers=_NHWC)
    batch, height, width, _ = y.shape
    y = y.reshape(batch, height, width, stride, stride, self.features)
    y = y.transpose(0, 1, 3, 2, 4, 5).reshape(batch, height * stride, width * stride,
                                               self.features)
    extra = tuple(high - low for low, high in self.padding)
    y = jnp.pad(y, ((0, 0), (0, extra[0]), (0, extra[1]), (0, 0)))
    return y + bias


def _conv_sizes(size: int, num_layers: int, kernel: int, stride: int) -> Tuple[int, ...]:
  """The spatial size before each VALID convolution and after the last (num_layers + 1)."""
  sizes = [size]
  for _ in range(num_layers):
    sizes.append((sizes[-1] - kernel) // stride + 1)
  return tuple(sizes)


@gin.configurable
class ConvAutoencoder(nn.Module):
  """The reference autoencoder for (..., H, W) frames (uint8 or float; no channel axis).

  encode: ReLU after every VALID convolution (the latent too, as in the reference), flattened to
  (..., latent_size). decode: transposed convolutions back to (..., H, W), ReLU between them and
  a linear output, compared with the frames times input_scale.
  """
  image_shape: Tuple[int, int] = (64, 64)
  channels: Sequence[int] = (48, 96, 192, 384)
  kernel_size: int = 4
  stride: int = 2
  input_scale: float = 1.0 / 255.0

  def _sizes(self):
    sizes = [_conv_sizes(size, len(self.channels), self.kernel_size, self.stride)
             for size in self.image_shape]
    if not self.channels or min(sizes[0][-1], sizes[1][-1]) < 1:
      raise errors.InvalidSettingError(
          f'ConvAutoencoder: {len(self.channels)} convolutions of {self.kernel_size}x'
          f'{self.kernel_size}, stride {self.stride}, do not fit an image of {self.image_shape}')
    return sizes

  @property
  def latent_size(self) -> int:
    height, width = self._sizes()
    return height[-1] * width[-1] * self.channels[-1]

  def setup(self):
    height, width = self._sizes()
    self.encoder = [SpaceToDepthConv(features, self.kernel_size, self.stride)
                    for features in self.channels]
    decoder = []
    for layer in reversed(range(len(self.channels))):
      # The transposed convolution gives (n - 1) * stride + kernel; the encoder's floor dropped
      # (size - kernel) % stride rows, added back at the end as output padding (bias only).
      padding = tuple((self.kernel_size - 1,
                       self.kernel_size - 1 + (sizes[layer] - self.kernel_size) % self.stride)
                      for sizes in (height, width))
      features = self.channels[layer - 1] if layer else 1
      decoder.append(SubPixelConvTranspose(features, self.kernel_size, self.stride, padding))
    self.decoder = decoder

  def encode(self, observations: jnp.ndarray) -> jnp.ndarray:
    batch_shape = observations.shape[:-2]
    x = observations.astype(jnp.float32).reshape((-1,) + tuple(self.image_shape) + (1,))
    x = x * self.input_scale
    for layer in self.encoder:
      x = nn.relu(layer(x))
    return x.reshape(batch_shape + (-1,))

  def decode(self, latents: jnp.ndarray) -> jnp.ndarray:
    height, width = self._sizes()
    batch_shape = latents.shape[:-1]
    x = latents.reshape((-1, height[-1], width[-1], self.channels[-1]))
    for index, layer in enumerate(self.decoder):
      x = layer(x)
      if index < len(self.decoder) - 1:
        x = nn.relu(x)
    return x.reshape(batch_shape + tuple(self.image_shape))

  def __call__(self, observations: jnp.ndarray) -> jnp.ndarray:
    return self.decode(self.encode(observations))


@gin.configurable
class MLPAutoencoder(nn.Module):
  """ConvAutoencoder's interface for vector observations of `observation_shape` (DeepSea): ReLU
  layers of hidden_sizes, a linear latent (a ReLU one can die at DeepSea's sizes), the hidden
  sizes mirrored back to a linear reconstruction."""
  observation_shape: Optional[Sequence[int]] = None
  hidden_sizes: Sequence[int] = (64,)
  latent_size: int = 32
  input_scale: float = 1.0

  def setup(self):
    shape = errors.require_binding(self.observation_shape, 'MLPAutoencoder.observation_shape')
    self.encoder = [nn.Dense(size, kernel_init=xavier_uniform())
                    for size in tuple(self.hidden_sizes) + (self.latent_size,)]
    self.decoder = [nn.Dense(size, kernel_init=xavier_uniform())
                    for size in tuple(reversed(self.hidden_sizes)) + (math.prod(shape),)]

  def encode(self, observations: jnp.ndarray) -> jnp.ndarray:
    batch_shape = observations.shape[:observations.ndim - len(self.observation_shape)]
    x = observations.astype(jnp.float32).reshape(batch_shape + (-1,)) * self.input_scale
    return _mlp(self.encoder, x, nn.relu)

  def decode(self, latents: jnp.ndarray) -> jnp.ndarray:
    x = _mlp(self.decoder, latents, nn.relu)
    return x.reshape(latents.shape[:-1] + tuple(self.observation_shape))

  def __call__(self, observations: jnp.ndarray) -> jnp.ndarray:
    return self.decode(self.encode(observations))


def _mlp(layers, x: jnp.ndarray, activation, activate_last: bool = False) -> jnp.ndarray:
  """The layers in turn, `activation` between them (and after the last with activate_last)."""
  for index, layer in enumerate(layers):
    x = layer(x)
    if activate_last or index < len(layers) - 1:
      x = activation(x)
  return x


class TanhMLP(nn.Module):
  """tanh layers of hidden_sizes, then a linear layer of one output, squeezed: (...,)."""
  hidden_sizes: Sequence[int]

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    layers = [nn.Dense(size, kernel_init=xavier_uniform())
              for size in tuple(self.hidden_sizes) + (1,)]
    return _mlp(layers, x, jnp.tanh)[..., 0]


@gin.configurable
class TerminalNetwork(nn.Module):
  """Latent (..., latent_size) -> predicted terminal flag (...,), trained with MSE on 0 / 1."""
  hidden_sizes: Sequence[int] = (1536, 1536, 1536)

  @nn.compact
  def __call__(self, latents: jnp.ndarray) -> jnp.ndarray:
    return TanhMLP(self.hidden_sizes, name='mlp')(latents.astype(jnp.float32))


@gin.configurable
class ValueNetwork(nn.Module):
  """V(z, h) (...,) on [z, h] (the reference's order): four tanh layers of 1536 + 756."""
  hidden_sizes: Sequence[int] = (2292, 2292, 2292, 2292)

  @nn.compact
  def __call__(self, latents: jnp.ndarray, hidden: jnp.ndarray) -> jnp.ndarray:
    inputs = jnp.concatenate([latents.astype(jnp.float32), hidden], -1)
    return TanhMLP(self.hidden_sizes, name='mlp')(inputs)


@gin.configurable
class TransitionModel(nn.Module):
  """The recurrent transition model without its last layer.

  __call__(hidden (..., hidden_size), latents (..., latent_size), actions (...,) int) returns
  (h' = GRU(hidden, [z, one-hot a]), features = MLP([h', z, one-hot a]) (..., mlp_sizes[-1])).
  The last layer features -> (next latent, reward) is the parameter subtree 'last_layer', created
  by init (call init with __call__'s arguments) but never applied here: see `LastLayer`. `recur`
  and `features` are the two halves, so a sequence scans the GRU alone and runs the MLP on every
  step at once. With activate_features off the features are affine in the previous layer's tanh
  units: a last width above the previous one's + 1 only adds dependent features (the posterior's
  prior precision keeps X^T X invertible all the same).
  """
  num_actions: Optional[int] = None
  latent_size: int = 1536
  hidden_size: int = 756
  mlp_sizes: Sequence[int] = (2292, 2292, 2292, 2292)
  activate_features: bool = False

  def setup(self):
    errors.require_binding(self.num_actions, 'TransitionModel.num_actions')
    if not self.mlp_sizes:
      raise errors.InvalidSettingError('TransitionModel.mlp_sizes needs at least one layer')
    self.cell = nn.GRUCell(self.hidden_size)
    self.layers = [nn.Dense(size, kernel_init=xavier_uniform()) for size in self.mlp_sizes]
    self.last_layer = nn.Dense(self.latent_size + 1, kernel_init=xavier_uniform())

  def _inputs(self, latents: jnp.ndarray, actions: jnp.ndarray) -> jnp.ndarray:
    one_hot = jax.nn.one_hot(actions, self.num_actions, dtype=jnp.float32)
    return jnp.concatenate([latents.astype(jnp.float32), one_hot], -1)

  def recur(self, hidden: jnp.ndarray, latents: jnp.ndarray, actions: jnp.ndarray) -> jnp.ndarray:
    new_hidden, _ = self.cell(hidden, self._inputs(latents, actions))
    return new_hidden

  def features(self, new_hidden: jnp.ndarray, latents: jnp.ndarray,
               actions: jnp.ndarray) -> jnp.ndarray:
    x = jnp.concatenate([new_hidden, self._inputs(latents, actions)], -1)
    return _mlp(self.layers, x, jnp.tanh, self.activate_features)

  def __call__(self, hidden: jnp.ndarray, latents: jnp.ndarray,
               actions: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
    new_hidden = self.recur(hidden, latents, actions)
    features = self.features(new_hidden, latents, actions)
    if self.is_initializing():
      self.last_layer(features)
    return new_hidden, features


class LastLayer(NamedTuple):
  """The transition model's last layer: prediction = features @ kernel + bias, the first
  latent_size columns the next latent and the last one the reward."""
  kernel: jnp.ndarray  # (k, m), the posterior's W layout
  bias: jnp.ndarray  # (m,)


def trained_last_layer(params) -> LastLayer:
  """The last layer the transition model learns with `transition_loss` (the posterior's mean
  replaces it when acting)."""
  layer = params['params']['last_layer']
  return LastLayer(layer['kernel'], layer['bias'])


def sampled_last_layer(weights: jnp.ndarray, bias: Optional[jnp.ndarray] = None) -> LastLayer:
  """A posterior draw W (k, m) as a last layer; bias zero unless given (see the docstring)."""
  if bias is None:
    bias = jnp.zeros(weights.shape[-1], weights.dtype)
  return LastLayer(weights, bias)


def apply_last_layer(last_layer: LastLayer, features: jnp.ndarray) -> jnp.ndarray:
  """features (..., k) @ kernel + bias -> (..., m). In full float32: a draw differs from the mean
  by less than TF32's rounding of the weights would."""
  return jnp.matmul(features, last_layer.kernel, precision=lax.Precision.HIGHEST) + last_layer.bias


class Networks(NamedTuple):
  """The module definitions the planning functions need (hashable: static under jax.jit)."""
  transition: TransitionModel
  terminal: TerminalNetwork
  value: ValueNetwork


class SampledModel(NamedTuple):
  """One model of the world: the transition model's parameters (GRU and MLP), the terminal
  network's and a last layer (a posterior draw, or the mean for evaluation)."""
  transition_params: dict
  terminal_params: dict
  last_layer: LastLayer


class Prediction(NamedTuple):
  hidden: jnp.ndarray  # (..., hidden_size) the GRU state after the step
  next_latents: jnp.ndarray  # (..., latent_size)
  rewards: jnp.ndarray  # (...,)


class RecurrentStates(NamedTuple):
  before: jnp.ndarray  # (..., T, hidden_size) the state each step's cell starts from (after resets)
  after: jnp.ndarray  # (..., T, hidden_size) the state it returns


class EpisodeFeatures(NamedTuple):
  features: jnp.ndarray  # (..., T, k) the posterior's X
  hidden: jnp.ndarray  # (..., T, hidden_size) the GRU state after each step: [..., -1, :] goes on


class Lookahead(NamedTuple):
  values: jnp.ndarray  # (..., A) r_a + gamma V(z'_a, h'_a) 1(terminal(z'_a) < threshold)
  rewards: jnp.ndarray  # (..., A)
  next_latents: jnp.ndarray  # (..., A, latent_size)
  terminals: jnp.ndarray  # (..., A) the terminal network's raw output
  next_hidden: jnp.ndarray  # (..., A, hidden_size): carry [action] when acting


class ValueTargets(NamedTuple):
  targets: jnp.ndarray  # (..., T) y_t, no gradient
  hidden: jnp.ndarray  # (..., T, hidden_size) h_t: the value network's input is (z_t, h_t)
  final_hidden: jnp.ndarray  # (..., hidden_size) h after the last step: the next chunk's start


def _masked_mean(values: jnp.ndarray, mask: Optional[jnp.ndarray]) -> jnp.ndarray:
  """Mean of values, or of those where mask (broadcast to them) is 1; 0 when nothing counts."""
  if mask is None:
    return jnp.mean(values)
  mask = jnp.broadcast_to(jnp.asarray(mask, values.dtype), values.shape)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def recurrent_states(transition: TransitionModel, params, latents: jnp.ndarray,
                     actions: jnp.ndarray, firsts: Optional[jnp.ndarray] = None,
                     hidden: Optional[jnp.ndarray] = None) -> RecurrentStates:
  """The GRU run along stored steps, a jax.lax.scan over the time axis.

  latents (..., T, latent_size), actions (..., T) int, firsts (..., T): 1 where an episode starts,
  which resets the state to 0 before that step. hidden (..., hidden_size) is the state before the
  first step (default 0). Leading axes (none, or a batch of sequences) run in parallel.
  """
  time_axis = actions.ndim - 1
  if hidden is None:
    hidden = jnp.zeros(actions.shape[:-1] + (transition.hidden_size,), jnp.float32)
  if firsts is None:
    firsts = jnp.zeros(actions.shape, bool)

  def step(state, inputs):
    latent, action, first = inputs
    state = jnp.where(first[..., None], jnp.zeros_like(state), state)
    new_state = transition.apply(params, state, latent, action, method=TransitionModel.recur)
    return new_state, (state, new_state)

  time_major = [jnp.moveaxis(jnp.asarray(x), time_axis, 0) for x in (latents, actions, firsts)]
  _, states = lax.scan(step, hidden, tuple(time_major))
  return RecurrentStates(*(jnp.moveaxis(x, 0, time_axis) for x in states))


def episode_features(transition: TransitionModel, params, latents: jnp.ndarray,
                     actions: jnp.ndarray, firsts: jnp.ndarray,
                     hidden: Optional[jnp.ndarray] = None) -> EpisodeFeatures:
  """The penultimate features of every stored transition: the posterior's X (and its targets Y
  are [next latent, reward] of the same transitions).

  The GRU runs from h = 0 (or `hidden`, to continue a previous chunk) along the transitions in
  their stored order and restarts from 0 at every episode start (firsts); the MLP then runs on
  all of them at once. Shapes as `recurrent_states`: one stream (T, ...) of whole episodes, or a
  batch of streams (B, T, ...).
  """
  states = recurrent_states(transition, params, latents, actions, firsts, hidden)
  features = transition.apply(params, states.after, latents, actions,
                              method=TransitionModel.features)
  return EpisodeFeatures(features, states.after)


def predict_next(transition: TransitionModel, params, last_layer: LastLayer, hidden: jnp.ndarray,
                 latents: jnp.ndarray, actions: jnp.ndarray) -> Prediction:
  """One step of the model with the given last layer (trained, posterior mean or a draw):
  (h', next latent, reward) for hidden (..., H), latents (..., latent_size), actions (...,)."""
  new_hidden, features = transition.apply(params, hidden, latents, actions)
  output = apply_last_layer(last_layer, features)
  return Prediction(new_hidden, output[..., :-1], output[..., -1])


def transition_loss(transition: TransitionModel, params, hidden: jnp.ndarray,
                    latents: jnp.ndarray, actions: jnp.ndarray, next_latents: jnp.ndarray,
                    rewards: jnp.ndarray, mask: Optional[jnp.ndarray] = None,
                    firsts: Optional[jnp.ndarray] = None) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """(loss, final hidden) of one window of truncated BPTT, for value_and_grad(has_aux=True).

  Arrays are (B, W, ...) (or (W, ...)): latents z_t and next_latents z_{t+1} from the encoder
  (constants here: the reference does not train the encoder through this loss), rewards already
  squashed. The GRU starts from `hidden` (B, H) with its gradient stopped, so gradients flow back
  through the W steps of the window only; final hidden, also stopped, starts the next window.
  The loss is the mean over steps (and batch) of each step's MSE over latent_size + 1 outputs,
  with the model's own last layer; mask (B, W) leaves out padding steps; firsts resets h inside.
  """
  hidden = lax.stop_gradient(hidden)
  states = recurrent_states(transition, params, latents, actions, firsts, hidden)
  features = transition.apply(params, states.after, latents, actions,
                              method=TransitionModel.features)
  predictions = apply_last_layer(trained_last_layer(params), features)
  targets = jnp.concatenate([next_latents, rewards[..., None]], -1).astype(jnp.float32)
  step_errors = jnp.mean((predictions - targets) ** 2, axis=-1)
  return _masked_mean(step_errors, mask), lax.stop_gradient(states.after[..., -1, :])


def lookahead_values(networks: Networks, model: SampledModel, value_params, hidden: jnp.ndarray,
                     latents: jnp.ndarray, discount=DISCOUNT,
                     threshold=TERMINAL_THRESHOLD) -> Lookahead:
  """Every action's one-step value through the model: r_a + discount * V(z'_a, h'_a) when the
  terminal network predicts z'_a non-terminal (output < threshold), r_a otherwise.

  hidden (..., H) is the GRU state before the step, latents (..., latent_size) the current z.
  Acting takes the argmax (greedy_action) and carries next_hidden[action]; value_targets the max,
  with the target network's value_params.
  """
  num_actions = networks.transition.num_actions
  batch_shape = latents.shape[:-1]
  per_action = lambda x: jnp.broadcast_to(x[..., None, :], batch_shape + (num_actions,)
                                          + x.shape[-1:])
  actions = jnp.broadcast_to(jnp.arange(num_actions), batch_shape + (num_actions,))
  prediction = predict_next(networks.transition, model.transition_params, model.last_layer,
                            per_action(hidden), per_action(latents), actions)
  terminals = networks.terminal.apply(model.terminal_params, prediction.next_latents)
  next_values = networks.value.apply(value_params, prediction.next_latents, prediction.hidden)
  continuing = (terminals < threshold).astype(next_values.dtype)
  values = prediction.rewards + discount * next_values * continuing
  return Lookahead(values, prediction.rewards, prediction.next_latents, terminals,
                   prediction.hidden)


def greedy_action(key: jax.Array, values: jnp.ndarray, rtol: float = 1e-5,
                  atol: float = 1e-8) -> jnp.ndarray:
  """argmax over the last axis, uniformly at random among the actions whose value is within
  numpy.isclose's tolerance of the maximum (the reference's tie-break); one draw per row."""
  best = jnp.max(values, axis=-1, keepdims=True)
  ties = jnp.abs(values - best) <= atol + rtol * jnp.abs(best)
  return jax.random.categorical(key, jnp.where(ties, 0.0, -jnp.inf), axis=-1)


def value_targets(networks: Networks, model: SampledModel, target_value_params,
                  latents: jnp.ndarray, actions: jnp.ndarray, hidden: Optional[jnp.ndarray] = None,
                  firsts: Optional[jnp.ndarray] = None, discount=DISCOUNT,
                  threshold=TERMINAL_THRESHOLD) -> ValueTargets:
  """Value targets along recorded sequences: y_t = max_a lookahead_values(h_t, z_t)[a] with the
  target parameters.

  latents (B, T, latent_size), actions (B, T) recorded; h_0 = hidden (default 0, the reference's
  choice at every sampled sequence) and h_{t+1} = GRU(h_t, [z_t, a_t]) along the recorded steps
  (resets at firsts). The value network then learns V(z_t, h_t) -> y_t. The GRU runs first over
  the sequence, then every step's look-ahead at once: B * T * A rows, so call this on chunks of
  the sequence (the reference's target-copy period, 4 steps), carrying final_hidden.
  """
  states = recurrent_states(networks.transition, model.transition_params, latents, actions,
                            firsts, hidden)
  lookahead = lookahead_values(networks, model, target_value_params, states.before, latents,
                               discount, threshold)
  targets = lax.stop_gradient(jnp.max(lookahead.values, axis=-1))
  return ValueTargets(targets, states.before, states.after[..., -1, :])


def value_loss(value: ValueNetwork, params, latents: jnp.ndarray, hidden: jnp.ndarray,
               targets: jnp.ndarray, mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """MSE of V(z, h) against the (stopped) targets of value_targets; mask leaves out padding."""
  predictions = value.apply(params, latents, hidden)
  return _masked_mean((predictions - lax.stop_gradient(targets)) ** 2, mask)


def terminal_loss(terminal: TerminalNetwork, params, next_latents: jnp.ndarray,
                  terminals: jnp.ndarray, mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """MSE of the terminal network on encoded real next observations against the 0 / 1 flags."""
  predictions = terminal.apply(params, next_latents)
  return _masked_mean((predictions - terminals.astype(predictions.dtype)) ** 2, mask)


def reconstruction_loss(autoencoder, params, observations: jnp.ndarray,
                        mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """MSE of decode(encode(o)) against o * input_scale (the frames in [0, 1]), any autoencoder
  here. mask, shaped as the observations' batch axes, leaves out padding observations: the MSE
  is then each observation's mean over its elements, averaged over those that count."""
  targets = observations.astype(jnp.float32) * autoencoder.input_scale
  squared_errors = (autoencoder.apply(params, observations) - targets) ** 2
  if mask is None:
    return jnp.mean(squared_errors)
  per_observation = jnp.mean(squared_errors.reshape(jnp.shape(mask) + (-1,)), axis=-1)
  return _masked_mean(per_observation, mask)
