"""Evaluating a DSM delta-model against Monte Carlo (METHODS.md, DSM): from a few source states,
many rollouts of the data policy give reference return distributions for several reward functions,
and the delta-model's return atoms are compared with them by three distances between samples
(Cramer-von Mises, Wasserstein-1, Kolmogorov-Smirnov) and drawn as CDFs.

- `monte_carlo_returns`: the reference returns, rolled out on many copies of the environment at
  once, with one batched call of the policy (`act_batch`) per step.
- `distribution_distances`: the three distances between two samples.
- `return_distribution_figure`: the predicted and reference CDFs, one panel per (reward, source).
- `ReturnDistributionEvaluation`: the gin-configurable whole, which computes the reference once
  per run directory and caches it there, then scores any delta-model against it.
- `PENDULUM_SOURCE_STATES` / `PENDULUM_SOURCE_LABELS`: the reference's nine Pendulum sources.
"""

import functools
import json
import logging
import math
import os
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

import gin
import jax
import numpy as np
import scipy.stats
import tqdm

from offline.dsm.rewards import rewards_of
from runner import errors
from runner import factories

# Pendulum-v1 simulator states (theta, theta_dot): theta in {pi/2, pi, 3pi/2} (theta = 0 is
# upright, so these are horizontal, hanging down, horizontal on the other side) x theta_dot in
# {-4, 0, 4}.
PENDULUM_SOURCE_STATES = tuple((theta, theta_dot)
                               for theta in (math.pi / 2, math.pi, 3 * math.pi / 2)
                               for theta_dot in (-4.0, 0.0, 4.0))
PENDULUM_SOURCE_LABELS = tuple(f'theta={theta}, theta_dot={theta_dot:g}'
                               for theta in ('pi/2', 'pi', '3pi/2')
                               for theta_dot in (-4.0, 0.0, 4.0))
# For gin files: `ReturnDistributionEvaluation.source_states = %PENDULUM_SOURCE_STATES`.
gin.constant('PENDULUM_SOURCE_STATES', PENDULUM_SOURCE_STATES)
gin.constant('PENDULUM_SOURCE_LABELS', PENDULUM_SOURCE_LABELS)

DISTANCE_NAMES = ('cramer_von_mises', 'wasserstein', 'kolmogorov_smirnov')


def _require_act_batch(policy: Any) -> None:
  if not callable(getattr(policy, 'act_batch', None)):
    raise errors.BadInputError(
        f'the policy {type(policy).__name__} has no act_batch(observations, rng): Monte Carlo '
        'rollouts act on many copies of the environment at once (UniformRandomPolicy and '
        'AgentPolicy have it)')


def _discounted_returns(visited: np.ndarray, reward_fn: Callable[[Any], Any], name: str,
                        discounts: np.ndarray) -> np.ndarray:
  """sum_k discounts[k] r(visited[k]) per rollout, for observations visited [T, B, ...]."""
  steps, rollouts = visited.shape[:2]
  rewards = rewards_of(reward_fn, visited.reshape(steps * rollouts, -1), name)
  return discounts @ rewards.reshape(steps, rollouts)


