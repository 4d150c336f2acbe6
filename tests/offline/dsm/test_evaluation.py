"""DSM's evaluation against Monte Carlo: rollouts on a fake chain whose returns have closed forms
(a deterministic walk, an absorbing end, a random walk's mean and variance), determinism, the three
distances against hand-computed values, the figure, and ReturnDistributionEvaluation end to end
with a fake delta-model (its scores, the cache's reuse and recomputation, its errors)."""

import functools
import logging

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from offline.controllers import UniformRandomPolicy
from offline.dsm import evaluation
from runner import errors
from runner import metrics


class ChainEnv(gymnasium.Env):
  """A position on a line: action 1 steps it by +1, action 0 by -1, plus `wind` times a standard
  normal from the environment's generator; terminates once the position reaches `end`."""

  def __init__(self, wind=0.0, end=None):
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    self.action_space = gymnasium.spaces.Discrete(2)
    self.wind = wind
    self.end = end
    self.position = 0.0

  def observation(self):
    return np.array([self.position])

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.position = 0.0
    return self.observation(), {}

  def step(self, action):
    assert self.end is None or self.position < self.end, 'stepped after termination'
    self.position += 2.0 * int(action) - 1.0 + self.wind * self.np_random.standard_normal()
    terminated = self.end is not None and self.position >= self.end
    return self.observation(), 0.0, terminated, False, {}


def set_chain_state(env, state):
  env.unwrapped.position = float(np.ravel(state)[0])
  return env.unwrapped.observation()


class AlwaysRight:
  """Steps right whatever it sees; counts its batched calls and has no per-step call."""

  def __init__(self):
    self.batch_calls = 0

  def reset(self, env, observation, info, rng):
    del env, observation, info, rng

  def act_batch(self, observations, rng):
    del rng
    self.batch_calls += 1
    return np.ones(len(observations), np.int64)

  def __call__(self, observation, info):
    raise AssertionError('Monte Carlo rollouts must act through act_batch')


REWARDS = {'position': lambda states: states[:, 0],
           'squared': lambda states: jnp.square(states[:, 0])}


def test_a_deterministic_walk_returns_its_closed_form_with_one_policy_call_per_step():
  gamma, steps, sources = 0.9, 12, [(0.0,), (3.0,)]
  policy = AlwaysRight()
  result = evaluation.monte_carlo_returns(ChainEnv, set_chain_state, policy, sources, REWARDS,
                                          gamma, num_rollouts=10, rollout_steps=steps,
                                          batch_size=4, progress_bar=False)
  discounts = gamma ** np.arange(steps)
  np.testing.assert_array_equal(result['source_observations'], [[0.0], [3.0]])
  for index, (start,) in enumerate(sources):
    positions = start + np.arange(steps)  # s_0 is the source itself
    np.testing.assert_allclose(result['returns']['position'][index], discounts @ positions)
    np.testing.assert_allclose(result['returns']['squared'][index], discounts @ positions ** 2,
                               rtol=1e-6)
  assert result['returns']['position'].shape == (2, 10)
  # Batches of 4, 4 and 2 rollouts per source; no action is needed after the last observation.
  assert policy.batch_calls == 2 * 3 * (steps - 1)


def test_a_terminated_rollout_stays_at_its_final_observation():
  gamma, steps = 0.8, 10
  result = evaluation.monte_carlo_returns(
      functools.partial(ChainEnv, end=4.0), set_chain_state, AlwaysRight(), [(1.0,)], REWARDS,
      gamma, num_rollouts=3, rollout_steps=steps, progress_bar=False)
  positions = np.minimum(1.0 + np.arange(steps), 4.0)  # 1, 2, 3, 4, 4, 4, ...
  np.testing.assert_allclose(result['returns']['position'][0],
                             gamma ** np.arange(steps) @ positions)


def test_a_random_walks_returns_have_its_mean_and_variance():
  # x_k = x_0 + sum_{j<k} e_j with e_j = +-1 + wind * N(0, 1): the return sum_k gamma^k x_k has
  # mean x_0 sum_k gamma^k and variance (1 + wind^2) sum_j (sum_{k>j} gamma^k)^2.
  gamma, steps, wind, rollouts = 0.9, 15, 0.5, 4000
  result = evaluation.monte_carlo_returns(
      functools.partial(ChainEnv, wind=wind), set_chain_state, UniformRandomPolicy(),
      [(2.0,)], {'position': REWARDS['position']}, gamma, num_rollouts=rollouts,
      rollout_steps=steps, batch_size=1000, progress_bar=False)
  returns = result['returns']['position'][0]
  discounts = gamma ** np.arange(steps)
  tails = np.array([discounts[j + 1:].sum() for j in range(steps - 1)])
  variance = (1 + wind ** 2) * np.sum(tails ** 2)
  standard_error = np.sqrt(variance / rollouts)
  assert returns.mean() == pytest.approx(2.0 * discounts.sum(), abs=4 * standard_error)
  assert returns.var() == pytest.approx(variance, rel=0.1)


