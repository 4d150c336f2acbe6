"""DSMAgent with fake delta-models on a fake environment: the risk measures by hand, zero-shot
choice among policies (mean against CVaR), predictions logged against realised returns, the checkpoint,
and bad bindings named."""

import gymnasium
import numpy as np
import pytest

from agents import dsm
from agents.dsm import DSMAgent, realised_quantile, risk_score
from runner import errors

OBSERVATIONS = gymnasium.spaces.Box(-10.0, 10.0, (1,), np.float32)
ACTIONS = gymnasium.spaces.Discrete(2)
GAMMA = 0.5


class ConstantPolicy:
  """A collection policy (offline/collection.py) that always takes `action`."""

  def __init__(self, action):
    self.action = action
    self.resets = 0

  def reset(self, env, observation, info, rng):
    assert env.action_space == ACTIONS
    self.resets += 1

  def __call__(self, observation, info):
    return self.action


class FakeDeltaModel:
  """Predicts the fixed return atoms `returns` for every reward (times the reward's scale at 1)."""

  def __init__(self, returns, action):
    self.returns = np.asarray(returns, np.float64)
    self.policy = ConstantPolicy(action)
    self.gamma = GAMMA
    self.observation_space = OBSERVATIONS
    self.calls = []

  def return_distribution(self, observation, reward_fn, num_samples=1024, key=None):
    self.calls.append(num_samples)
    return self.returns * float(reward_fn(np.ones((1, 1)))[0])

  def return_distributions(self, observations, reward_fn, num_samples=1024, key=None):
    return np.stack([self.return_distribution(o, reward_fn, num_samples) for o in observations])


def position(states):
  return np.asarray(states)[:, 0]


def test_risk_measures_by_hand():
  atoms = [3.0, -1.0, 2.0, 0.0, 10.0]
  assert risk_score(atoms, 'mean') == pytest.approx(2.8)
  assert risk_score(atoms, 'cvar', 0.2) == pytest.approx(-1.0)  # the worst one of five
  assert risk_score(atoms, 'cvar', 0.4) == pytest.approx(-0.5)  # the worst two
  assert risk_score(atoms, 'cvar', 0.3) == pytest.approx(-0.5)  # ceil(1.5) = 2
  assert risk_score(atoms, 'cvar', 1.0) == pytest.approx(2.8)
  with pytest.raises(errors.InvalidSettingError, match='risk measure'):
    risk_score(atoms, 'median')


def test_realised_quantile_by_hand():
  assert realised_quantile([1.0, 2.0, 3.0, 4.0], 3.5) == 0.75
  assert realised_quantile([1.0, 2.0, 3.0, 4.0], 2.0) == 0.375  # a tie counts half
  assert realised_quantile([1.0, 2.0], -5.0) == 0.0


def test_it_chooses_the_policy_with_the_best_distribution_under_the_risk_measure():
  safe = FakeDeltaModel([1.0, 1.0, 1.0, 1.0], action=0)  # mean 1, CVaR 1
  risky = FakeDeltaModel([-4.0, 2.0, 4.0, 6.0], action=1)  # mean 2, CVaR(0.25) -4
  by_mean = DSMAgent(OBSERVATIONS, ACTIONS, delta_models=[safe, risky], reward_fn=position)
  assert by_mean.begin_episode(np.zeros(1, np.float32)) == 1 and by_mean.chosen == 1
  by_cvar = DSMAgent(OBSERVATIONS, ACTIONS, delta_models=[safe, risky], reward_fn=position,
                     risk_measure='cvar', cvar_level=0.25)
  assert by_cvar.begin_episode(np.zeros(1, np.float32)) == 0
  assert by_cvar.step(0.0, np.ones(1, np.float32)) == 0
  # The reward decides, not the model's order: with the reward negated the safe policy wins.
  negated = DSMAgent(OBSERVATIONS, ACTIONS, delta_models=[risky, safe],
                     reward_fn=lambda states: -position(states))
  assert negated.begin_episode(np.zeros(1, np.float32)) == 0 and negated.chosen == 1


