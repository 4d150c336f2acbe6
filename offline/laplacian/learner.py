"""`LaplacianLearner`: DCEO's Laplacian representation phi, trained offline on a dataset's
transitions with agents/laplacian.py's loss.

Each gradient step draws `batch_size` positive pairs (s, s'), s' the state `pair_horizon` steps
after s in its episode (held at the episode's final state when the episode ends sooner), and
`batch_size` + `batch_size` states u, v uniformly from the dataset's rows. Training runs
`steps_per_call` steps per jitted call over the dataset on the device (offline/device_data.py).

When the data come from a grid world (`layout`, a name or text of discrete_domains/gridworld.py),
`evaluate` reports `subspace_overlap`: how much of the span of the exact Laplacian's `dimension`
smallest eigenvectors phi's values over the free cells span (1 is exact), and `write_summaries`
draws the first eigenfunctions, learned and exact, over the grid (a TensorBoard image and
`laplacian_eigenfunctions.png` in the run directory). `export()` hands over phi, a callable.
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
from agents import laplacian
from agents import laplacian_grid
from agents import networks
from agents.optimizers import create_optimizer
from offline import base
from offline import device_data
from runner import errors
from runner import metrics

FIGURE_FILE = 'laplacian_eigenfunctions.png'


class LaplacianState(NamedTuple):
  params: Any
  optimizer_state: Any
  duals: Any  # ALLO's (d, d) duals; an empty (0, 0) array under the generalised objective


def network_inputs(observations: jnp.ndarray) -> jnp.ndarray:
  """Observations as the network takes them: float32, uint8 images scaled to [0, 1]."""
  if observations.dtype == jnp.uint8:
    return observations.astype(jnp.float32) / 255.0
  return observations.astype(jnp.float32)


def laplacian_update(network: Any, optimizer: optax.GradientTransformation,
                     objective: laplacian.Objective, state: LaplacianState,
                     batch: Dict[str, jnp.ndarray], key: jax.Array):
  """One gradient step on the Laplacian loss of the batch's (s, s') pairs and (u, v) states (and,
  under ALLO, the duals' step after it)."""
  del key  # the loss needs no sampling
  parts = ('state', 'pair', 'u', 'v')

  def loss(params):
    # One forward pass over the four parts: one matrix product per layer instead of four.
    inputs = jnp.concatenate([network_inputs(batch[part]) for part in parts])
    value, statistics, constraints = objective.loss(
        *jnp.split(network.apply(params, inputs), len(parts)), state.duals)
    return value, (statistics, constraints)

  params, optimizer_state, duals, _, statistics = objective.step(
      loss, optimizer, state.params, state.optimizer_state, state.duals)
  return LaplacianState(params, optimizer_state, duals), statistics


def pair_batch(data: Dict[str, jax.Array], rows: jax.Array,
               key: jax.Array) -> Dict[str, jax.Array]:
  """`rows` holds 3 x batch_size uniform row indices: the first third's states with their pair
  states, then the u states, then the v states."""
  del key
  state_rows, u_rows, v_rows = jnp.split(rows, 3)
  return {'state': data['observation'][state_rows], 'pair': data['pair_observation'][state_rows],
          'u': data['observation'][u_rows], 'v': data['observation'][v_rows]}


def pair_rows(episode_lengths: np.ndarray, horizon: int) -> np.ndarray:
  """For each row t (a transition s_t -> s_{t+1}), the row whose next observation is s_{t+horizon}
  in the same episode: t + horizon - 1, or the episode's last row when that is sooner."""
  lengths = np.asarray(episode_lengths, np.int64)
  last_rows = np.repeat(np.cumsum(lengths) - 1, lengths)
  return np.minimum(np.arange(len(last_rows)) + horizon - 1, last_rows)


class Representation:
  """A trained phi: `phi(observations)` for a batch (batch, *observation shape) gives (batch,
  dimension) float32; one observation (its shape alone) gives (dimension,)."""

  def __init__(self, observation_space: gymnasium.Space, network: Any, params: Any):
    self.observation_space = observation_space
    self.dimension = int(network.num_outputs)
    self._params = params
    self._apply = compilation.jit(lambda params, x: network.apply(params, network_inputs(x)))

  def __call__(self, observations: Any) -> np.ndarray:
    observations = np.asarray(observations)
    single = observations.shape == tuple(self.observation_space.shape)
    batch = observations[None] if single else observations
    values = np.asarray(self._apply(self._params, batch))
    return values[0] if single else values


@gin.configurable
class LaplacianLearner(base.StateLearner):
  """The Laplacian representation (see the module docstring).

  phi is an MLP (agents/networks.py) of `hidden_sizes` with `dimension` outputs (no hidden layer
  and one-hot observations make it a table). The optimizer is `optimizer` (the zoo's
  create_optimizer) called with Adam, `learning_rate` and `adam_eps` (the reference's: Dopamine's
  Adam, 6.25e-5 and 1.5e-4). `norm_transform`: 'log1p' (the reference's default) or 'squared'
  (x^2 / d), agents/laplacian.py. `objective`: 'generalized' (the reference's loss, with
  `norm_transform`) or 'allo' (laplacian.allo_loss, with `allo_barrier` and
  `allo_dual_learning_rate`; `norm_transform` unused), whose duals are checkpointed with phi and
  give the eigenvalues, reported by `evaluate` as `eigenvalue_<i>`.
  """

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               dataset: Optional[Any] = None,
               dimension: int = 20,
               hidden_sizes: Sequence[int] = (256, 256),
               norm_transform: str = 'log1p',
               objective: str = 'generalized',
               allo_barrier: float = 2.0,
               allo_dual_learning_rate: float = 1e-2,
               pair_horizon: int = 1,
               batch_size: int = 32,
               steps_per_call: int = 100,
               learning_rate: float = 6.25e-5,
               adam_eps: float = 1.5e-4,
               optimizer: Callable[..., optax.GradientTransformation] = create_optimizer,
               layout: Optional[str] = None,
               plotted_eigenfunctions: int = 4):
    super().__init__(observation_space, action_space, seed, summary_writer, dataset)
    name = type(self).__name__
    agent_base.require_space(name, 'observation', observation_space, (gymnasium.spaces.Box,))
    for setting, value in (('dimension', dimension), ('pair_horizon', pair_horizon)):
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise errors.InvalidSettingError(f'{name}.{setting} must be a whole number >= 1, got '
                                         f'{value!r}')
    self.objective = laplacian.Objective(objective, norm_transform, float(allo_barrier),
                                         float(allo_dual_learning_rate)).checked(name, dimension)
    self.dimension = int(dimension)
    self.pair_horizon = int(pair_horizon)
    self.plotted_eigenfunctions = int(plotted_eigenfunctions)
    self.network = networks.MLP(num_outputs=self.dimension, hidden_sizes=tuple(hidden_sizes),
                                min_vals=None, max_vals=None)
    self.optimizer = optimizer(name='adam', learning_rate=learning_rate, eps=adam_eps)
    init_key, self._base_key = jax.random.split(jax.random.PRNGKey(seed))
    dummy = jnp.zeros((1, *observation_space.shape), jnp.float32)
    params = jax.jit(self.network.init)(init_key, dummy)
    duals = jnp.zeros((self.dimension, self.dimension) if objective == 'allo' else (0, 0),
                      jnp.float32)
    self.state = LaplacianState(params, self.optimizer.init(params), duals)
    self.trainer = device_data.ScannedTrainer(
        functools.partial(laplacian_update, self.network, self.optimizer, self.objective),
        3 * batch_size, steps_per_call, pair_batch)
    self._phi = compilation.jit(lambda params, x: self.network.apply(params, network_inputs(x)))
    self.grid = (None if layout is None else
                 laplacian_grid.GridSpectrum(layout, observation_space, self.dimension, name))
    self._training_data: Optional[device_data.DeviceDataset] = None
    if dataset is not None:
      self._training_data = self._device_rows(dataset)

  def _device_rows(self, dataset: Any) -> device_data.DeviceDataset:
    transitions = dataset.transitions()
    lengths = np.asarray(dataset.episode_lengths, np.int64)
    observations = np.asarray(transitions['observation'])
    next_observations = np.asarray(transitions['next_observation'])
    if observations.dtype != np.uint8:  # images stay uint8 on the device: a quarter the memory
      observations = observations.astype(np.float32)
      next_observations = next_observations.astype(np.float32)
    rows = {'observation': observations,
            'pair_observation': next_observations[pair_rows(lengths, self.pair_horizon)]}
    # Chunks start at episodes, so a row's pair state is always in its chunk.
    return device_data.DeviceDataset(rows, split_points=np.cumsum(lengths) - lengths)

  # -- the Learner contract ------------------------------------------------------------------------

  def train(self, num_steps: int) -> Dict[str, float]:
    self.require_dataset()
    self.state, statistics = self.trainer.run(self.state, self._training_data, self._base_key,
                                              self.training_steps, num_steps)
    self.training_steps += num_steps
    return statistics

  def cell_values(self) -> np.ndarray:
    """phi over the layout's free cells, (cells, dimension), in the order of free_cells."""
    return np.asarray(self._phi(self.state.params, self.grid.cell_observations), np.float64)

  def evaluate(self, iteration: int) -> Dict[str, float]:
    """`subspace_overlap` with the exact Laplacian's eigenvectors (with `layout`) and, under ALLO,
    `eigenvalue_<i>`: the duals' estimates of the walk's I - P (laplacian.allo_eigenvalues)."""
    del iteration
    results = {}
    if self.objective.name == 'allo':
      results.update({f'eigenvalue_{index}': float(value) for index, value in
                      enumerate(np.asarray(laplacian.allo_eigenvalues(self.state.duals)))})
    if self.grid is not None:
      results['subspace_overlap'] = self.grid.subspace_overlap(self.cell_values())
    return results

  def write_summaries(self, iteration: int) -> None:
    """The first `plotted_eigenfunctions` exact and learned eigenfunctions over the grid
    (GridSpectrum.figure), in TensorBoard and as FIGURE_FILE beside the event files."""
    if self.summary_writer is None or self.grid is None or self.plotted_eigenfunctions < 1:
      return
    logdir = getattr(self.summary_writer, 'logdir', None)
    metrics.write_figure(self.summary_writer, 'learner/eigenfunctions',
                         self.grid.figure(self.cell_values(), self.plotted_eigenfunctions),
                         iteration, os.path.join(logdir, FIGURE_FILE) if logdir else None)

  def export(self) -> Representation:
    """phi as trained so far; its parameters copied, since training donates the state's buffers."""
    return Representation(self.observation_space, self.network,
                          jax.tree.map(jnp.copy, self.state.params))
