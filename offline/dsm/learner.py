"""`DeltaModelLearner`: DSM's delta-model fit offline to a fixed dataset of one policy (METHODS.md,
DSM; arXiv 2402.08530).

Each training step is the reference's pair of updates on two fresh batches of dataset windows:
first the discriminator, which maximises the loss (its embedding is what the inner kernel
compares), then the generator, which minimises it, followed by the Polyak update of the target
generator. The loss, per window, is the two-level MMD (kernels.py) between the generator's atoms
at s_0 and the bootstrapped occupancy targets (targets.py); its batch mean is what both nets
optimise. `steps_per_call` steps run in one jitted scan on the device (offline/device_data.py).
Without a discriminator (`adversarial = False`: the reference's median-bandwidth and
energy-distance variants) a step is the generator update alone.

Every evaluation, when `evaluation` is bound (evaluation.ReturnDistributionEvaluation), the model's
return distributions from chosen source states are compared with Monte Carlo returns of the data
policy for each reward function: Cramer-von Mises, Wasserstein-1 and Kolmogorov-Smirnov distances
in metrics.jsonl, and the two distributions drawn in TensorBoard and in the run directory.
"""

import functools
import os
from typing import Any, Dict, NamedTuple, Optional, Sequence

import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents import base as agent_base
from agents.optimizers import create_optimizer
from offline import base
from offline import device_data
from offline.dsm import kernels
from offline.dsm import model as dsm_model
from offline.dsm import targets
from offline.dsm.delta_model import DeltaModel, sample_atoms
from runner import errors
from runner import metrics

FIGURE_FILE = 'return_distributions.png'


class GeneratorState(NamedTuple):
  params: Any
  target_params: Any
  optimizer_state: Any


class DiscriminatorState(NamedTuple):
  params: Any
  # The power-iteration vectors as a tuple of arrays (flax names them by '/'-joined paths, which
  # the checkpoint format does not take as keys); LossSettings.spectral_norm_structure rebuilds
  # the collection.
  spectral_norm: Any
  optimizer_state: Any


class DeltaModelState(NamedTuple):
  generator: GeneratorState
  discriminator: Any  # a DiscriminatorState, or {} without a discriminator


class LossSettings(NamedTuple):
  """What the loss needs besides parameters (static in the jitted step)."""
  generator: dsm_model.Generator
  discriminator: Optional[dsm_model.Discriminator]
  num_atoms: int
  num_samples: int
  latent_dim: int
  gamma: float
  inner_kernel: Any
  outer_kernel: Any
  inner_adaptive_bandwidth: bool
  outer_adaptive_bandwidth: bool
  spectral_norm_structure: Any = None  # the treedef of the discriminator's non-parameters
  loss_batch_size: Optional[int] = None  # windows whose loss is computed at once (None: all)


def delta_model_loss(settings: LossSettings, generator_params: Any, discriminator_params: Any,
                     spectral_norm: Any, target_params: Any, batch: Dict[str, jnp.ndarray],
                     key: jax.Array, update_stats: bool = False):
  """The batch mean of the two-level MMD between the model's atoms at each window's s_0 and the
  window's occupancy targets, and (statistics, the discriminator's updated spectral-norm
  vectors). The targets carry no gradient."""
  model_key, bootstrap_key, offset_key = jax.random.split(key, 3)
  observations = batch['observations']
  batch_size = observations.shape[0]
  flat = observations.reshape(batch_size, observations.shape[1], -1)
  sample = functools.partial(sample_atoms, settings.generator, num_atoms=settings.num_atoms,
                             num_samples=settings.num_samples, latent_dim=settings.latent_dim)
  predicted = sample(generator_params, flat[:, 0], model_key)
  bootstrap_sources = flat[jnp.arange(batch_size), batch['end_index']]
  bootstrap = sample(target_params, bootstrap_sources, bootstrap_key)
  offsets = targets.geometric_offsets(offset_key, predicted.shape[:3], settings.gamma)
  target = jax.lax.stop_gradient(targets.occupancy_targets(
      flat, batch['end_index'], batch['bootstraps'], bootstrap, offsets))
  statistics = {}
  if settings.discriminator is not None:
    def embed(states, collections):
      return settings.discriminator.apply(
          {'params': discriminator_params, **collections}, states, update_stats=update_stats,
          mutable=[dsm_model.SPECTRAL_NORM])
    collections = jax.tree.unflatten(settings.spectral_norm_structure, spectral_norm)
    predicted, collections = embed(predicted, collections)
    target, collections = embed(target, collections)
    spectral_norm = tuple(jax.tree.leaves(collections))
    statistics['embedding_norm'] = jnp.mean(jnp.linalg.norm(predicted, axis=-1))
  window_loss = functools.partial(
      kernels.distributional_mmd, inner_kernel=settings.inner_kernel,
      outer_kernel=settings.outer_kernel,
      inner_adaptive_bandwidth=settings.inner_adaptive_bandwidth,
      outer_adaptive_bandwidth=settings.outer_adaptive_bandwidth)
  if settings.loss_batch_size:
    # The pairwise kernels of a window are large (atoms x samples squared): `loss_batch_size`
    # windows at a time bound the memory they take, and rematerialising them in the backward
    # pass keeps it from storing every chunk's (a scan's gradient keeps each iteration's).
    losses = jax.lax.map(jax.checkpoint(lambda pair: window_loss(*pair)), (predicted, target),
                         batch_size=settings.loss_batch_size)
  else:
    losses = jax.vmap(window_loss)(predicted, target)
  loss = jnp.mean(losses)
  return loss, (statistics, spectral_norm)


