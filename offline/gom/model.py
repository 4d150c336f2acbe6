"""A trained GOM: the outcome model p(psi | s), the readout policy p(a | s, psi) and the cumulants,
as pure functions of one parameter pytree, and `OccupancyModel`, what a GOM run exports.

psi is the discounted sum of cumulants from s on, sum_k gamma^k phi(s_k) (s_0 = s), so w . psi is
the discounted return of any reward r(s) = w . phi(s). Both models are conditional diffusion
models (diffusion.py) over data scaled to [-1, 1]:

  - psi per dimension from [feature_low, feature_high] / (1 - gamma), the cumulants' range over
    the training data (the constant's range is [0, 1], as the reference: its own would be empty);
    a dimension whose range is empty on the data keeps a unit range instead of dividing by zero;
  - actions from the action space's bounds.

The readout policy's condition is [s, psi scaled to [-1, 1]] (the reference feeds psi unscaled,
up to 1 / (1 - gamma) = 100 in size, straight into a Dense layer; scaled, every input of its
first layer is of order one whatever gamma is, and nothing else changes).

The state a GOM conditions on and computes cumulants of is `observation[state_slice]` (PointMaze:
the ball's [x, y, vx, vy], leaving out the goal the data's controller drove to: GOM is task-free).
"""

from typing import Any, NamedTuple, Optional, Tuple

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from offline.gom import cumulants as gom_cumulants
from offline.gom import diffusion
from offline.gom import planning


class DiffusionParams(NamedTuple):
  """One diffusion model's trained state: its parameters, their EMA (what samples use) and the
  optimizer's state."""
  params: Any
  ema_params: Any
  optimizer_state: Any


class GOMState(NamedTuple):
  """The learner's device state. The cumulant networks and the features' range are fixed once
  computed (from a fixed key and from the data), kept here so checkpoints and exports carry them."""
  outcome: DiffusionParams
  policy: DiffusionParams
  cumulant_params: Any
  feature_low: jnp.ndarray
  feature_high: jnp.ndarray


class GOMNetworks(NamedTuple):
  """What the pure functions need besides parameters (static under jit)."""
  outcome: Any  # a FiLMResidualDenoiser over psi, conditioned on states
  policy: Any  # a FiLMResidualDenoiser over actions, conditioned on [state, scaled psi]
  schedule: diffusion.VPSchedule
  gamma: float
  sampling_steps: int  # DDIM steps of every sample (TD targets, planning, actions)
  cumulant_input_scale: float  # states are multiplied by this before the random networks


