"""`BCLearner`: behaviour cloning, the maximum-likelihood fit of a policy to a dataset's actions
(a tanh-Gaussian for Box actions, a categorical for Discrete ones; offline/bc/model.py).

Training runs `steps_per_call` gradient steps per jitted call over the dataset on the device
(offline/device_data.py). A fraction of the episodes, chosen by the seed, is held out: `evaluate`
reports the policy's negative log-likelihood of their actions (`validation_nll`) and how close
its most likely action is to theirs (`validation_action_error` in the Box's units, or
`validation_accuracy`). `export()` hands over a `Policy` (offline/bc/policy.py).

Subclasses change what a batch is (`_row_arrays`, `_make_batch`: see goal_conditioned.py), never
the update or the checkpoint.
"""

import functools
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

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
from offline.bc import losses
from offline.bc import model
from offline.bc.policy import Policy
from runner import errors


class BCState(NamedTuple):
  """The learner's device state: what it trains, and the observation standardisation (fixed
  once computed from the training rows, kept here so that checkpoints and policies carry it)."""
  params: Any
  optimizer_state: Any
  observation_shift: jnp.ndarray
  observation_scale: jnp.ndarray


def bc_update(network: Any, action_model: Any, optimizer: optax.GradientTransformation,
              state: BCState, batch: Dict[str, jnp.ndarray], key: jax.Array):
  """One gradient step on the batch's mean negative log-likelihood; statistics: 'nll'."""
  del key  # the likelihood needs no sampling

  def objective(params):
    observations = model.standardized(batch['observation'], state.observation_shift,
                                      state.observation_scale)
    return jnp.mean(action_model.nll(network.apply(params, observations), batch['action']))

  nll, gradients = jax.value_and_grad(objective)(state.params)
  updates, optimizer_state = optimizer.update(gradients, state.optimizer_state, state.params)
  state = state._replace(params=optax.apply_updates(state.params, updates),
                         optimizer_state=optimizer_state)
  return state, {'nll': nll}


def validation_episodes(num_episodes: int, fraction: float, seed: int) -> np.ndarray:
  """The held-out episodes' indices, sorted: a `fraction` of them (at least one when the
  fraction is positive, never all), chosen by `seed`."""
  if not 0.0 <= fraction < 1.0:
    raise errors.InvalidSettingError(f'validation_fraction must be in [0, 1), got {fraction}')
  count = 0 if fraction == 0 else max(1, int(round(fraction * num_episodes)))
  count = min(count, num_episodes - 1)
  return np.sort(np.random.default_rng(seed).permutation(num_episodes)[:max(count, 0)])


