"""`SFPPriorLearner`: SFP's state-free action prior p(a_t | a_{t-1}), fit offline by maximum
likelihood to a dataset's consecutive action pairs (models.py: a conditional RealNVP flow, or the
reference's Gaussian and deterministic ablations).

Actions are rescaled to [-1, 1] per dimension by the dataset's action Box, (a - offset) / scale,
as SAC's actions are: every loss and metric here is in those units. Pairs never cross an episode
boundary and an episode's first action forms none (the reference's data, flows/datasets.py).
Training runs `steps_per_call` gradient steps per jitted call over the pairs on the device
(offline/device_data.py). A fraction of the episodes, chosen by the seed, is held out: every
`evaluate` (one per iteration: one per epoch in the shipped configs) reports the held-out
`validation_nll` (or `validation_mse` for the deterministic prior) and keeps the best parameters
so far; after `patience` evaluations without improvement the learner stops training (the
reference's early stopping) and `export()` hands over the best prior (prior.py's ActionPrior).

Batch norm: the running statistics that evaluation and sampling use are, by default, recomputed
before every evaluation from all the training pairs in one forward pass, as the reference does
after every epoch (`recompute_batch_norm_statistics`); otherwise they are the training batches'
moving average with `batch_norm_momentum` (the running statistics' weight on their old value;
0, the reference layer's default: the last batch's). `batch_norm_statistics_rows` caps the rows of
the recomputing pass (a fixed subset chosen by the seed; None: all, as the reference). Either way
the statistics are part of the state: checkpointed, and restored with the component.
"""

import functools
import os
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence

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
from offline.sfp import models
from offline.sfp.prior import ActionPrior
from runner import errors
from runner import metrics

FIGURE_FILE = 'prior_samples.png'


class TrainingState(NamedTuple):
  """What the scanned update trains: {'params', 'batch_stats'} and the optimizer's state."""
  variables: Any
  optimizer_state: Any


class BestState(NamedTuple):
  """Early stopping's record: the best variables so far and how long ago they were found."""
  variables: Any
  metric: jnp.ndarray  # float32: the best validation metric, inf before the first evaluation
  evaluations_since_best: jnp.ndarray  # int32
  evaluated_step: jnp.ndarray  # int32: the training step of the last evaluation, -1 before one


class SFPPriorState(NamedTuple):
  training: TrainingState
  best: BestState
  initial_actions: jnp.ndarray  # [num_initial_actions, D] training actions, for ActionPrior


def prior_update(model: models.PriorModel, optimizer: optax.GradientTransformation,
                 state: TrainingState, batch: Dict[str, jnp.ndarray], key: jax.Array):
  """One gradient step on the batch's mean loss (NLL, or squared error); batch norm in training
  mode, so the running statistics move too."""
  del key  # the likelihood needs no sampling

  def objective(params):
    variables = {'params': params, 'batch_stats': state.variables['batch_stats']}
    return model.training_loss(variables, batch['previous_action'], batch['action'])

  params = state.variables['params']
  (loss, batch_stats), gradients = jax.value_and_grad(objective, has_aux=True)(params)
  updates, optimizer_state = optimizer.update(gradients, state.optimizer_state, params)
  variables = {'params': optax.apply_updates(params, updates), 'batch_stats': batch_stats}
  return TrainingState(variables, optimizer_state), {model.loss_name: loss}


def prior_optimizer(optimizer: Callable[..., optax.GradientTransformation], learning_rate: float,
                    adam_eps: float, weight_decay: float,
                    decoupled_weight_decay: bool) -> optax.GradientTransformation:
  """Adam with an L2 penalty `weight_decay` * params added to the gradient before the moments
  (torch's Adam(weight_decay=...), the reference's), or with `decoupled_weight_decay` AdamW's
  decay of the parameters themselves."""
  if decoupled_weight_decay:
    return optimizer(name='adamw', learning_rate=learning_rate, eps=adam_eps,
                     weight_decay=weight_decay)
  adam = optimizer(name='adam', learning_rate=learning_rate, eps=adam_eps)
  return optax.chain(optax.add_decayed_weights(weight_decay), adam) if weight_decay else adam