def test_rollouts_are_deterministic_for_a_seed():
  def run(seed):
    return evaluation.monte_carlo_returns(
        functools.partial(ChainEnv, wind=0.3), set_chain_state, UniformRandomPolicy(),
        [(0.0,), (1.0,)], REWARDS, 0.95, num_rollouts=50, rollout_steps=8, seed=seed,
        batch_size=20, progress_bar=False)['returns']

  first, again, other = run(0), run(0), run(1)
  for name in REWARDS:
    np.testing.assert_array_equal(first[name], again[name])
    assert not np.allclose(first[name], other[name])
    assert len(np.unique(first[name][0])) > 40  # the rollouts differ from one another


def test_a_policy_without_act_batch_is_named():
  class StepwiseOnly:
    def reset(self, env, observation, info, rng):
      pass

    def __call__(self, observation, info):
      return 1

  with pytest.raises(errors.BadInputError, match='StepwiseOnly has no act_batch'):
    evaluation.monte_carlo_returns(ChainEnv, set_chain_state, StepwiseOnly(), [(0.0,)], REWARDS,
                                   0.9, num_rollouts=2, rollout_steps=2, progress_bar=False)


def test_a_reward_function_must_give_one_reward_per_state():
  with pytest.raises(errors.BadInputError, match="'pairs' gave rewards of shape"):
    evaluation.monte_carlo_returns(ChainEnv, set_chain_state, AlwaysRight(), [(0.0,)],
                                   {'pairs': lambda states: states[:, :1] * [1.0, 2.0]}, 0.9,
                                   num_rollouts=2, rollout_steps=2, progress_bar=False)


# ---------------------------------------------------------------------------------------------
# distances and the figure


def cramer_von_mises_by_its_formula(x, y):
  """N M / (N + M)^2 sum over the pooled sample of (F_N(z) - G_M(z))^2 (ties-free samples)."""
  x, y = np.asarray(x, float), np.asarray(y, float)
  pooled = np.concatenate([x, y])
  gaps = (x[None] <= pooled[:, None]).mean(1) - (y[None] <= pooled[:, None]).mean(1)
  return len(x) * len(y) / (len(x) + len(y)) ** 2 * np.sum(gaps ** 2)


def test_distances_by_hand():
  distances = evaluation.distribution_distances([0.0, 1.0], [0.0, 2.0])
  assert distances['wasserstein'] == pytest.approx(0.5)
  assert distances['kolmogorov_smirnov'] == pytest.approx(0.5)
  # {0, 2} against {1, 3}: the ECDF gaps at 0, 1, 2, 3 are 1/2, 0, 1/2, 0, so
  # CvM = 2 * 2 / 4^2 * (1/4 + 1/4) = 0.125; W1 moves each point by 1; KS is the gap 1/2.
  distances = evaluation.distribution_distances([0.0, 2.0], [1.0, 3.0])
  assert distances == pytest.approx({'cramer_von_mises': 0.125, 'wasserstein': 1.0,
                                     'kolmogorov_smirnov': 0.5})
  assert all(isinstance(value, float) for value in distances.values())
  x, y = [0.1, 0.5, 2.0], [0.3, 1.0, 1.5, 3.0, -1.0]
  assert evaluation.distribution_distances(x, y)['cramer_von_mises'] == pytest.approx(
      cramer_von_mises_by_its_formula(x, y))
  same = evaluation.distribution_distances([3.0, 1.0, 2.0], [1.0, 2.0, 3.0])
  assert same['kolmogorov_smirnov'] == 0 and same['wasserstein'] == 0


def test_cramer_von_mises_is_scipys_without_ties_and_bounded_with_them():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=51), rng.normal(0.3, 1.0, size=500)
  assert evaluation.cramer_von_mises(x, y) == pytest.approx(
      scipy.stats.cramervonmises_2samp(x, y).statistic, rel=1e-9)
  # Returns of an indicator reward tie by thousands: the ECDF form stays below n m / (n + m)
  # (CDFs at most 1 apart), where scipy's rank formula gives about 2 x 10^4 here.
  x = np.full(51, -3.0)
  y = np.concatenate([np.full(4000, -19.9), np.full(1000, -10.0)])
  statistic = evaluation.cramer_von_mises(x, y)
  assert statistic == pytest.approx(cramer_von_mises_by_its_formula(x, y))
  assert statistic <= 51 * 5000 / 5051


