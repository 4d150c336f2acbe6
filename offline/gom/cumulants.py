"""GOM's cumulants: random Fourier features of the state, phi(s) = [sin(f(s)), cos(f(s)), 1].

f is `num_features` fixed random ReLU networks (the reference: 64 networks of two hidden layers of
32 units), each mapping the state to one scalar; phi has 2 * num_features + 1 dimensions, the last
a constant 1 so that a reward weight can carry a bias. The networks are never trained: their
parameters are drawn once from a fixed key and are part of what a trained GOM stores.

The networks' weights are stacked on a leading axis of `num_features` and evaluated with one vmap
(the reference does the same with 1x1 grouped convolutions), so all of f is a few batched matmuls.

Initialisation (the reference's, flax's defaults for its convolutions): every kernel lecun-normal
(truncated normal of variance 1 / fan_in, the fan-in of one network's layer: state_dim, then 32),
biases zero. With zero biases f is positively homogeneous, f(c s) = c f(s), and for one random
network the variance of f(s) is ||s||^2 / (4 state_dim): each ReLU halves the second moment and
lecun scaling keeps it otherwise. So f(s) spreads over about rms(s) / 2 radians, where rms(s) is
the state's root-mean-square coordinate, and sin/cos vary across states as long as the states are
not all near the origin (for which phi is [0, ..., 1, ..., 1]); the reference feeds raw D4RL
observations, whose positions span tens of units. `bias_stddev` > 0 draws normal biases instead,
which breaks the homogeneity (f(0) no longer 0) should a domain's states sit near the origin.
"""

import functools
from typing import Dict, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

CumulantParams = Dict[str, Dict[str, jnp.ndarray]]


def _layer_names(num_hidden: int) -> Tuple[str, ...]:
  return tuple(f'hidden_{index}' for index in range(num_hidden)) + ('output',)


def init_cumulants(key: jax.Array, state_dim: int, num_features: int = 64,
                   hidden_sizes: Sequence[int] = (32, 32),
                   bias_stddev: float = 0.0) -> CumulantParams:
  """The random networks' parameters: {'hidden_0', ..., 'output'}, each {'kernel': [num_features,
  fan_in, fan_out], 'bias': [num_features, fan_out]} (fan_out 1 for 'output'). The same key gives
  the same parameters; see the module docstring for the initialisation."""
  return _init_cumulants(key, jnp.asarray(bias_stddev, jnp.float32), int(state_dim),
                         int(num_features), tuple(int(size) for size in hidden_sizes))


# Jitted because the initialisers' many small ops are slow one by one; the sizes fix the shapes.
@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _init_cumulants(key: jax.Array, bias_stddev: jnp.ndarray, state_dim: int, num_features: int,
                    hidden_sizes: Tuple[int, ...]) -> CumulantParams:
  sizes = (state_dim,) + hidden_sizes + (1,)
  shapes = [(num_features, fan_in, fan_out) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
  # One draw for every kernel and one for every bias, cut into the layers' shapes: the random
  # number generator dominates the compile, once per call site.
  kernel_key, bias_key = jax.random.split(key)
  kernel_counts = [int(np.prod(shape)) for shape in shapes]
  bias_counts = [num_features * fan_out for fan_out in sizes[1:]]
  # Lecun normal as flax draws it: a normal truncated to +-2 standard deviations, rescaled to
  # variance 1 / fan_in (0.8796 is the truncated unit normal's standard deviation).
  kernels = jax.random.truncated_normal(kernel_key, -2.0, 2.0, (sum(kernel_counts),))
  biases = bias_stddev * jax.random.normal(bias_key, (sum(bias_counts),))
  params = {}
  kernel_start = bias_start = 0
  for name, shape, kernel_count, bias_count in zip(_layer_names(len(hidden_sizes)), shapes,
                                                   kernel_counts, bias_counts):
    scale = 1.0 / (np.sqrt(shape[1]) * 0.87962566103423978)
    params[name] = {
        'kernel': scale * kernels[kernel_start:kernel_start + kernel_count].reshape(shape),
        'bias': biases[bias_start:bias_start + bias_count].reshape(num_features, shape[2])}
    kernel_start += kernel_count
    bias_start += bias_count
  return params


def _one_network(layers: Sequence[Dict[str, jnp.ndarray]], states: jnp.ndarray) -> jnp.ndarray:
  """One random network over states [N, state_dim] -> [N]."""
  hidden = states
  for layer in layers[:-1]:
    hidden = jax.nn.relu(hidden @ layer['kernel'] + layer['bias'])
  return (hidden @ layers[-1]['kernel'] + layers[-1]['bias'])[:, 0]


def random_features(params: CumulantParams, states: jnp.ndarray) -> jnp.ndarray:
  """f(s): states [..., state_dim] -> [..., num_features], the arguments of sin and cos."""
  layers = [params[name] for name in _layer_names(len(params) - 1)]
  dtype = layers[0]['kernel'].dtype
  flat = jnp.asarray(states, dtype).reshape(-1, states.shape[-1])
  features = jax.vmap(_one_network, in_axes=(0, None), out_axes=-1)(layers, flat)
  return features.reshape(states.shape[:-1] + features.shape[-1:])


def cumulants(params: CumulantParams, states: jnp.ndarray) -> jnp.ndarray:
  """phi(s) = [sin(f(s)), cos(f(s)), 1]: states [..., state_dim] -> [..., 2 num_features + 1]."""
  features = random_features(params, states)
  bias = jnp.ones(features.shape[:-1] + (1,), features.dtype)
  return jnp.concatenate([jnp.sin(features), jnp.cos(features), bias], axis=-1)


def cumulant_dim(num_features: int) -> int:
  """The number of cumulants for `num_features` random networks: 2 num_features + 1."""
  return 2 * int(num_features) + 1


def cumulant_bounds(num_features: int) -> Tuple[np.ndarray, np.ndarray]:
  """(low, high) [2 num_features + 1] float32: [-1, 1] for every sine and cosine, [0, 1] for the
  constant. The learner scales psi to [-1, 1] by (low, high) / (1 - gamma); the constant's psi is
  always 1 / (1 - gamma), mapped to +1 by the reference's [0, 1] (a range of [1, 1] would be empty
  and divide by zero)."""
  low = np.concatenate([-np.ones(2 * int(num_features)), [0.0]]).astype(np.float32)
  high = np.ones(cumulant_dim(num_features), np.float32)
  return low, high