def test_predictions_are_logged_against_the_realised_discounted_return():
  model = FakeDeltaModel([0.0, 1.0, 2.0, 3.0], action=1)
  agent = DSMAgent(OBSERVATIONS, ACTIONS, delta_models=model, reward_fn=position,
                   logged_reward_fns={'double': lambda states: 2.0 * position(states)},
                   num_samples=64)
  for observations, terminated in (([1.0, 2.0, 4.0], False), ([2.0, 2.0], True)):
    agent.begin_episode(np.array([observations[0]], np.float32))
    for observation in observations[1:-1]:
      agent.step(0.0, np.array([observation], np.float32))
    agent.end_episode(0.0, terminated, np.array([observations[-1]], np.float32))
  assert model.policy.resets == 2 and set(model.calls) == {64}
  statistics = agent.iteration_statistics()
  # Episode 1, truncated: 1 + 0.5 * 2 + 0.25 * 4 = 3. Episode 2, terminated in 2 (absorbing):
  # 2 + 0.5 * 2 / (1 - 0.5) = 4.
  assert statistics['position/realised_return'] == pytest.approx(3.5)
  assert statistics['double/realised_return'] == pytest.approx(7.0)
  assert statistics['position/predicted_mean'] == pytest.approx(1.5)
  assert statistics['double/predicted_mean'] == pytest.approx(3.0)
  assert statistics['position/predicted_std'] == pytest.approx(np.std([0, 1, 2, 3]))
  # 3 ties the atom 3 (quantile 0.875); 4 is above every atom (1.0).
  assert statistics['position/realised_quantile'] == pytest.approx((0.875 + 1.0) / 2)
  assert statistics['chosen_fraction_0'] == 1.0
  histograms = agent.iteration_histograms()
  assert histograms['agent/position/predicted_returns'].shape == (8,)
  np.testing.assert_allclose(histograms['agent/position/realised_returns'], [3.0, 4.0])
  assert agent.iteration_statistics() == {} and agent.iteration_histograms() == {}


def test_the_checkpoint_restores_the_acting_stream():
  model = FakeDeltaModel([0.0, 1.0], action=0)
  agent = DSMAgent(OBSERVATIONS, ACTIONS, seed=4, delta_models=model)
  bundle = agent.bundle_and_checkpoint('unused', 0)
  expected = agent._rng.integers(1 << 30, size=3)  # pylint: disable=protected-access
  restored = DSMAgent(OBSERVATIONS, ACTIONS, seed=9, delta_models=model)
  assert restored.unbundle('unused', 0, bundle)
  restored_stream = restored._rng  # pylint: disable=protected-access
  np.testing.assert_array_equal(restored_stream.integers(1 << 30, size=3), expected)


def test_bad_bindings_are_named():
  model = FakeDeltaModel([0.0, 1.0], action=0)
  with pytest.raises(errors.MissingBindingError, match='delta_models'):
    DSMAgent(OBSERVATIONS, ACTIONS)
  with pytest.raises(errors.MissingBindingError, match='reward_fn'):
    DSMAgent(OBSERVATIONS, ACTIONS, delta_models=[model, model])
  with pytest.raises(errors.InvalidSettingError, match='risk_measure'):
    DSMAgent(OBSERVATIONS, ACTIONS, delta_models=model, risk_measure='var')
  with pytest.raises(errors.InvalidSettingError, match='cvar_level'):
    DSMAgent(OBSERVATIONS, ACTIONS, delta_models=model, cvar_level=0.0)
  with pytest.raises(errors.BadInputError, match='not a delta-model'):
    DSMAgent(OBSERVATIONS, ACTIONS, delta_models=[object()])
  without_policy = FakeDeltaModel([0.0], action=0)
  without_policy.policy = None
  with pytest.raises(errors.BadInputError, match='DeltaModelLearner.policy'):
    DSMAgent(OBSERVATIONS, ACTIONS, delta_models=without_policy)
  with pytest.raises(dsm.base.IncompatibleSpaceError, match='observation space'):
    DSMAgent(gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32), ACTIONS, delta_models=model)


def test_it_chooses_zero_shot_between_real_delta_models_trained_on_two_policies(tmp_path):
  # Two data policies on the branching chain of tests/offline/dsm/chains.py: from 0 one
  # goes to +1 nine times in ten, the other to -1. Delta-models trained on their data predict
  # returns of about +3.2 and -3.2 for r(s) = s; the agent picks the first for that reward and
  # the second for its negation, with no retraining.
  from offline.dsm.learner import DeltaModelLearner  # pylint: disable=import-outside-toplevel
  from tests.offline.dsm import chains  # pylint: disable=import-outside-toplevel

  spaces = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
  models = []
  for index, up_probability in enumerate((0.9, 0.1)):
    dataset = chains.branching_chain(str(tmp_path / f'chain{index}'), episodes=100,
                                     up_probability=up_probability)
    learner = DeltaModelLearner(spaces, chains.ACTIONS, seed=index, dataset=dataset,
                                **chains.CHAIN)
    learner.train(500)
    learner.policy = ConstantPolicy(action=index)
    models.append(learner.export())
  start = np.zeros(1, np.float32)
  means = [model.return_distribution(start, position, 256).mean() for model in models]
  assert means[0] > 1.0 > -1.0 > means[1]
  agent = DSMAgent(spaces, ACTIONS, delta_models=models, reward_fn=position, num_samples=256)
  assert agent.begin_episode(start) == 0
  negated = DSMAgent(spaces, ACTIONS, delta_models=models,
                     reward_fn=lambda states: -position(states), num_samples=256)
  assert negated.begin_episode(start) == 1