def delta_model_update(settings: LossSettings, generator_optimizer: optax.GradientTransformation,
                       discriminator_optimizer: Optional[optax.GradientTransformation],
                       target_update_rate: float, state: DeltaModelState,
                       batch: Dict[str, jnp.ndarray], key: jax.Array):
  """One training step: with a discriminator, its ascent step on the first half of the batch,
  then the generator's descent step on the second half; then the target generator's Polyak
  update. Returns the new state and the step's statistics."""
  generator = state.generator
  statistics = {}
  discriminator_key, generator_key = jax.random.split(key)
  if settings.discriminator is not None:
    half = batch['end_index'].shape[0] // 2
    discriminator_batch = jax.tree.map(lambda rows: rows[:half], batch)
    batch = jax.tree.map(lambda rows: rows[half:], batch)
    discriminator = state.discriminator

    def ascent_objective(params):
      loss, aux = delta_model_loss(settings, generator.params, params, discriminator.spectral_norm,
                                   generator.target_params, discriminator_batch,
                                   discriminator_key, update_stats=True)
      return -loss, (loss, aux)

    (_, (value, (_, spectral_norm))), gradients = jax.value_and_grad(
        ascent_objective, has_aux=True)(discriminator.params)
    updates, optimizer_state = discriminator_optimizer.update(
        gradients, discriminator.optimizer_state, discriminator.params)
    discriminator = DiscriminatorState(optax.apply_updates(discriminator.params, updates),
                                       spectral_norm, optimizer_state)
    state = state._replace(discriminator=discriminator)
    statistics['discriminator_mmd'] = value

  discriminator_params = (state.discriminator.params if settings.discriminator is not None
                          else None)
  spectral_norm = (state.discriminator.spectral_norm if settings.discriminator is not None
                   else ())

  def descent_objective(params):
    return delta_model_loss(settings, params, discriminator_params, spectral_norm,
                            generator.target_params, batch, generator_key)

  (loss, (generator_statistics, _)), gradients = jax.value_and_grad(
      descent_objective, has_aux=True)(generator.params)
  updates, optimizer_state = generator_optimizer.update(gradients, generator.optimizer_state,
                                                        generator.params)
  params = optax.apply_updates(generator.params, updates)
  target_params = optax.incremental_update(params, generator.target_params, target_update_rate)
  state = state._replace(generator=GeneratorState(params, target_params, optimizer_state))
  return state, {'mmd': loss, **generator_statistics, **statistics}


