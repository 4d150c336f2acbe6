"""`GOMLearner`: GOM's outcome model and readout policy, pre-trained offline on a task-free
dataset (METHODS.md, GOM; arXiv 2403.06328).

Each step, on one batch of transitions (s, a, s'):

  1. the distributional TD target psi = phi(s) + gamma psi_hat(s'), psi_hat sampled from the EMA
     copy of the outcome model by deterministic DDIM (`sampling_steps` steps) from fresh noise;
  2. the outcome model's epsilon-prediction loss on the target (scaled to [-1, 1]) given s;
  3. the readout policy's epsilon-prediction loss on a (scaled to [-1, 1]) given [s, target];
  4. an optimizer step for each (AdamW, linear warm-up then cosine decay; with
     `normalize_gradients`, every gradient first rescaled to global norm 1, as the reference
     does: a normalisation, not a clip), then each EMA copy moves toward its parameters.

`steps_per_call` steps run in one jitted scan (offline/device_data.py). A fraction of the episodes
is held out: `evaluate` reports both losses on them (`validation_outcome_loss`,
`validation_policy_loss`, with fixed noise, so the numbers move only as the models do) and how far
the sampled outcomes' constant cumulant is from its known value 1 / (1 - gamma)
(`constant_cumulant_error`, relative: a check on the TD recursion that needs no ground truth).
`export()` hands over an `OccupancyModel` (model.py).
"""

import functools
from typing import Any, Dict, Optional, Sequence, Tuple

import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents import base as agent_base
from agents import compilation
from agents.optimizers import create_optimizer
from offline import base
from offline import device_data
from offline.bc.learner import validation_episodes
from offline.gom import cumulants as gom_cumulants
from offline.gom import diffusion
from offline.gom import model as gom_model
from runner import errors


