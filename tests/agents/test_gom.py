"""GOMAgent with a GOM trained on the branching graph (tests/offline/gom/branching.py): the task's
reward fit from relabelled data, zero-shot choice of the branch value iteration picks for two
rewards, resumption, and bad settings."""

import gymnasium
import numpy as np
import pytest

from agents import base
from agents.gom import GOMAgent
from offline import datasets
from runner import errors
from tests.offline.gom import branching


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  path = str(tmp_path_factory.getbasetemp() / 'gom_branching')
  return branching.trained_learner(path), datasets.load_dataset(path)


def _agent(trained, reward_fn, seed=0, **settings):
  learner, data = trained
  return GOMAgent(branching.OBSERVATIONS, branching.ACTIONS, seed=seed, model=learner.export(),
                  dataset=data, reward_fn=reward_fn, **settings)


@pytest.mark.parametrize('planner', ['random_shooting', 'guided_diffusion'])
def test_the_agent_fits_each_task_and_goes_where_value_iteration_goes(trained, planner):
  for sign in (1.0, -1.0):
    agent = _agent(trained, lambda states, sign=sign: sign * np.asarray(states)[:, 0],
                   planner=planner, num_samples=64, guidance_coefficient=2.0)
    # r(s) = +-s is linear in the three states' cumulants: the fit is exact.
    assert agent.fit_statistics['reward_fit_rmse'] < 1e-3
    assert agent.fit_statistics['reward_fit_r2'] > 0.999
    actions = [float(agent.begin_episode(np.array([0.0], np.float32))[0]) for _ in range(8)]
    assert np.mean(np.sign(actions) == sign) >= 0.75, actions
    value = agent.iteration_statistics()['planned_value']
    if planner == 'random_shooting':
      # The best sampled outcome's value: the good branch's, r = 0 at the start then 1 forever.
      assert value == pytest.approx(branching.GAMMA / (1 - branching.GAMMA), rel=0.25)
    else:
      # Guidance tilts the sample beyond the data's outcomes, to a larger value still.
      assert value > 0.75 * branching.GAMMA / (1 - branching.GAMMA)


def test_a_restored_agent_acts_as_the_uninterrupted_one(trained, tmp_path):
  reward = lambda states: np.asarray(states)[:, 0]  # noqa: E731
  first, second = _agent(trained, reward, seed=5), _agent(trained, reward, seed=5)
  observation = np.array([0.0], np.float32)
  first.begin_episode(observation)
  bundle = first.bundle_and_checkpoint(str(tmp_path), 0)
  assert second.unbundle(str(tmp_path), 0, bundle)
  np.testing.assert_array_equal(first.step(0.0, observation), second.step(0.0, observation))


def test_bad_settings_are_named(trained):
  learner, data = trained
  reward = lambda states: np.asarray(states)[:, 0]  # noqa: E731
  with pytest.raises(errors.InvalidSettingError, match='planner'):
    _agent(trained, reward, planner='beam_search')
  with pytest.raises(errors.InvalidSettingError, match='num_elites'):
    _agent(trained, reward, planner='random_shooting', num_samples=4, num_elites=5)
  wide = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
  with pytest.raises(base.IncompatibleSpaceError, match='observations'):
    GOMAgent(wide, branching.ACTIONS, model=learner.export(), dataset=data, reward_fn=reward)
  with pytest.raises(errors.BadInputError, match='reward'):
    _agent(trained, lambda states: np.zeros(3))
  with pytest.raises(errors.MissingBindingError, match='reward_fn'):
    GOMAgent(branching.OBSERVATIONS, branching.ACTIONS, model=learner.export(), dataset=data)