def monte_carlo_returns(make_environment: Callable[[], Any],
                        set_state: Callable[[Any, Any], Any],
                        policy: Any,
                        source_states: Sequence[Any],
                        reward_fns: Mapping[str, Callable[[Any], Any]],
                        gamma: float,
                        num_rollouts: int = 5000,
                        rollout_steps: int = 200,
                        seed: int = 0,
                        batch_size: int = 1000,
                        progress_bar: bool = True) -> Dict[str, Any]:
  """Discounted returns of `policy` from each source state, by Monte Carlo.

  For each source (a simulator state, as `set_state(env, state) -> observation` takes it),
  `num_rollouts` rollouts of `rollout_steps` steps start there; rollout i's return for a reward r
  of states is sum_{k < rollout_steps} gamma^k r(s_k) over the observations it visits, s_0 being
  the source's observation. A rollout that terminates stays at its final observation (absorbing)
  for the rest of the horizon; truncations (time limits) are ignored, the horizon being
  `rollout_steps`. `batch_size` copies of the environment (each from `make_environment()`) step
  together, with one `policy.act_batch(observations, rng)` per step: a list of environments
  stepped in turn measured faster than gymnasium's SyncVectorEnv, whose automatic resets an
  absorbing rollout would also have to undo.

  Deterministic for (`seed`, `batch_size`): each copy is reset with a seed of its own before
  `set_state` (its generator then drives the environment's noise), and the policy draws from a
  Generator per batch (`policy.reset` is handed it too, with the first copy and an empty info).

  Returns {'returns': {reward name: [num_sources, num_rollouts] float64},
  'source_observations': [num_sources, ...] the observation `set_state` gave for each source}.
  """
  _require_act_batch(policy)
  reward_fns = dict(reward_fns)
  source_states = list(source_states)
  if not source_states or not reward_fns:
    raise errors.InvalidSettingError('monte_carlo_returns needs at least one source state and '
                                     'one reward function')
  if min(num_rollouts, rollout_steps, batch_size) < 1:
    raise errors.InvalidSettingError(
        f'num_rollouts ({num_rollouts}), rollout_steps ({rollout_steps}) and batch_size '
        f'({batch_size}) must be positive')
  batch_size = min(batch_size, num_rollouts)
  discounts = float(gamma) ** np.arange(rollout_steps, dtype=np.float64)
  returns = {name: np.empty((len(source_states), num_rollouts)) for name in reward_fns}
  source_observations = []
  bar = tqdm.tqdm(total=len(source_states) * num_rollouts * rollout_steps, unit='step',
                  unit_scale=True, desc='Monte Carlo returns', disable=not progress_bar)
  envs = [make_environment() for _ in range(batch_size)]
  try:
    for source_index, state in enumerate(source_states):
      for first in range(0, num_rollouts, batch_size):
        count = min(batch_size, num_rollouts - first)
        env_seeds = np.random.SeedSequence([seed, source_index, first, 0]).generate_state(count)
        rng = np.random.default_rng([seed, source_index, first, 1])
        starts = []
        for env, env_seed in zip(envs[:count], env_seeds):
          env.reset(seed=int(env_seed))
          starts.append(np.asarray(set_state(env, state)))
        observations = np.stack(starts)
        if first == 0:
          source_observations.append(observations[0].copy())
        # The reset's info describes the state before set_state, so the policy gets none.
        policy.reset(envs[0], observations[0], {}, rng)
        visited = np.empty((rollout_steps, *observations.shape), observations.dtype)
        running = np.ones(count, bool)
        for step in range(rollout_steps):
          visited[step] = observations
          bar.update(count)
          if step == rollout_steps - 1:
            break  # the last action's outcome lies beyond the horizon
          actions = np.asarray(policy.act_batch(observations, rng))
          for row in np.flatnonzero(running):
            observation, _, terminated, _, _ = envs[row].step(actions[row])
            observations[row] = observation
            running[row] = not terminated
        for name, reward_fn in reward_fns.items():
          returns[name][source_index, first:first + count] = _discounted_returns(
              visited, reward_fn, name, discounts)
  finally:
    bar.close()
    for env in envs:
      env.close()
  return {'returns': returns, 'source_observations': np.stack(source_observations)}


def cramer_von_mises(first: np.ndarray, second: np.ndarray) -> float:
  """The two-sample Cramer-von Mises statistic, n m / (n + m)^2 times the sum over the pooled
  sample of the squared difference of the two empirical CDFs (Anderson, 1962). Without ties it is
  scipy.stats.cramervonmises_2samp's statistic; scipy's rank formula assumes no ties, and returns
  from a reward of few values (an indicator's) tie by thousands, where it reaches 10^4 for samples
  that the CDFs put no further apart than 1."""
  first, second = np.sort(first), np.sort(second)
  pooled = np.concatenate([first, second])
  gap = (np.searchsorted(first, pooled, side='right') / first.size
         - np.searchsorted(second, pooled, side='right') / second.size)
  n, m = first.size, second.size
  return float(n * m / (n + m) ** 2 * np.sum(np.square(gap)))


def distribution_distances(predicted: Any, reference: Any) -> Dict[str, float]:
  """Distances between two samples of returns (1-D, any sizes): the two-sample Cramer-von Mises
  statistic, the Wasserstein-1 distance between their empirical distributions and the
  Kolmogorov-Smirnov statistic (the largest gap between their empirical CDFs)."""
  predicted = np.ravel(np.asarray(predicted, np.float64))
  reference = np.ravel(np.asarray(reference, np.float64))
  if not (predicted.size and reference.size):
    raise errors.BadInputError('distribution_distances needs two non-empty samples')
  return {
      'cramer_von_mises': cramer_von_mises(predicted, reference),
      'wasserstein': float(scipy.stats.wasserstein_distance(predicted, reference)),
      'kolmogorov_smirnov': float(scipy.stats.ks_2samp(predicted, reference).statistic),
  }