def normalize_by_global_norm(max_norm: float = 1.0) -> optax.GradientTransformation:
  """Rescales the whole update to global norm `max_norm` whatever its norm (the reference's
  `clip_by_global_norm`, which divides unconditionally; optax's clip only shrinks)."""

  def update(updates, state, params=None):
    del params
    norm = optax.global_norm(updates)
    factor = max_norm / jnp.maximum(norm, 1e-12)
    return jax.tree.map(lambda update: update * factor, updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def ema_update(ema_params: Any, params: Any, rate: float) -> Any:
  """ema <- rate * ema + (1 - rate) * params."""
  return optax.incremental_update(params, ema_params, 1.0 - rate)


def unit_actions(actions: np.ndarray, space: gymnasium.spaces.Box) -> np.ndarray:
  """Actions of a bounded Box mapped affinely onto [-1, 1], (N, action_dim) float32."""
  offset, scale = agent_base.box_offset_and_scale(space)
  scaled = (np.asarray(actions, np.float64).reshape(len(actions), -1) - offset) / scale
  return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def gom_losses(networks: gom_model.GOMNetworks, outcome_params: Any, policy_params: Any,
               state: gom_model.GOMState, batch: Dict[str, jnp.ndarray], key: jax.Array,
               target_noise: Optional[jnp.ndarray] = None):
  """(outcome loss, policy loss, scaled TD targets) on one batch; the targets carry no gradient.
  `target_noise` fixes the DDIM noise of the targets (default: drawn from `key`)."""
  noise_key, outcome_key, policy_key = jax.random.split(key, 3)
  low, high = gom_model.psi_bounds(networks, state.feature_low, state.feature_high)
  if target_noise is None:
    target_noise = jax.random.normal(noise_key, (batch['state'].shape[0], low.shape[0]))
  next_scaled = gom_model.sample_scaled_psi(networks, state.outcome.ema_params,
                                            batch['next_state'], target_noise)
  phi = gom_model.features(networks, state.cumulant_params, batch['state'])
  target = gom_model.outcome_targets(phi, gom_model.unscale_psi(next_scaled, low, high),
                                     networks.gamma, batch['terminated'])
  scaled_target = jax.lax.stop_gradient(gom_model.scale_psi(target, low, high))
  outcome_loss = diffusion.epsilon_loss(gom_model.denoiser_fn(networks.outcome, outcome_params),
                                        networks.schedule, scaled_target, batch['state'],
                                        outcome_key)
  condition = jnp.concatenate([batch['state'], scaled_target], axis=-1)
  policy_loss = diffusion.epsilon_loss(gom_model.denoiser_fn(networks.policy, policy_params),
                                       networks.schedule, batch['action'], condition, policy_key)
  return outcome_loss, policy_loss, scaled_target


def gom_update(networks: gom_model.GOMNetworks, optimizer: optax.GradientTransformation,
               ema_rate: float, state: gom_model.GOMState, batch: Dict[str, jnp.ndarray],
               key: jax.Array):
  """One training step of both models (see the module docstring); statistics: both losses and
  the targets' mean constant cumulant times (1 - gamma) (1 when the recursion is right)."""

  def objective(both_params):
    outcome_loss, policy_loss, target = gom_losses(networks, both_params[0], both_params[1],
                                                   state, batch, key)
    return outcome_loss + policy_loss, (outcome_loss, policy_loss, target)

  both = (state.outcome.params, state.policy.params)
  (_, (outcome_loss, policy_loss, target)), (outcome_gradients, policy_gradients) = (
      jax.value_and_grad(objective, has_aux=True)(both))

  def step(model: gom_model.DiffusionParams, gradients: Any) -> gom_model.DiffusionParams:
    updates, optimizer_state = optimizer.update(gradients, model.optimizer_state, model.params)
    params = optax.apply_updates(model.params, updates)
    return gom_model.DiffusionParams(params, ema_update(model.ema_params, params, ema_rate),
                                     optimizer_state)

  state = state._replace(outcome=step(state.outcome, outcome_gradients),
                         policy=step(state.policy, policy_gradients))
  low, high = gom_model.psi_bounds(networks, state.feature_low, state.feature_high)
  constant = gom_model.unscale_psi(target, low, high)[:, -1] * (1.0 - networks.gamma)
  return state, {'outcome_loss': outcome_loss, 'policy_loss': policy_loss,
                 'target_constant_cumulant': jnp.mean(constant)}


@gin.configurable
class GOMLearner(base.StateLearner):
  """GOM's outcome model and readout policy (see the module docstring).

  Cumulants: `num_features` random networks of `cumulant_hidden_sizes` drawn from `cumulant_seed`
  (fixed, not the run's seed: every run of a config shares its cumulants), on the state times
  `cumulant_input_scale`, with `cumulant_bias_stddev` (cumulants.py). `state_slice`: (start,
  stop) of the flat observation that is the state (None: all of it). `gamma`: the discount.
  Both diffusion models: FiLMResidualDenoiser with `outcome_dims` / `policy_dims`,
  `blocks_per_level`, `time_embedding_dim`; the VP-SDE of `diffusion_steps`, `beta_min`,
  `beta_max`; `sampling_steps` DDIM steps for every sample; EMA rate `ema_rate`.
  Optimisation: `optimizer` (the zoo's create_optimizer) as AdamW with `learning_rate`,
  `weight_decay`, `warmup_steps` and a cosine decay over `decay_steps`; `normalize_gradients`;
  `batch_size` transitions per step; `steps_per_call` steps per jitted call.
  """

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               dataset: Optional[Any] = None,
               state_slice: Optional[Tuple[int, int]] = None,
               num_features: int = 64,
               cumulant_hidden_sizes: Sequence[int] = (32, 32),
               cumulant_seed: int = 0,
               cumulant_input_scale: float = 1.0,
               cumulant_bias_stddev: float = 0.0,
               gamma: float = 0.99,
               outcome_dims: Sequence[int] = (256, 512, 1024),
               policy_dims: Sequence[int] = (256, 512, 1024),
               blocks_per_level: int = 2,
               time_embedding_dim: int = 256,
               diffusion_steps: int = 1000,
               beta_min: float = 0.1,
               beta_max: float = 20.0,
               sampling_steps: int = 50,
               ema_rate: float = 0.995,
               learning_rate: float = 3e-4,
               weight_decay: float = 1e-6,
               warmup_steps: int = 500,
               decay_steps: int = 100000,
               normalize_gradients: bool = True,
               optimizer: Any = create_optimizer,
               batch_size: int = 2048,
               steps_per_call: int = 10,
               validation_fraction: float = 0.05,
               validation_rows: int = 1024):
    super().__init__(observation_space, action_space, seed, summary_writer, dataset)
    name = type(self).__name__
    agent_base.require_space(name, 'observation', observation_space, (gymnasium.spaces.Box,))
    agent_base.require_bounded_box(name, action_space)
    if not 0.0 <= gamma < 1.0:
      raise errors.InvalidSettingError(f'{name}.gamma must be in [0, 1), got {gamma}')
    if not 0.0 <= ema_rate < 1.0:
      raise errors.InvalidSettingError(f'{name}.ema_rate must be in [0, 1), got {ema_rate}')
    observation_size = int(np.prod(observation_space.shape))
    self.state_slice = ((0, observation_size) if state_slice is None else
                        base.checked_slice(name, 'state_slice', state_slice, observation_size))
    state_dim = self.state_slice[1] - self.state_slice[0]
    feature_dim = gom_cumulants.cumulant_dim(num_features)
    action_dim = int(np.prod(action_space.shape))
    self.validation_fraction = float(validation_fraction)
    self.validation_rows = int(validation_rows)
    self.networks = gom_model.GOMNetworks(
        outcome=diffusion.FiLMResidualDenoiser(feature_dim, tuple(outcome_dims),
                                               int(blocks_per_level), int(time_embedding_dim)),
        policy=diffusion.FiLMResidualDenoiser(action_dim, tuple(policy_dims),
                                              int(blocks_per_level), int(time_embedding_dim)),
        schedule=diffusion.vp_schedule(int(diffusion_steps), beta_min, beta_max),
        gamma=float(gamma), sampling_steps=int(sampling_steps),
        cumulant_input_scale=float(cumulant_input_scale))
    with errors.bad_input_from((ValueError,), f'{name}: the optimizer settings'):
      adamw = optimizer(name='adamw', learning_rate=learning_rate, weight_decay=weight_decay,
                        schedule='warmup_cosine', warmup_steps=int(warmup_steps),
                        decay_steps=int(decay_steps))
    self.optimizer = (optax.chain(normalize_by_global_norm(1.0), adamw) if normalize_gradients
                      else adamw)
    outcome_key, policy_key, self._base_key, self._evaluation_key = jax.random.split(
        jax.random.PRNGKey(seed), 4)
    cumulant_params = gom_cumulants.init_cumulants(
        jax.random.PRNGKey(cumulant_seed), state_dim, int(num_features),
        tuple(cumulant_hidden_sizes), cumulant_bias_stddev)
    one = lambda size: jnp.zeros((1, size), jnp.float32)  # noqa: E731
    zero_steps = jnp.zeros((1,), jnp.int32)
    outcome_params = jax.jit(self.networks.outcome.init)(
        outcome_key, one(feature_dim), zero_steps, one(state_dim))['params']
    policy_params = jax.jit(self.networks.policy.init)(
        policy_key, one(action_dim), zero_steps, one(state_dim + feature_dim))['params']
    low, high = gom_cumulants.cumulant_bounds(num_features)
    # One compiled call for the copies and the optimizer's zeros (op by op, each is a compile).
    diffusion_params = jax.jit(self._diffusion_params)
    self.state = gom_model.GOMState(
        diffusion_params(outcome_params), diffusion_params(policy_params),
        cumulant_params, jnp.asarray(low), jnp.asarray(high))
    self.trainer = device_data.ScannedTrainer(
        functools.partial(gom_update, self.networks, self.optimizer, float(ema_rate)),
        int(batch_size), int(steps_per_call))
    self._validation_losses = compilation.jit(self._validation_statistics)
    self._training_data: Optional[device_data.DeviceDataset] = None
    self._validation: Optional[Dict[str, np.ndarray]] = None
    if dataset is not None:
      self._prepare_data(dataset)

  def _diffusion_params(self, params: Any) -> gom_model.DiffusionParams:
    return gom_model.DiffusionParams(params, jax.tree.map(jnp.copy, params),
                                     self.optimizer.init(params))

  # -- data ----------------------------------------------------------------------------------------

  def _states(self, observations: np.ndarray) -> np.ndarray:
    flat = np.asarray(observations, np.float32).reshape(len(observations), -1)
    return flat[:, self.state_slice[0]:self.state_slice[1]]

  def _prepare_data(self, dataset: Any) -> None:
    name = type(self).__name__
    if (dataset.observation_space.shape != self.observation_space.shape
        or dataset.action_space.shape != self.action_space.shape):
      raise errors.BadInputError(f'{name}: the dataset {dataset.path!r} has observations '
                                 f'{dataset.observation_space} and actions '
                                 f'{dataset.action_space}, the learner {self.observation_space} '
                                 f'and {self.action_space}')
    transitions = dataset.transitions()
    rows = {'state': self._states(transitions['observation']),
            'next_state': self._states(transitions['next_observation']),
            'action': unit_actions(transitions['action'], self.action_space),
            'terminated': np.asarray(transitions['terminated'], np.float32)}
    if not len(rows['state']):
      raise errors.BadInputError(f'{name}: the dataset {dataset.path!r} has no steps to train on')
    for key, array in rows.items():
      if not np.all(np.isfinite(array)):
        raise errors.BadInputError(f'{name}: the dataset {dataset.path!r} has non-finite '
                                   f'{key.replace("_", " ")}s')
    lengths = np.asarray(dataset.episode_lengths, np.int64)
    held_out = np.zeros(len(lengths), bool)
    held_out[validation_episodes(len(lengths), self.validation_fraction, self.seed)] = True
    row_held_out = np.repeat(held_out, lengths)
    training = {key: array[~row_held_out] for key, array in rows.items()}
    low, high = self._feature_range(np.concatenate([training['state'],
                                                    training['next_state'][-1:]]))
    self.state = self.state._replace(feature_low=jnp.asarray(low), feature_high=jnp.asarray(high))
    kept = lengths[~held_out]
    self._training_data = device_data.DeviceDataset(training,
                                                    split_points=np.cumsum(kept) - kept)
    if held_out.any():
      chosen = np.random.default_rng(self.seed).permutation(int(row_held_out.sum()))
      chosen = np.sort(chosen[:self.validation_rows])
      self._validation = {key: array[row_held_out][chosen] for key, array in rows.items()}

  def _feature_range(self, states: np.ndarray, chunk: int = 65536) -> Tuple[np.ndarray,
                                                                            np.ndarray]:
    """The cumulants' per-dimension min and max over the states, the constant's set to [0, 1]
    (the reference's)."""
    phi = jax.jit(lambda params, batch: gom_model.features(self.networks, params, batch))
    low = high = None
    for start in range(0, len(states), chunk):
      values = np.asarray(phi(self.state.cumulant_params, states[start:start + chunk]))
      low = values.min(0) if low is None else np.minimum(low, values.min(0))
      high = values.max(0) if high is None else np.maximum(high, values.max(0))
    low[-1], high[-1] = 0.0, 1.0
    return low.astype(np.float32), high.astype(np.float32)

  # -- the Learner contract ------------------------------------------------------------------------

  def train(self, num_steps: int) -> Dict[str, float]:
    self.require_dataset()
    self.state, statistics = self.trainer.run(self.state, self._training_data, self._base_key,
                                              self.training_steps, num_steps)
    self.training_steps += num_steps
    return statistics

  def _validation_statistics(self, state: gom_model.GOMState, batch: Dict[str, jax.Array],
                             key: jax.Array) -> Dict[str, jax.Array]:
    outcome_loss, policy_loss, _ = gom_losses(self.networks, state.outcome.params,
                                              state.policy.params, state, batch, key)
    low, high = gom_model.psi_bounds(self.networks, state.feature_low, state.feature_high)
    noise = jax.random.normal(jax.random.fold_in(key, 1), (batch['state'].shape[0], low.shape[0]))
    psi = gom_model.unscale_psi(gom_model.sample_scaled_psi(
        self.networks, state.outcome.ema_params, batch['state'], noise), low, high)
    constant = psi[:, -1] * (1.0 - self.networks.gamma)
    return {'validation_outcome_loss': outcome_loss, 'validation_policy_loss': policy_loss,
            'constant_cumulant_error': jnp.mean(jnp.abs(constant - 1.0))}

  def evaluate(self, iteration: int) -> Dict[str, float]:
    """Held-out losses and the sampled outcomes' constant-cumulant error (nothing without
    held-out episodes); the same noise every time."""
    del iteration
    if self._validation is None:
      return {}
    statistics = self._validation_losses(self.state, self._validation, self._evaluation_key)
    return {name: float(value) for name, value in jax.device_get(statistics).items()}

  def export(self) -> gom_model.OccupancyModel:
    """The trained GOM (copies: training donates the state's buffers)."""
    return gom_model.OccupancyModel(self.networks, jax.tree.map(jnp.copy, self.state),
                                    self.state_slice, self.observation_space, self.action_space)

