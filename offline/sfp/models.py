"""The three kinds of SFP action prior p(a_t | a_{t-1}) (the reference's `flow`, `gaussian` and
`deterministic` ablations), behind one interface of pure functions of a variables pytree
{'params': ..., 'batch_stats': ...} (empty 'batch_stats' where there is no batch norm):

  init(key) -> variables
  training_loss(variables, previous, actions) -> (scalar loss, new batch_stats)   training mode
  row_losses(variables, previous, actions) -> [B]       what validation averages (evaluation mode)
  log_prob(variables, previous, actions) -> [B]         nats (the deterministic model has none)
  sample(variables, previous, key) -> [B, D]            unclamped (ActionPrior clamps)
  population_statistics(variables, previous, actions, batch_size) -> batch_stats

Actions and conditions are in the units the learner rescales them to ([-1, 1] over the Box).
"""

import functools
from typing import Any, Dict, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from offline.sfp import flow
from runner import errors

PRIOR_TYPES = ('flow', 'gaussian', 'deterministic')
Variables = Dict[str, Any]


def variables_of(initialised: Any) -> Variables:
  """flax's init output as {'params', 'batch_stats'} plain dicts, batch_stats empty if none."""
  return {'params': initialised['params'], 'batch_stats': initialised.get('batch_stats', {})}


class PriorModel:
  """What the kinds share; see the module docstring."""
  name = ''
  loss_name = 'nll'  # the training statistic, and validation_<loss_name>
  has_density = True

  def __init__(self, action_dim: int, network: nn.Module):
    self.action_dim = int(action_dim)
    self.network = network

  def init(self, key: jax.Array) -> Variables:
    """The network's variables as its flax initializers make them (orthogonal kernels, zero
    biases and batch-norm parameters, running statistics (0, 1)), drawn on the host: only the
    structure comes from flax (see flow.orthogonal_matrix)."""
    zeros = jnp.zeros((1, self.action_dim), jnp.float32)
    shapes = jax.eval_shape(self._init, key, zeros)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key), np.uint32).tolist())

    def initial(path, leaf):
      name = path[-1].key
      if name == 'kernel':
        return jnp.asarray(flow.orthogonal_matrix(rng, *leaf.shape))
      return jnp.full(leaf.shape, 1.0 if name == 'var' else 0.0, leaf.dtype)

    return variables_of(jax.tree_util.tree_map_with_path(initial, shapes))

  def _init(self, key, zeros):
    return self.network.init(key, zeros)

  def training_loss(self, variables: Variables, previous: jnp.ndarray,
                    actions: jnp.ndarray) -> Tuple[jnp.ndarray, Any]:
    return jnp.mean(self.row_losses(variables, previous, actions)), variables['batch_stats']

  def row_losses(self, variables: Variables, previous: jnp.ndarray,
                 actions: jnp.ndarray) -> jnp.ndarray:
    return -self.log_prob(variables, previous, actions)

  def population_statistics(self, variables: Variables, previous: np.ndarray,
                            actions: np.ndarray, batch_size: int) -> Any:
    del previous, actions, batch_size
    return variables['batch_stats']


class FlowModel(PriorModel):
  """The conditional RealNVP flow of flow.py."""
  name = 'flow'

  def __init__(self, action_dim: int, num_blocks: int = 6, hidden_size: int = 128,
               condition_sizes: Sequence[int] = (128, 128, 128), batch_norm: bool = True,
               batch_norm_momentum: float = 0.0, batch_norm_eps: float = 1e-5):
    super().__init__(action_dim, flow.ConditionalFlow(
        int(action_dim), int(num_blocks), int(hidden_size), tuple(condition_sizes),
        bool(batch_norm), float(batch_norm_momentum), float(batch_norm_eps)))
    self._blocks = {}

  def _init(self, key, zeros):
    return self.network.init(key, zeros, zeros)

  def training_loss(self, variables, previous, actions):
    log_prob, updates = self.network.apply(variables, actions, previous, True,
                                           method=flow.ConditionalFlow.log_prob,
                                           mutable=['batch_stats'])
    return -jnp.mean(log_prob), updates.get('batch_stats', variables['batch_stats'])

  def log_prob(self, variables, previous, actions):
    return self.network.apply(variables, actions, previous, method=flow.ConditionalFlow.log_prob)

  def sample(self, variables, previous, key):
    noise = jax.random.normal(key, (previous.shape[0], self.action_dim), jnp.float32)
    return self.network.apply(variables, noise, previous, method=flow.ConditionalFlow.inverse)[0]

  def _block(self, index: int):
    if index not in self._blocks:
      self._blocks[index] = jax.jit(functools.partial(
          self.network.apply, method=flow.ConditionalFlow.block, index=index))
    return self._blocks[index]

  def population_statistics(self, variables, previous, actions, batch_size):
    """Every batch-norm layer's statistics over all the rows given, in training mode: what the
    reference puts in the running statistics after each epoch (one forward pass over the whole
    training set, momentum 0). Layer k's input depends on the statistics of the layers before
    it, so the rows are pushed through block by block, `batch_size` rows per jitted call."""
    if not self.network.batch_norm:
      return variables['batch_stats']
    previous = np.asarray(previous, np.float32)
    x = np.asarray(actions, np.float32)
    num_rows = len(x)
    size = max(1, min(int(batch_size), num_rows))
    statistics = dict(variables['batch_stats'])
    for index in range(self.network.num_blocks):
      block = self._block(index)
      parts = []
      for start in range(0, num_rows, size):
        # The last call is padded to the same size, so each block compiles once.
        rows = np.minimum(np.arange(start, start + size), num_rows - 1)
        parts.append(np.asarray(block(variables, x[rows], previous[rows]))[:num_rows - start])
      y = np.concatenate(parts).astype(np.float64)
      mean = y.mean(axis=0)
      var = np.square(y - mean).mean(axis=0) + self.network.batch_norm_eps
      name = f'batch_norms_{index}'
      statistics[name] = {'mean': jnp.asarray(mean, jnp.float32),
                          'var': jnp.asarray(var, jnp.float32)}
      layer = variables['params'][name]
      x = (np.exp(np.asarray(layer['log_gamma'], np.float64)) * (y - mean) / np.sqrt(var)
           + np.asarray(layer['beta'], np.float64)).astype(np.float32)
    return statistics