@gin.configurable
class DeltaModelLearner(base.StateLearner):
  """DSM's delta-model (see the module docstring).

  The model: `num_atoms` generator MLPs of `generator_hidden_sizes` (leaky ReLU) on [z, s] with
  z ~ N(0, I_`latent_dim`); `num_samples` samples per atom and window (the inner samples);
  windows of `horizon` + 1 observations, discount `gamma`; `absorbing_truncations`: the
  reference's absorbing time limits (targets.py). `adversarial`: the inner kernel compares
  embeddings by a Discriminator (model.py, configured through its own gin bindings) trained to
  maximise the loss; off, it compares the states themselves. Kernels: `inner_kernel` on
  (embedded) states and `outer_kernel` on inner MMD^2 between atoms, each with a median bandwidth
  when `*_adaptive_bandwidth`.
  Optimisation: Adam (`optimizer`, the zoo's create_optimizer) with `generator_learning_rate`,
  `discriminator_learning_rate` and `adam_eps` on `batch_size` windows per update, Polyak rate
  `target_update_rate`, `steps_per_call` steps per jitted call; `loss_batch_size` windows'
  pairwise kernels at a time (None: the whole batch at once, fastest where memory allows: a
  window at the reference's size takes a few hundred MB).

  `policy`: the data policy (a collection policy such as `@AgentPolicy()`), handed on with the
  exported DeltaModel. `evaluation`: a ReturnDistributionEvaluation, or None.
  `plotted_sources` / `plotted_samples`: dataset observations whose atoms' samples are drawn
  (the first two state dimensions) every iteration.
  """

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               dataset: Optional[Any] = None,
               num_atoms: int = 51,
               latent_dim: int = 8,
               num_samples: int = 32,
               generator_hidden_sizes: Sequence[int] = (256, 256, 256),
               adversarial: bool = True,
               inner_kernel: Any = kernels.RationalQuadraticKernel(),
               outer_kernel: Any = kernels.InverseMultiquadricKernel(),
               inner_adaptive_bandwidth: bool = False,
               outer_adaptive_bandwidth: bool = True,
               gamma: float = 0.95,
               horizon: int = 6,
               absorbing_truncations: bool = False,
               batch_size: int = 64,
               generator_learning_rate: float = 6.25e-5,
               discriminator_learning_rate: float = 6.25e-5,
               adam_eps: float = 1.5e-4,
               optimizer: Any = create_optimizer,
               target_update_rate: float = 0.01,
               steps_per_call: int = 100,
               loss_batch_size: Optional[int] = 8,
               policy: Optional[Any] = None,
               evaluation: Optional[Any] = None,
               plotted_sources: int = 3,
               plotted_samples: int = 256):
    super().__init__(observation_space, action_space, seed, summary_writer, dataset)
    name = type(self).__name__
    agent_base.require_space(name, 'observation', observation_space, (gymnasium.spaces.Box,),
                             '(a delta-model generates states as vectors)')
    for setting, value, least in (('num_atoms', num_atoms, 2), ('latent_dim', latent_dim, 1),
                                  ('num_samples', num_samples, 2), ('horizon', horizon, 1),
                                  ('batch_size', batch_size, 1),
                                  ('plotted_sources', plotted_sources, 0),
                                  ('plotted_samples', plotted_samples, 1)):
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise errors.InvalidSettingError(f'{name}.{setting} must be a whole number >= {least}, '
                                         f'got {value!r}')
    if not 0.0 <= gamma < 1.0:
      raise errors.InvalidSettingError(f'{name}.gamma must be in [0, 1), got {gamma}')
    if not 0.0 < target_update_rate <= 1.0:
      raise errors.InvalidSettingError(f'{name}.target_update_rate must be in (0, 1], got '
                                       f'{target_update_rate}')
    self.state_dim = int(np.prod(observation_space.shape))
    self.num_atoms, self.latent_dim = int(num_atoms), int(latent_dim)
    self.gamma, self.horizon = float(gamma), int(horizon)
    self.absorbing_truncations = bool(absorbing_truncations)
    self.policy = policy
    self.evaluation = evaluation
    self.plotted_sources, self.plotted_samples = int(plotted_sources), int(plotted_samples)
    discriminator = dsm_model.Discriminator() if adversarial else None
    self.generator = dsm_model.Generator(self.num_atoms, self.state_dim,
                                         tuple(generator_hidden_sizes))
    generator_optimizer = optimizer(name='adam', learning_rate=generator_learning_rate,
                                    eps=adam_eps)
    discriminator_optimizer = optimizer(name='adam', learning_rate=discriminator_learning_rate,
                                        eps=adam_eps)
    generator_key, discriminator_key, self._base_key, self._figure_key = jax.random.split(
        jax.random.PRNGKey(seed), 4)
    latents = jnp.zeros((self.num_atoms, 1, self.latent_dim), jnp.float32)
    params = self.generator.init(generator_key, latents,
                                 jnp.zeros((1, self.state_dim), jnp.float32))
    generator_state = GeneratorState(params, jax.tree.map(jnp.copy, params),
                                     generator_optimizer.init(params))
    discriminator_state = {}
    if discriminator is not None:
      params_key, spectral_key = jax.random.split(discriminator_key)
      variables = discriminator.init({'params': params_key, dsm_model.SPECTRAL_NORM: spectral_key},
                                     jnp.zeros((1, self.state_dim), jnp.float32))
      variables = dict(variables)
      discriminator_params = variables.pop('params')
      structure = jax.tree.structure(variables)
      discriminator_state = DiscriminatorState(discriminator_params,
                                               tuple(jax.tree.leaves(variables)),
                                               discriminator_optimizer.init(discriminator_params))
    else:
      structure = None
    self.state = DeltaModelState(generator_state, discriminator_state)
    self.settings = LossSettings(self.generator, discriminator, self.num_atoms, int(num_samples),
                                 self.latent_dim, self.gamma, inner_kernel, outer_kernel,
                                 bool(inner_adaptive_bandwidth), bool(outer_adaptive_bandwidth),
                                 structure, loss_batch_size)
    # With a discriminator a step draws two batches: one per network.
    rows_per_step = batch_size * (2 if discriminator is not None else 1)
    self.trainer = device_data.ScannedTrainer(
        functools.partial(delta_model_update, self.settings, generator_optimizer,
                          discriminator_optimizer, float(target_update_rate)),
        rows_per_step, steps_per_call)
    self._training_data: Optional[device_data.DeviceDataset] = None
    self._plotted: Optional[np.ndarray] = None
    if dataset is not None:
      self._prepare_data(dataset)

  def _prepare_data(self, dataset: Any) -> None:
    if dataset.observation_space.shape != self.observation_space.shape:
      raise errors.BadInputError(f'{type(self).__name__}: the dataset {dataset.path!r} has '
                                 f'observations {dataset.observation_space}, the learner '
                                 f'{self.observation_space}')
    windows = targets.prepare_windows(dataset, self.horizon, self.absorbing_truncations)
    if not len(windows['end_index']):
      raise errors.BadInputError(f'{type(self).__name__}: the dataset {dataset.path!r} has no '
                                 'steps to train on')
    episode_starts = np.cumsum(dataset.episode_lengths) - dataset.episode_lengths
    self._training_data = device_data.DeviceDataset(windows, split_points=episode_starts)
    if self.plotted_sources:
      rows = np.random.default_rng(self.seed).choice(
          len(windows['end_index']), min(self.plotted_sources, len(windows['end_index'])),
          replace=False)
      self._plotted = windows['observations'][np.sort(rows), 0]

  # -- the Learner contract ------------------------------------------------------------------------

  def train(self, num_steps: int) -> Dict[str, float]:
    self.require_dataset()
    self.state, statistics = self.trainer.run(self.state, self._training_data, self._base_key,
                                              self.training_steps, num_steps)
    self.training_steps += num_steps
    return statistics

  def _run_directory(self) -> Optional[str]:
    return getattr(self.summary_writer, 'logdir', None)

  def evaluate(self, iteration: int) -> Dict[str, float]:
    """Distances between the model's and Monte Carlo return distributions per reward function,
    with `evaluation` bound (nothing otherwise); the figure in TensorBoard and FIGURE_FILE."""
    if self.evaluation is None:
      return {}
    key = jax.random.fold_in(self._figure_key, self.training_steps)
    directory = self._run_directory()
    statistics, figure = self.evaluation.evaluate(self.export(), directory, key)
    metrics.write_figure(self.summary_writer, 'learner/return_distributions', figure, iteration,
                         os.path.join(directory, FIGURE_FILE) if directory else None)
    return statistics

  def write_summaries(self, iteration: int) -> None:
    """The atoms' samples from a few dataset states, over the first two state dimensions."""
    if self.summary_writer is None or self._plotted is None or not len(self._plotted):
      return
    metrics.write_figure(self.summary_writer, 'learner/atom_samples', self.samples_figure(),
                         iteration)

  def samples_figure(self):
    """For each plotted source (a cross), `plotted_samples` samples of each of four atoms."""
    from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

    model = self.export()
    # The same noise every iteration: the pictures move only as the model does.
    samples = model.sample_states_batch(self._plotted, self.plotted_samples, self._figure_key)
    columns = 2 if self.state_dim >= 2 else 1
    figure = Figure(figsize=(3.2 * len(self._plotted), 3.2), dpi=80)
    axes = figure.subplots(1, len(self._plotted), squeeze=False)[0]
    shown_atoms = np.linspace(0, self.num_atoms - 1, min(4, self.num_atoms)).astype(int)
    for axis, source, atoms in zip(axes, self._plotted, samples):
      source = source.reshape(-1)
      for colour, atom in enumerate(shown_atoms):
        points = atoms[atom]
        second = points[:, 1] if columns == 2 else np.zeros(len(points))
        axis.scatter(points[:, 0], second, s=3, alpha=0.4, color=f'C{colour}',
                     label=f'atom {atom}')
      axis.scatter([source[0]], [source[1] if columns == 2 else 0.0], marker='x', s=60,
                   color='black')
      axis.set_title('source ' + ', '.join(f'{value:.2f}' for value in source[:3]), fontsize=8)
    axes[0].legend(fontsize=6, loc='best')
    figure.tight_layout()
    return figure

  def export(self) -> DeltaModel:
    """The delta-model (the online generator's parameters, copied: training donates the state's
    buffers)."""
    return DeltaModel(self.generator, jax.tree.map(jnp.copy, self.state.generator.params),
                      self.num_atoms, self.latent_dim, self.gamma, self.observation_space,
                      self.policy, self.seed)