@gin.configurable
class BCLearner(base.StateLearner):
  """Behaviour cloning (see the module docstring).

  The optimizer is `optimizer` (the zoo's create_optimizer) called with Adam, `learning_rate` and
  `adam_eps` given explicitly; its other bindings (schedule, clipping) apply. `log_std_bounds`
  clip the Gaussian's log standard deviation: on an expert's near-deterministic actions the
  likelihood keeps rising as the deviation shrinks, and -5 (IQL's and most BC baselines' bound)
  stops it before the loss is all about the last digits of the mean.
  """

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               dataset: Optional[Any] = None,
               hidden_sizes: Sequence[int] = (256, 256),
               log_std_bounds: Tuple[float, float] = (-5.0, 2.0),
               batch_size: int = 256,
               steps_per_call: int = 100,
               learning_rate: float = 3e-4,
               adam_eps: float = 1e-8,
               optimizer: Callable[..., optax.GradientTransformation] = create_optimizer,
               validation_fraction: float = 0.1,
               standardize_observations: bool = True,
               action_clip: float = losses.DEFAULT_ACTION_CLIP,
               evaluation_batch_size: int = 4096):
    super().__init__(observation_space, action_space, seed, summary_writer, dataset)
    name = type(self).__name__
    agent_base.require_space(name, 'observation', observation_space, (gymnasium.spaces.Box,))
    self.action_model = model.action_model(name, action_space, action_clip)
    self.network = self.action_model.network(hidden_sizes, log_std_bounds)
    self.optimizer = optimizer(name='adam', learning_rate=learning_rate, eps=adam_eps)
    self.evaluation_batch_size = int(evaluation_batch_size)
    init_key, self._base_key, self._validation_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    shape = tuple(observation_space.shape)
    params = jax.jit(self.network.init)(init_key, jnp.zeros((1, *shape), jnp.float32))
    self.state = BCState(params, self.optimizer.init(params), jnp.zeros(shape, jnp.float32),
                         jnp.ones(shape, jnp.float32))
    self.trainer = device_data.ScannedTrainer(
        functools.partial(bc_update, self.network, self.action_model, self.optimizer),
        batch_size, steps_per_call, self._make_batch)
    self._evaluate_batch = compilation.jit(self._batch_sums)
    self._evaluate_rows = compilation.jit(self._per_row)
    self._training_data: Optional[device_data.DeviceDataset] = None
    self._validation: Optional[Dict[str, np.ndarray]] = None
    if dataset is not None:
      self._prepare_data(dataset, validation_fraction, standardize_observations)

  # -- what a batch is (the subclasses' extension points) ------------------------------------------

  def _row_arrays(self, transitions: Dict[str, np.ndarray],
                  episode_lengths: np.ndarray) -> Dict[str, np.ndarray]:
    """The per-row arrays the device holds: observations (integer ones, such as pixels, as
    stored: a quarter of the memory of float32; the network converts them) and the model's
    actions."""
    del episode_lengths
    observations = np.asarray(transitions['observation'])
    if not np.issubdtype(observations.dtype, np.integer):
      observations = observations.astype(np.float32)
    return {'observation': observations,
            'action': self.action_model.dataset_actions(transitions['action'])}

  def _make_batch(self, data: Dict[str, jax.Array], rows: jax.Array,
                  key: jax.Array) -> Dict[str, jax.Array]:
    """The batch for sampled `rows` (on the device, inside the scanned update)."""
    return device_data.gather_rows(data, rows, key)

  def _standardization(self, observations: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    return model.standardization(observations)

  # -- data ----------------------------------------------------------------------------------------

  def _prepare_data(self, dataset: Any, validation_fraction: float, standardize: bool) -> None:
    lengths = np.asarray(dataset.episode_lengths, np.int64)
    held_out = np.zeros(len(lengths), bool)
    held_out[validation_episodes(len(lengths), validation_fraction, self.seed)] = True
    row_held_out = np.repeat(held_out, lengths)
    rows = self._row_arrays(dataset.transitions(), lengths)
    training = {name: array[~row_held_out] for name, array in rows.items()}
    if not len(training['observation']):
      raise errors.BadInputError(f'{type(self).__name__}: the dataset {dataset.path!r} has no '
                                 'steps to train on')
    if standardize:
      shift, scale = self._standardization(training['observation'])
      self.state = self.state._replace(observation_shift=jnp.asarray(shift),
                                       observation_scale=jnp.asarray(scale))
    kept_lengths = lengths[~held_out]
    self._training_data = device_data.DeviceDataset(
        training, split_points=np.cumsum(kept_lengths) - kept_lengths)
    if held_out.any():
      validation = {name: array[row_held_out] for name, array in rows.items()}
      # Drawn once with a key of its own: every evaluation scores the same held-out batch.
      batch = jax.jit(self._make_batch)(validation, jnp.arange(len(validation['observation'])),
                                        self._validation_key)
      self._validation = jax.device_get(batch)

  # -- the Learner contract ------------------------------------------------------------------------

  def train(self, num_steps: int) -> Dict[str, float]:
    self.require_dataset()
    self.state, statistics = self.trainer.run(self.state, self._training_data, self._base_key,
                                              self.training_steps, num_steps)
    self.training_steps += num_steps
    return statistics

  def _per_row(self, state: BCState, batch: Dict[str, jax.Array]) -> jax.Array:
    """(2, rows): each row's NLL and metric (action error or accuracy) under `state`."""
    observations = model.standardized(batch['observation'], state.observation_shift,
                                      state.observation_scale)
    outputs = self.network.apply(state.params, observations)
    return jnp.stack([self.action_model.nll(outputs, batch['action']),
                      self.action_model.metric(outputs, batch['action'])])

  def _batch_sums(self, state: BCState, batch: Dict[str, jax.Array],
                  valid: jax.Array) -> jax.Array:
    return jnp.sum(jnp.where(valid, self._per_row(state, batch), 0.0), axis=1)

  def evaluate(self, iteration: int) -> Dict[str, float]:
    """The held-out episodes' mean NLL and metric (nothing without held-out episodes)."""
    del iteration
    if self._validation is None:
      return {}
    num_rows = len(self._validation['observation'])
    size = min(self.evaluation_batch_size, num_rows)
    totals = np.zeros(2)
    for start in range(0, num_rows, size):
      # The last batch is padded to the same size, so evaluation compiles once.
      positions = np.arange(start, start + size)
      rows = np.minimum(positions, num_rows - 1)
      batch = {name: array[rows] for name, array in self._validation.items()}
      totals += np.asarray(self._evaluate_batch(self.state, batch, positions < num_rows),
                           np.float64)
    metric = self.action_model.metric_name
    return {'validation_nll': totals[0] / num_rows, f'validation_{metric}': totals[1] / num_rows}

  def write_summaries(self, iteration: int) -> None:
    """Histograms of the held-out rows' NLL and metric (their first evaluation batch): where the
    policy fails, a tail the mean in metrics.jsonl hides."""
    if self.summary_writer is None or self._validation is None:
      return
    size = min(self.evaluation_batch_size, len(self._validation['observation']))
    batch = {name: array[:size] for name, array in self._validation.items()}
    nll, metric = np.asarray(self._evaluate_rows(self.state, batch), np.float64)
    self.summary_writer.add_histogram('learner/validation_nll', nll, iteration)
    self.summary_writer.add_histogram(f'learner/validation_{self.action_model.metric_name}',
                                      metric, iteration)

  def export(self) -> Policy:
    """The policy as trained so far; copies, since training donates the state's buffers."""
    params, shift, scale = jax.tree.map(jnp.copy, (self.state.params, self.state.observation_shift,
                                                   self.state.observation_scale))
    return Policy(self.observation_space, self.action_model, self.network, params, shift, scale)