@gin.configurable
class SFPPriorLearner(base.StateLearner):
  """SFP's action prior (see the module docstring).

  `prior_type`: 'flow' (default), 'gaussian' or 'deterministic' (models.py). The flow:
  `num_blocks` coupling layers with a shared trunk of two `hidden_size` ReLU layers over the
  masked action and the condition's pre-MLP (`condition_sizes`), each followed by a batch-norm
  flow layer when `batch_norm`. The other two are MLPs of two `hidden_size` ReLU layers.

  The optimizer is `optimizer` (the zoo's create_optimizer) called with Adam, `learning_rate`
  and `adam_eps`, its weight decay as in prior_optimizer (the reference: torch's Adam with
  weight_decay 1e-6, an L2 penalty, not AdamW; `decoupled_weight_decay` switches).

  `validation_nll` is in nats per action (summed over its dimensions) in the [-1, 1]-rescaled
  units, averaged over the held-out pairs; `validation_mse` the squared error averaged over
  dimensions and pairs. `patience`: evaluations without improvement before training stops
  (None: never). With `action_dim` 2, `write_summaries` draws `plotted_samples` prior samples
  for each of `plotted_conditions` (previous actions) in TensorBoard and FIGURE_FILE.
  Batch-norm settings: see the module docstring. `evaluation_batch_size`: rows per jitted call
  of validation and of the statistics pass. `num_initial_actions`: how many training actions
  the exported prior carries for conditioning an episode's first action (ActionPrior).
  """

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               dataset: Optional[Any] = None,
               prior_type: str = 'flow',
               num_blocks: int = 6,
               hidden_size: int = 128,
               condition_sizes: Sequence[int] = (128, 128, 128),
               batch_norm: bool = True,
               batch_norm_momentum: float = 0.0,
               batch_norm_eps: float = 1e-5,
               recompute_batch_norm_statistics: bool = True,
               batch_norm_statistics_rows: Optional[int] = None,
               batch_size: int = 400,
               steps_per_call: int = 100,
               learning_rate: float = 1e-4,
               adam_eps: float = 1e-8,
               weight_decay: float = 1e-6,
               decoupled_weight_decay: bool = False,
               optimizer: Callable[..., optax.GradientTransformation] = create_optimizer,
               validation_fraction: float = 0.1,
               patience: Optional[int] = 30,
               evaluation_batch_size: int = 16384,
               num_initial_actions: int = 1000,
               plotted_conditions: Sequence[Sequence[float]] = ((0.0, 0.0), (0.7, 0.0),
                                                                (0.0, -0.7)),
               plotted_samples: int = 300):
    super().__init__(observation_space, action_space, seed, summary_writer, dataset)
    name = type(self).__name__
    agent_base.require_bounded_box(name, action_space)
    for setting, value, least in (('num_blocks', num_blocks, 1), ('hidden_size', hidden_size, 1),
                                  ('num_initial_actions', num_initial_actions, 1),
                                  ('batch_norm_statistics_rows',
                                   1 if batch_norm_statistics_rows is None
                                   else batch_norm_statistics_rows, 1),
                                  ('patience', 1 if patience is None else patience, 1)):
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise errors.InvalidSettingError(f'{name}.{setting} must be a whole number >= {least}, '
                                         f'got {value!r}')
    if not 0.0 <= batch_norm_momentum <= 1.0:
      raise errors.InvalidSettingError(f'{name}.batch_norm_momentum must be in [0, 1], got '
                                       f'{batch_norm_momentum}')
    low = np.asarray(action_space.low, np.float64).reshape(-1)
    high = np.asarray(action_space.high, np.float64).reshape(-1)
    self.action_offset, self.action_scale = (high + low) / 2, (high - low) / 2
    self.model = models.build_model(prior_type, len(low), num_blocks, hidden_size,
                                    condition_sizes, batch_norm, batch_norm_momentum,
                                    batch_norm_eps)
    self.optimizer = prior_optimizer(optimizer, learning_rate, adam_eps, weight_decay,
                                     decoupled_weight_decay)
    self.patience = patience
    self.recompute_batch_norm_statistics = bool(recompute_batch_norm_statistics)
    self.batch_norm_statistics_rows = batch_norm_statistics_rows
    self.evaluation_batch_size = int(evaluation_batch_size)
    self.plotted_conditions = np.asarray(plotted_conditions, np.float32).reshape(-1, 2)
    self.plotted_samples = int(plotted_samples)
    init_key, self._base_key, self._figure_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    variables = self.model.init(init_key)
    training = TrainingState(variables, self.optimizer.init(variables['params']))
    best = BestState(jax.tree.map(jnp.copy, variables), jnp.float32(np.inf), jnp.int32(0),
                     jnp.int32(-1))
    self.state = SFPPriorState(training, best,
                               jnp.zeros((num_initial_actions, len(low)), jnp.float32))
    self.trainer = device_data.ScannedTrainer(
        functools.partial(prior_update, self.model, self.optimizer), batch_size, steps_per_call)
    self._batch_sums = compilation.jit(self._masked_row_sum)
    self._sample = compilation.jit(self._clamped_samples)
    self._statistics_rows: Optional[Dict[str, np.ndarray]] = None
    self._training_data: Optional[device_data.DeviceDataset] = None
    self._validation: Optional[Dict[str, np.ndarray]] = None
    self._statistics_step: Optional[int] = None  # the step whose statistics are in the state
    if dataset is not None:
      self._prepare_data(dataset, validation_fraction)

  # -- data ----------------------------------------------------------------------------------------

  def rescaled(self, actions: np.ndarray) -> np.ndarray:
    """Actions in the Box's units rescaled to [-1, 1] per dimension: (N, D) float32."""
    actions = np.asarray(actions, np.float64).reshape(len(actions), -1)
    return ((actions - self.action_offset) / self.action_scale).astype(np.float32)

  def _prepare_data(self, dataset: Any, validation_fraction: float) -> None:
    lengths = np.asarray(dataset.episode_lengths, np.int64)
    previous, actions = dataset.action_pairs()
    pairs = {'previous_action': self.rescaled(previous), 'action': self.rescaled(actions)}
    held_out = np.zeros(len(lengths), bool)
    held_out[validation_episodes(len(lengths), validation_fraction, self.seed)] = True
    row_held_out = np.repeat(held_out, np.maximum(lengths - 1, 0))
    training = {name: array[~row_held_out] for name, array in pairs.items()}
    if not len(training['action']):
      raise errors.BadInputError(
          f'{type(self).__name__}: the dataset {dataset.path!r} has no consecutive actions '
          '(a_{t-1}, a_t) to train on outside its held-out episodes')
    self._statistics_rows = training
    if (self.batch_norm_statistics_rows is not None
        and self.batch_norm_statistics_rows < len(training['action'])):
      rows = np.sort(np.random.default_rng(self.seed).choice(
          len(training['action']), self.batch_norm_statistics_rows, replace=False))
      self._statistics_rows = {name: array[rows] for name, array in training.items()}
    self._training_data = device_data.DeviceDataset(training)
    if row_held_out.any():
      self._validation = {name: array[row_held_out] for name, array in pairs.items()}
    rows = np.random.default_rng(self.seed).integers(0, len(training['previous_action']),
                                                     len(self.state.initial_actions))
    self.state = self.state._replace(
        initial_actions=jnp.asarray(training['previous_action'][np.sort(rows)]))

  # -- the Learner contract ------------------------------------------------------------------------

  @property
  def stopped(self) -> bool:
    """Whether early stopping has ended training: `patience` evaluations without improvement."""
    return (self.patience is not None
            and int(self.state.best.evaluations_since_best) >= self.patience)

  def train(self, num_steps: int) -> Dict[str, float]:
    """`num_steps` gradient steps; none, and no statistics, once early stopping has stopped."""
    self.require_dataset()
    if self.stopped:
      return {}
    training, statistics = self.trainer.run(self.state.training, self._training_data,
                                            self._base_key, self.training_steps, num_steps)
    self.state = self.state._replace(training=training)
    self.training_steps += num_steps
    return statistics

  def _refresh_statistics(self) -> None:
    """Recomputes the batch-norm running statistics from the training pairs, once per step
    count (the result depends on the parameters alone, so a resumed run gets the same)."""
    if (not self.recompute_batch_norm_statistics or self._statistics_rows is None
        or self._statistics_step == self.training_steps):
      return
    variables = self.state.training.variables
    statistics = self.model.population_statistics(
        variables, self._statistics_rows['previous_action'], self._statistics_rows['action'],
        self.evaluation_batch_size)
    variables = {'params': variables['params'], 'batch_stats': statistics}
    self.state = self.state._replace(training=self.state.training._replace(variables=variables))
    self._statistics_step = self.training_steps

  def _masked_row_sum(self, variables: Any, batch: Dict[str, jax.Array],
                      valid: jax.Array) -> jax.Array:
    losses = self.model.row_losses(variables, batch['previous_action'], batch['action'])
    return jnp.sum(jnp.where(valid, losses, 0.0))

  def validation_metric(self, variables: Any) -> float:
    """The mean held-out loss of `variables` (evaluation mode): NLL or squared error."""
    num_rows = len(self._validation['action'])
    size = min(self.evaluation_batch_size, num_rows)
    total = 0.0
    for start in range(0, num_rows, size):
      # The last batch is padded to the same size, so evaluation compiles once.
      positions = np.arange(start, start + size)
      rows = np.minimum(positions, num_rows - 1)
      batch = {name: array[rows] for name, array in self._validation.items()}
      total += float(self._batch_sums(variables, batch, positions < num_rows))
    return total / num_rows

  def evaluate(self, iteration: int) -> Dict[str, float]:
    """The held-out metric of the current parameters, the best so far and the evaluations
    since it (nothing without held-out pairs); the first evaluation at a step count updates the
    early-stopping record, a repeated one only reports. Without held-out pairs the latest
    parameters count as the best."""
    del iteration
    if self.dataset is None:
      return {}
    self._refresh_statistics()
    variables = self.state.training.variables
    metric = None if self._validation is None else self.validation_metric(variables)
    best = self.state.best
    if int(best.evaluated_step) != self.training_steps:
      step = jnp.int32(self.training_steps)
      if metric is None or metric < float(best.metric):
        value = jnp.float32(np.inf if metric is None else metric)
        best = BestState(jax.tree.map(jnp.copy, variables), value, jnp.int32(0), step)
      else:
        best = best._replace(evaluations_since_best=best.evaluations_since_best + 1,
                             evaluated_step=step)
      self.state = self.state._replace(best=best)
    if metric is None:
      return {}
    name = self.model.loss_name
    return {f'validation_{name}': metric, f'best_validation_{name}': float(best.metric),
            'evaluations_since_best': float(best.evaluations_since_best)}

  def _clamped_samples(self, variables: Any, previous: jax.Array, key: jax.Array) -> jax.Array:
    return ActionPrior(self.model, variables).sample(variables, previous, key)

  def samples_figure(self, variables: Any):
    """For each of `plotted_conditions`, `plotted_samples` prior samples over [-1, 1]^2 (the
    condition marked with a cross); a matplotlib Figure."""
    from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

    conditions = self.plotted_conditions
    previous = np.repeat(conditions, self.plotted_samples, axis=0)
    # The same noise every iteration: the pictures move only as the prior does.
    samples = np.asarray(self._sample(variables, previous, self._figure_key))
    figure = Figure(figsize=(3.0 * len(conditions), 3.2), dpi=80)
    axes = figure.subplots(1, len(conditions), squeeze=False)[0]
    for index, (axis, condition) in enumerate(zip(axes, conditions)):
      points = samples[index * self.plotted_samples:(index + 1) * self.plotted_samples]
      axis.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5, color=f'C{index}')
      axis.scatter([condition[0]], [condition[1]], marker='x', s=60, color='black')
      axis.set_xlim(-1, 1)
      axis.set_ylim(-1, 1)
      axis.set_aspect('equal')
      axis.set_title(f'a(t-1) = ({condition[0]:.2f}, {condition[1]:.2f})', fontsize=8)
    figure.tight_layout()
    return figure

  def write_summaries(self, iteration: int) -> None:
    """With 2-D actions, prior samples for a few previous actions (samples_figure) in
    TensorBoard and as FIGURE_FILE beside the event files."""
    if (self.summary_writer is None or self.model.action_dim != 2
        or not len(self.plotted_conditions) or self.plotted_samples < 1):
      return
    self._refresh_statistics()
    logdir = getattr(self.summary_writer, 'logdir', None)
    metrics.write_figure(self.summary_writer, 'learner/prior_samples',
                         self.samples_figure(self.state.training.variables), iteration,
                         os.path.join(logdir, FIGURE_FILE) if logdir else None)

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    restored = super().unbundle(checkpoint_dir, iteration, bundle)
    self._statistics_step = None  # the checkpoint's statistics may predate its parameters
    return restored

  def export(self) -> ActionPrior:
    """The best prior so far (the latest before any evaluation); copies, since training
    donates the state's buffers."""
    if int(self.state.best.evaluated_step) >= 0:
      variables = self.state.best.variables
    else:
      self._refresh_statistics()
      variables = self.state.training.variables
    return ActionPrior(self.model, jax.tree.map(jnp.copy, variables),
                       jnp.copy(self.state.initial_actions))