class GaussianNetwork(nn.Module):
  """Dense ReLU Dense ReLU, then linear heads for the mean and the log standard deviation."""
  action_dim: int
  hidden_size: int = 128
  log_std_bounds: Tuple[float, float] = (-10.0, 2.0)

  @nn.compact
  def __call__(self, conditions: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
    hidden = nn.relu(flow.dense(self.hidden_size)(conditions))
    hidden = nn.relu(flow.dense(self.hidden_size)(hidden))
    mean = flow.dense(self.action_dim, 'mean')(hidden)
    # Bounded so that nearly deterministic data cannot drive the likelihood to infinity.
    log_std = jnp.clip(flow.dense(self.action_dim, 'log_std')(hidden), *self.log_std_bounds)
    return mean, log_std


class GaussianModel(PriorModel):
  """A diagonal Gaussian over a_t whose mean and log standard deviation are an MLP of a_{t-1}.

  The reference's Gaussian ablation scores atanh of the *condition* under the Gaussian (its
  flows/main.py reassigns the conditioning variable before the likelihood): a bug this model
  does not copy; it is fit to a_t itself, in the same units as the flow, so their NLLs compare."""
  name = 'gaussian'

  def __init__(self, action_dim: int, hidden_size: int = 128):
    super().__init__(action_dim, GaussianNetwork(int(action_dim), int(hidden_size)))

  def log_prob(self, variables, previous, actions):
    mean, log_std = self.network.apply(variables, previous)
    noise = (actions - mean) * jnp.exp(-log_std)
    return flow.standard_normal_log_density(noise) - jnp.sum(log_std, axis=-1)

  def sample(self, variables, previous, key):
    mean, log_std = self.network.apply(variables, previous)
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)


class DeterministicNetwork(nn.Module):
  """Dense ReLU Dense ReLU Dense tanh (the reference's deterministic prior)."""
  action_dim: int
  hidden_size: int = 128

  @nn.compact
  def __call__(self, conditions: jnp.ndarray) -> jnp.ndarray:
    hidden = nn.relu(flow.dense(self.hidden_size)(conditions))
    hidden = nn.relu(flow.dense(self.hidden_size)(hidden))
    return jnp.tanh(flow.dense(self.action_dim)(hidden))


class DeterministicModel(PriorModel):
  """a_t as a function of a_{t-1}, fit by squared error; it has no density."""
  name = 'deterministic'
  loss_name = 'mse'
  has_density = False

  def __init__(self, action_dim: int, hidden_size: int = 128):
    super().__init__(action_dim, DeterministicNetwork(int(action_dim), int(hidden_size)))

  def row_losses(self, variables, previous, actions):
    """The squared error averaged over the action's dimensions."""
    return jnp.mean(jnp.square(self.network.apply(variables, previous) - actions), axis=-1)

  def log_prob(self, variables, previous, actions):
    raise errors.BadInputError('a deterministic SFP prior (prior_type = \'deterministic\') has no '
                               'density: train a \'flow\' or \'gaussian\' prior for log_prob')

  def sample(self, variables, previous, key):
    del key  # always the same action
    return self.network.apply(variables, previous)


def build_model(prior_type: str, action_dim: int, num_blocks: int = 6, hidden_size: int = 128,
                condition_sizes: Sequence[int] = (128, 128, 128), batch_norm: bool = True,
                batch_norm_momentum: float = 0.0, batch_norm_eps: float = 1e-5) -> PriorModel:
  """The model of `prior_type` (one of PRIOR_TYPES); the flow's settings apply to the flow only,
  `hidden_size` to all."""
  if prior_type == 'flow':
    return FlowModel(action_dim, num_blocks, hidden_size, condition_sizes, batch_norm,
                     batch_norm_momentum, batch_norm_eps)
  if prior_type == 'gaussian':
    return GaussianModel(action_dim, hidden_size)
  if prior_type == 'deterministic':
    return DeterministicModel(action_dim, hidden_size)
  raise errors.InvalidSettingError(f'unknown SFP prior_type {prior_type!r}; choose one of '
                                   f'{", ".join(PRIOR_TYPES)}')