def test_the_figure_has_a_panel_per_reward_and_source(tmp_path):
  rng = np.random.default_rng(0)
  predicted = {'a': rng.normal(size=(3, 51)), 'b': rng.normal(size=(3, 51))}
  reference = {'a': rng.normal(size=(3, 400)), 'b': rng.normal(size=(3, 400))}
  figure = evaluation.return_distribution_figure(predicted, reference, ['x', 'y', 'z'])
  titled = [axis for axis in figure.axes if axis.get_title()]
  assert [axis.get_title() for axis in titled] == ['x', 'y', 'z']
  # Each panel's CDFs share it with a histogram on a twin axis.
  assert len(figure.axes) == 2 * 2 * 3
  metrics.write_figure(None, 'dsm/returns', figure, 0, str(tmp_path / 'returns.png'))
  assert (tmp_path / 'returns.png').stat().st_size > 0


def test_pendulum_sources_are_the_references_nine():
  assert len(evaluation.PENDULUM_SOURCE_STATES) == len(evaluation.PENDULUM_SOURCE_LABELS) == 9
  thetas = {theta for theta, _ in evaluation.PENDULUM_SOURCE_STATES}
  speeds = {speed for _, speed in evaluation.PENDULUM_SOURCE_STATES}
  np.testing.assert_allclose(sorted(thetas), [np.pi / 2, np.pi, 3 * np.pi / 2])
  assert speeds == {-4.0, 0.0, 4.0}


# ---------------------------------------------------------------------------------------------
# ReturnDistributionEvaluation


class CountingUniformPolicy(UniformRandomPolicy):
  """Counts its batched calls in a list (the cache's key describes a policy by its type and its
  plain public attributes, such as an AgentPolicy's run_dir: a count would be one)."""

  def __init__(self):
    super().__init__()
    self.batches = []

  @property
  def batch_calls(self):
    return len(self.batches)

  def act_batch(self, observations, rng):
    self.batches.append(len(observations))
    return super().act_batch(observations, rng)


class QuantileDeltaModel:
  """Predicts `num_atoms` quantiles of given returns per (source, reward), shifted by `shift`."""

  def __init__(self, policy, gamma, reference, num_atoms=51, shift=0.0):
    self.policy, self.gamma = policy, gamma
    self.reference, self.num_atoms, self.shift = reference, num_atoms, shift
    self.calls = []

  def return_distribution(self, observation, reward_fn, num_samples=1024, key=None):
    self.calls.append((num_samples, key))
    source = int(np.flatnonzero(np.all(
        self.reference['source_observations'] == np.asarray(observation), axis=1))[0])
    name = next(name for name, fn in REWARDS.items() if fn is reward_fn)
    levels = (np.arange(self.num_atoms) + 0.5) / self.num_atoms
    return np.quantile(self.reference['returns'][name][source], levels) + self.shift


def make_evaluation(**overrides):
  settings = dict(make_environment=functools.partial(ChainEnv, wind=0.3),
                  set_state=set_chain_state, source_states=[(0.0,), (2.0,)],
                  source_labels=['left', 'right'], reward_fns=REWARDS, num_rollouts=600,
                  rollout_steps=10, num_model_samples=16, batch_size=300, progress_bar=False)
  settings.update(overrides)
  return evaluation.ReturnDistributionEvaluation(**settings)


def test_evaluation_scores_a_model_of_the_monte_carlo_quantiles_near_zero(tmp_path):
  evaluator, policy = make_evaluation(), CountingUniformPolicy()
  reference = evaluator.reference(policy, 0.9, str(tmp_path))
  assert reference['returns']['position'].shape == (2, 600)
  statistics, figure = evaluator.evaluate(QuantileDeltaModel(policy, 0.9, reference),
                                          str(tmp_path))
  assert set(statistics) == {f'{name}/{distance}{suffix}' for name in REWARDS
                             for distance in evaluation.DISTANCE_NAMES for suffix in ('', '_max')}
  spread = reference['returns']['position'].std()
  for name in REWARDS:
    assert statistics[f'{name}/kolmogorov_smirnov_max'] < 0.02
    assert statistics[f'{name}/cramer_von_mises_max'] < 0.01
    assert statistics[f'{name}/wasserstein_max'] < 0.05 * reference['returns'][name].std()
  shifted, _ = evaluator.evaluate(QuantileDeltaModel(policy, 0.9, reference, shift=spread),
                                  str(tmp_path))
  assert shifted['position/wasserstein'] == pytest.approx(spread, rel=0.01)
  assert shifted['position/kolmogorov_smirnov'] > 0.3
  assert shifted['position/cramer_von_mises'] > 1.0
  assert [axis.get_title() for axis in figure.axes if axis.get_title()] == ['left', 'right']