def _empirical_cdf(values: np.ndarray):
  values = np.sort(np.ravel(values))
  return values, np.arange(1, values.size + 1) / values.size


def return_distribution_figure(predicted: Mapping[str, Any], reference: Mapping[str, Any],
                               source_labels: Optional[Sequence[str]] = None):
  """A matplotlib Figure (object-oriented, drawn with Agg by runner/metrics.write_figure): one
  panel per (reward: a row, source: a column) with the empirical CDFs of the predicted atoms
  (predicted[reward] [num_sources, atoms]) and of the Monte Carlo returns (reference[reward]
  [num_sources, rollouts]), over a faint histogram of the Monte Carlo returns."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  names = list(predicted)
  num_sources = len(np.asarray(predicted[names[0]]))
  labels = list(source_labels) if source_labels is not None else [
      f'source {index}' for index in range(num_sources)]
  figure = Figure(figsize=(2.8 * num_sources, 2.4 * len(names)), dpi=80)
  axes = figure.subplots(len(names), num_sources, squeeze=False)
  for row, name in enumerate(names):
    for column in range(num_sources):
      axis = axes[row, column]
      monte_carlo = np.asarray(reference[name][column], np.float64)
      model = np.asarray(predicted[name][column], np.float64)
      histogram = axis.twinx()
      histogram.hist(monte_carlo, bins=30, color='tab:gray', alpha=0.25)
      histogram.set_yticks([])
      axis.step(*_empirical_cdf(monte_carlo), where='post', color='black', label='Monte Carlo')
      axis.step(*_empirical_cdf(model), where='post', color='tab:blue', label='delta-model')
      axis.set_ylim(0.0, 1.0)
      axis.tick_params(labelsize=7)
      if row == 0:
        axis.set_title(labels[column], fontsize=8)
      if column == 0:
        axis.set_ylabel(f'{name}\nCDF', fontsize=8)
  axes[0, 0].legend(fontsize=7, loc='upper left')
  figure.tight_layout()
  return figure


def _describe(value: Any) -> Any:
  """A JSON-able description of a setting for the cache's key: plain values as they are, functions
  and classes by their qualified names (not their reprs, whose memory addresses would change from
  one process to the next), partials by their parts, other objects by their type and their public
  plain attributes (an AgentPolicy's run_dir and deterministic)."""
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  if isinstance(value, (np.ndarray, np.generic)):
    return np.asarray(value).tolist()
  if isinstance(value, (list, tuple)):
    return [_describe(item) for item in value]
  if isinstance(value, Mapping):
    return {str(key): _describe(item) for key, item in sorted(value.items(), key=str)}
  if isinstance(value, functools.partial):
    return {'function': _describe(value.func), 'args': _describe(value.args),
            'keywords': _describe(value.keywords)}
  if hasattr(value, '__qualname__'):
    return f'{getattr(value, "__module__", "")}.{value.__qualname__}'
  kind = type(value)
  settings = {name: item for name, item in sorted(getattr(value, '__dict__', {}).items())
              if not name.startswith('_') and isinstance(item, (type(None), bool, int, float, str))}
  return {'type': f'{kind.__module__}.{kind.__qualname__}', **settings}


@gin.configurable
class ReturnDistributionEvaluation:
  """Scores a delta-model's return distributions against Monte Carlo returns of its data policy.

  `make_environment()` builds one copy of the environment and `set_state(env, state) ->
  observation` puts it in a source state (continuous_domains/mujoco.set_pendulum_state, say);
  `source_states` are those states (PENDULUM_SOURCE_STATES), `source_labels` their names in the
  figure, `reward_fns` the rewards of states by name. `reference(policy, gamma, directory)` runs
  `monte_carlo_returns` once and caches it in `directory/cache_file` (recomputed when the cached
  settings differ, or with a warning when the file cannot be read); `evaluate(delta_model,
  directory)` compares each source's `num_model_samples`-sample return distribution of the model
  with it. Missing or empty settings are reported when the evaluation is built.
  """

  def __init__(self,
               make_environment: Optional[Callable[[], Any]] = None,
               set_state: Optional[Callable[[Any, Any], Any]] = None,
               source_states: Sequence[Any] = (),
               source_labels: Optional[Sequence[str]] = None,
               reward_fns: Optional[Mapping[str, Callable[[Any], Any]]] = None,
               num_rollouts: int = 5000,
               rollout_steps: int = 200,
               num_model_samples: int = 1024,
               seed: int = 0,
               cache_file: str = 'monte_carlo_returns.npz',
               batch_size: int = 1000,
               progress_bar: bool = True):
    name = type(self).__name__
    make_environment = errors.require_binding(
        make_environment, f'{name}.make_environment',
        'a domain factory that builds one copy of the environment, e.g. '
        '@create_mujoco_environment')
    # Built once now, by the bare reference: gin records a configurable's bindings in the
    # operative config (the run's config.gin, from which load_component rebuilds the run) only
    # when it is called under them. Then held with those bindings, since a rebuilt run
    # evaluates after its configuration is gone (factories.with_bindings_now).
    self._environment = self._describe_environment(make_environment)
    self.make_environment = factories.with_bindings_now(make_environment)
    self.set_state = factories.with_bindings_now(errors.require_binding(
        set_state, f'{name}.set_state', 'e.g. @set_pendulum_state, which puts an environment in a '
        'source state and returns its observation'))
    self.source_states = [np.asarray(state, np.float64).tolist() for state in source_states]
    if not self.source_states:
      raise errors.InvalidSettingError(f'{name}.source_states is empty: give the simulator states '
                                       'the rollouts start from')
    self.source_labels = ([str(label) for label in source_labels] if source_labels is not None
                          else [str(state) for state in self.source_states])
    if len(self.source_labels) != len(self.source_states):
      raise errors.InvalidSettingError(
          f'{name}.source_labels has {len(self.source_labels)} labels for '
          f'{len(self.source_states)} source states')
    errors.require_binding(reward_fns, f'{name}.reward_fns', 'a dict of reward functions of '
                           'states by name')
    if not reward_fns:
      raise errors.InvalidSettingError(f'{name}.reward_fns is empty: give at least one reward '
                                       'function')
    not_callable = [str(key) for key, fn in reward_fns.items() if not callable(fn)]
    if not_callable:
      raise errors.InvalidSettingError(f'{name}.reward_fns: {", ".join(not_callable)} are not '
                                       'functions')
    self.reward_fns = {str(key): factories.with_bindings_now(fn)
                       for key, fn in reward_fns.items()}
    for setting, value in (('num_rollouts', num_rollouts), ('rollout_steps', rollout_steps),
                           ('num_model_samples', num_model_samples), ('batch_size', batch_size)):
      if int(value) < 1:
        raise errors.InvalidSettingError(f'{name}.{setting} must be positive, got {value}')
    self.num_rollouts = int(num_rollouts)
    self.rollout_steps = int(rollout_steps)
    self.num_model_samples = int(num_model_samples)
    self.seed = int(seed)
    self.cache_file = cache_file
    self.batch_size = int(batch_size)
    self.progress_bar = progress_bar

  @staticmethod
  def _describe_environment(make_environment: Callable[[], Any]) -> Dict[str, str]:
    """The environment's id and spaces: what `make_environment` builds depends on bindings (a
    factory's `fn`, say) that its name alone does not show."""
    env = make_environment()
    try:
      return {'id': env.spec.id if env.spec is not None else type(env.unwrapped).__name__,
              'observation_space': str(env.observation_space),
              'action_space': str(env.action_space)}
    finally:
      env.close()

  def _settings(self, policy: Any, gamma: float) -> str:
    """What the reference returns depend on, as the JSON text the cache is keyed by."""
    return json.dumps(_describe({
        'make_environment': self.make_environment, 'set_state': self.set_state,
        'environment': self._environment,
        'policy': policy, 'gamma': float(gamma), 'source_states': self.source_states,
        'reward_fns': self.reward_fns, 'num_rollouts': self.num_rollouts,
        'rollout_steps': self.rollout_steps, 'seed': self.seed, 'batch_size': self.batch_size,
    }), sort_keys=True)

  def _read_cache(self, path: str, settings: str) -> Optional[Dict[str, Any]]:
    if not os.path.exists(path):
      return None
    try:
      with np.load(path, allow_pickle=False) as cache:
        if str(cache['settings']) != settings:
          logging.info('%s was computed with other settings: recomputing the Monte Carlo '
                       'returns', path)
          return None
        return {'returns': {name: np.array(cache[f'returns/{name}']) for name in self.reward_fns},
                'source_observations': np.array(cache['source_observations'])}
    except Exception as error:  # pylint: disable=broad-except
      # Whatever is wrong with the file (torn, truncated, not an npz), it is only a cache.
      logging.warning('cannot read the cached Monte Carlo returns %s (%s: %s): recomputing them',
                      path, type(error).__name__, error)
      return None

  def reference(self, policy: Any, gamma: float, directory: str) -> Dict[str, Any]:
    """`monte_carlo_returns` of `policy` with discount `gamma` for this evaluation's settings,
    read from `directory/cache_file` when it holds them, else computed and written there
    (atomically, so a reader never sees half a file)."""
    _require_act_batch(policy)
    path = os.path.join(directory, self.cache_file)
    settings = self._settings(policy, gamma)
    cached = self._read_cache(path, settings)
    if cached is not None:
      return cached
    result = monte_carlo_returns(
        self.make_environment, self.set_state, policy, self.source_states, self.reward_fns,
        gamma, num_rollouts=self.num_rollouts, rollout_steps=self.rollout_steps, seed=self.seed,
        batch_size=self.batch_size, progress_bar=self.progress_bar)
    os.makedirs(directory, exist_ok=True)
    temporary = path + '.tmp'
    with open(temporary, 'wb') as file:
      np.savez(file, settings=np.array(settings),
               source_observations=result['source_observations'],
               **{f'returns/{name}': returns for name, returns in result['returns'].items()})
    os.replace(temporary, path)
    return result

  def evaluate(self, delta_model: Any, directory: str, key: Optional[jax.Array] = None):
    """(statistics, figure) for `delta_model` (with `policy`, `gamma` and
    `return_distribution(observation, reward_fn, num_samples[, key])`) against the Monte Carlo
    returns of its policy. Statistics, per reward: '{reward}/{distance}', the mean over sources
    of each of DISTANCE_NAMES, and '{reward}/{distance}_max', the worst source. With `key`, the
    model draws source i's samples from fold_in(key, i) (the same for every reward); without,
    from its own stream."""
    missing = [part for part in ('policy', 'gamma', 'return_distribution')
               if not hasattr(delta_model, part)]
    if missing:
      raise errors.BadInputError(f'{type(delta_model).__name__} is not a delta-model: it has no '
                                 f'{", ".join(missing)}')
    if delta_model.policy is None:
      raise errors.BadInputError('the delta-model names no data policy (its `policy`), so there '
                                 'is nothing to roll out for the Monte Carlo returns')
    reference = self.reference(delta_model.policy, delta_model.gamma, directory)
    statistics, predicted = self.score(delta_model, reference, key)
    figure = return_distribution_figure(predicted, reference['returns'], self.source_labels)
    return statistics, figure

  def score(self, delta_model: Any, reference: Mapping[str, Any],
            key: Optional[jax.Array] = None):
    """(statistics, predicted) of `delta_model` against `reference` (what `reference` returns):
    the statistics as `evaluate` describes them, and the predicted atoms by reward
    [num_sources, atoms]."""
    predicted = {name: [] for name in self.reward_fns}
    for index, observation in enumerate(reference['source_observations']):
      keys = {} if key is None else {'key': jax.random.fold_in(key, index)}
      for name, reward_fn in self.reward_fns.items():
        predicted[name].append(np.asarray(delta_model.return_distribution(
            observation, reward_fn, self.num_model_samples, **keys), np.float64))
    statistics = {}
    for name in self.reward_fns:
      distances = [distribution_distances(atoms, returns)
                   for atoms, returns in zip(predicted[name], reference['returns'][name])]
      for distance in DISTANCE_NAMES:
        values = [by_source[distance] for by_source in distances]
        statistics[f'{name}/{distance}'] = float(np.mean(values))
        statistics[f'{name}/{distance}_max'] = float(np.max(values))
    return statistics, {name: np.stack(atoms) for name, atoms in predicted.items()}