def psi_bounds(networks: GOMNetworks, feature_low: jnp.ndarray,
               feature_high: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """(low, high) of psi: the features' range / (1 - gamma), an empty range widened to one unit."""
  low = feature_low / (1.0 - networks.gamma)
  high = feature_high / (1.0 - networks.gamma)
  return low, jnp.where(high > low, high, low + 1.0)


def scale_psi(psi: jnp.ndarray, low: jnp.ndarray, high: jnp.ndarray) -> jnp.ndarray:
  return (psi - low) / (high - low) * 2.0 - 1.0


def unscale_psi(scaled: jnp.ndarray, low: jnp.ndarray, high: jnp.ndarray) -> jnp.ndarray:
  return (scaled + 1.0) / 2.0 * (high - low) + low


def features(networks: GOMNetworks, cumulant_params: Any, states: jnp.ndarray) -> jnp.ndarray:
  """phi(s) [..., D] of states [..., state_dim]."""
  return gom_cumulants.cumulants(cumulant_params, networks.cumulant_input_scale * states)


def denoiser_fn(module: Any, params: Any) -> diffusion.DenoiserFn:
  return lambda x, t, condition: module.apply({'params': params}, x, t, condition)


def sample_scaled_psi(networks: GOMNetworks, params: Any, states: jnp.ndarray, noise: jnp.ndarray,
                      guidance: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """psi scaled to [-1, 1], [N, D], sampled by deterministic DDIM from `noise` [N, D] given states
  [N, state_dim], by the outcome model with `params`, optionally guided (diffusion.ddim_sample)."""
  return diffusion.ddim_sample(denoiser_fn(networks.outcome, params), networks.schedule, states,
                               noise, networks.sampling_steps, guidance=guidance)


def outcome_targets(features_now: jnp.ndarray, next_psi: jnp.ndarray, gamma: float,
                    terminated: jnp.ndarray) -> jnp.ndarray:
  """The distributional TD target of psi: phi(s) + gamma psi(s'), psi(s') a sample of the next
  state's outcome; a terminal transition's future is absorbing at zero cumulants."""
  continuing = 1.0 - jnp.asarray(terminated, features_now.dtype)
  return features_now + gamma * continuing[..., None] * next_psi


def sample_actions(networks: GOMNetworks, params: Any, states: jnp.ndarray,
                   scaled_psi: jnp.ndarray, noise: jnp.ndarray) -> jnp.ndarray:
  """Actions in [-1, 1], [N, action_dim], sampled by deterministic DDIM from `noise` given states
  and scaled psi (the readout policy with `params`)."""
  condition = jnp.concatenate([states, scaled_psi], axis=-1)
  return diffusion.ddim_sample(denoiser_fn(networks.policy, params), networks.schedule, condition,
                               noise, networks.sampling_steps)


class OccupancyModel:
  """A trained GOM, as `load_component` hands it to agents (agents/gom.py).

  Sampling uses the EMA parameters, as the reference's does. Host-facing methods take batches of
  observations (the state is `observation[state_slice]`) and return numpy arrays; the pure
  functions of this module, with `networks` and `state`, are what jitted code calls.
  """

  def __init__(self, networks: GOMNetworks, state: GOMState, state_slice: Tuple[int, int],
               observation_space: gymnasium.Space, action_space: gymnasium.Space):
    self.networks = networks
    self.state = state
    self.state_slice = tuple(int(index) for index in state_slice)
    self.observation_space = observation_space
    self.action_space = action_space
    self.gamma = networks.gamma
    self.feature_dim = int(np.shape(state.feature_low)[0])
    self.action_dim = int(np.prod(action_space.shape))
    self.psi_low, self.psi_high = psi_bounds(networks, state.feature_low, state.feature_high)
    self._features = jax.jit(lambda params, states: features(networks, params, states))
    self._sample_psi = jax.jit(self._sample_psi_unjitted)
    self._act = jax.jit(self._act_unjitted, static_argnames=('planner', 'num_samples',
                                                             'num_elites'))

  def states(self, observations: Any) -> jnp.ndarray:
    """The GOM state of each observation [N, ...]: the flat observation's `state_slice`."""
    flat = jnp.asarray(observations, jnp.float32).reshape(np.shape(observations)[0], -1)
    return flat[:, self.state_slice[0]:self.state_slice[1]]

  def features(self, observations: Any) -> np.ndarray:
    """phi of each observation's state: [N, feature_dim]."""
    return np.asarray(self._features(self.state.cumulant_params, self.states(observations)))

  def _sample_psi_unjitted(self, state: GOMState, states: jnp.ndarray, noise: jnp.ndarray):
    low, high = psi_bounds(self.networks, state.feature_low, state.feature_high)
    scaled = sample_scaled_psi(self.networks, state.outcome.ema_params, states, noise)
    return unscale_psi(scaled, low, high)

  def sample_psi(self, observations: Any, num_samples: int, key: jax.Array) -> np.ndarray:
    """`num_samples` outcomes psi per observation: [N, num_samples, feature_dim]."""
    states = self.states(observations)
    repeated = jnp.repeat(states, num_samples, axis=0)
    noise = jax.random.normal(key, (repeated.shape[0], self.feature_dim), jnp.float32)
    psi = self._sample_psi(self.state, repeated, noise)
    return np.asarray(psi).reshape(states.shape[0], num_samples, self.feature_dim)

  def _act_unjitted(self, state: GOMState, observation: jnp.ndarray, weights: jnp.ndarray,
                    key: jax.Array, guidance_coefficient: jnp.ndarray, planner: str,
                    num_samples: int, num_elites: int):
    states = self.states(observation[None])
    low, high = psi_bounds(self.networks, state.feature_low, state.feature_high)
    psi_key, action_key = jax.random.split(key)
    if planner == 'random_shooting':
      noise = jax.random.normal(psi_key, (num_samples, self.feature_dim), jnp.float32)
      scaled = sample_scaled_psi(self.networks, state.outcome.ema_params,
                                 jnp.repeat(states, num_samples, axis=0), noise)
      best, values = planning.random_shooting(unscale_psi(scaled, low, high), weights,
                                              num_elites)
      best_scaled = scale_psi(best, low, high)[None]
    else:
      noise = jax.random.normal(psi_key, (1, self.feature_dim), jnp.float32)
      guidance = planning.guidance_vector(weights, low, high, guidance_coefficient)
      best_scaled = sample_scaled_psi(self.networks, state.outcome.ema_params, states, noise,
                                      guidance)
      values = unscale_psi(best_scaled, low, high) @ weights
    action_noise = jax.random.normal(action_key, (1, self.action_dim), jnp.float32)
    action = sample_actions(self.networks, state.policy.ema_params, states, best_scaled,
                            action_noise)[0]
    return action, jnp.max(values)

  def act(self, observation: Any, weights: Any, key: jax.Array, planner: str = 'guided_diffusion',
          num_samples: int = 1000, num_elites: int = 1,
          guidance_coefficient: float = 0.5) -> Tuple[jax.Array, jax.Array]:
    """Plans the best outcome for reward weights `weights` from one observation and samples the
    readout policy's action for it, in one jitted call: (action in [-1, 1]^action_dim, the
    planned outcome's value w . psi*). `planner`: 'random_shooting' (the best `num_elites` of
    `num_samples` sampled outcomes by w . psi, averaged) or 'guided_diffusion' (one outcome
    sampled with the score tilted toward larger w . psi; planning.guidance_vector)."""
    if planner not in planning.PLANNERS:
      raise ValueError(f'unknown planner {planner!r}; choose one of {planning.PLANNERS}')
    return self._act(self.state, jnp.asarray(observation, jnp.float32),
                     jnp.asarray(weights, jnp.float32), key,
                     jnp.asarray(guidance_coefficient, jnp.float32), planner=planner,
                     num_samples=int(num_samples), num_elites=int(num_elites))