def test_the_reference_is_cached_and_recomputed_only_when_its_settings_change(tmp_path):
  policy = CountingUniformPolicy()
  first = make_evaluation().reference(policy, 0.9, str(tmp_path))
  calls = policy.batch_calls
  assert calls == 2 * 2 * 9 and (tmp_path / 'monte_carlo_returns.npz').exists()
  # A new evaluation (a resumed run) and the model's own queries read the cache.
  model = QuantileDeltaModel(policy, 0.9, first)
  make_evaluation().evaluate(model, str(tmp_path), key=None)
  again = make_evaluation().reference(policy, 0.9, str(tmp_path))
  assert policy.batch_calls == calls
  for name in REWARDS:
    np.testing.assert_array_equal(again['returns'][name], first['returns'][name])
  np.testing.assert_array_equal(again['source_observations'], first['source_observations'])
  # Other rollouts, another discount, another seed: recomputed.
  make_evaluation(num_rollouts=300).reference(policy, 0.9, str(tmp_path))
  assert policy.batch_calls == calls + 1 * 2 * 9
  make_evaluation(num_rollouts=300).reference(policy, 0.8, str(tmp_path))
  make_evaluation(num_rollouts=300, seed=1).reference(policy, 0.8, str(tmp_path))
  assert policy.batch_calls == calls + 3 * 2 * 9


def test_a_corrupt_cache_is_recomputed_with_a_warning(tmp_path, caplog):
  policy = CountingUniformPolicy()
  first = make_evaluation().reference(policy, 0.9, str(tmp_path))
  calls = policy.batch_calls
  (tmp_path / 'monte_carlo_returns.npz').write_bytes(b'not an npz file')
  with caplog.at_level(logging.WARNING):
    again = make_evaluation().reference(policy, 0.9, str(tmp_path))
  assert 'cannot read the cached Monte Carlo returns' in caplog.text
  assert policy.batch_calls == 2 * calls
  np.testing.assert_array_equal(again['returns']['position'], first['returns']['position'])
  make_evaluation().reference(policy, 0.9, str(tmp_path))  # the rewritten cache is whole
  assert policy.batch_calls == 2 * calls


def test_the_model_gets_its_sample_count_and_a_key_per_source(tmp_path):
  import jax  # pylint: disable=import-outside-toplevel
  policy = CountingUniformPolicy()
  evaluator = make_evaluation()
  model = QuantileDeltaModel(policy, 0.9, evaluator.reference(policy, 0.9, str(tmp_path)))
  evaluator.evaluate(model, str(tmp_path), key=jax.random.PRNGKey(3))
  assert [samples for samples, _ in model.calls] == [16] * 4
  keys = [np.asarray(key) for _, key in model.calls]
  np.testing.assert_array_equal(keys[0], keys[1])  # one source, two rewards
  assert not np.array_equal(keys[0], keys[2])


@pytest.mark.parametrize('overrides, message', [
    ({'make_environment': None}, 'ReturnDistributionEvaluation.make_environment is not bound'),
    ({'set_state': None}, 'ReturnDistributionEvaluation.set_state is not bound'),
    ({'source_states': ()}, 'source_states is empty'),
    ({'reward_fns': None}, 'ReturnDistributionEvaluation.reward_fns is not bound'),
    ({'reward_fns': {}}, 'reward_fns is empty'),
    ({'source_labels': ['only one']}, '1 labels for 2 source states'),
    ({'num_rollouts': 0}, 'num_rollouts must be positive'),
])
def test_bad_settings_are_named(overrides, message):
  with pytest.raises(errors.BadInputError, match=message):
    make_evaluation(**overrides)


def test_a_model_whose_policy_cannot_act_on_a_batch_is_named(tmp_path):
  evaluator = make_evaluation()
  model = QuantileDeltaModel(object(), 0.9, None)
  with pytest.raises(errors.BadInputError, match='object has no act_batch'):
    evaluator.evaluate(model, str(tmp_path))
  model.policy = None
  with pytest.raises(errors.BadInputError, match='names no data policy'):
    evaluator.evaluate(model, str(tmp_path))
  with pytest.raises(errors.BadInputError, match='has no policy, gamma'):
    evaluator.evaluate(object(), str(tmp_path))
