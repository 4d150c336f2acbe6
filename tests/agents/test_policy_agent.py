"""PolicyAgent: acts with a loaded policy (deterministic when evaluating), learns nothing,
checkpoints its generator, refuses a policy trained for other spaces."""

import gin
import gymnasium
import numpy as np
import pytest

from agents import base
from agents.policy_agent import PolicyAgent
from runner import errors
from tests.fakes import ScriptedEnv

OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
ACTIONS = gymnasium.spaces.Discrete(2)


class FakePolicy:
  """Deterministic: action 0. Sampled: a draw from the caller's generator."""

  def __init__(self, observation_space=OBSERVATIONS, action_space=ACTIONS):
    self.observation_space = observation_space
    self.action_space = action_space
    self.calls = []

  def act(self, observation, deterministic=True, rng=None):
    self.calls.append((np.asarray(observation).copy(), deterministic))
    return 0 if deterministic else int(rng.integers(1, 1000))


def run_episode(agent, environment):
  observation, _ = environment.reset(seed=0)
  actions = [agent.begin_episode(observation)]
  while True:
    observation, reward, terminated, truncated, _ = environment.step(actions[-1] % 2)
    if terminated or truncated:
      agent.end_episode(reward, terminated, observation)
      return actions
    actions.append(agent.step(reward, observation))


def test_acts_deterministically_when_evaluating_and_samples_when_training():
  policy = FakePolicy()
  agent = PolicyAgent(OBSERVATIONS, ACTIONS, seed=1, policy=policy)
  agent.eval_mode = True
  assert run_episode(agent, ScriptedEnv(episode_length=3)) == [0, 0, 0]
  np.testing.assert_array_equal([call[0] for call in policy.calls], [[0, 0], [1, 0], [2, 0]])
  agent.eval_mode = False
  sampled = run_episode(agent, ScriptedEnv(episode_length=3))
  assert all(action > 0 for action in sampled)
  assert run_episode(PolicyAgent(OBSERVATIONS, ACTIONS, seed=1, policy=FakePolicy(),
                                 deterministic=True), ScriptedEnv(episode_length=2)) == [0, 0]
  assert agent.act(np.zeros(2, np.float32)) == 0
  assert agent.act(np.zeros(2, np.float32), deterministic=False) > 0


def test_checkpoint_restores_the_generator():
  agent = PolicyAgent(OBSERVATIONS, ACTIONS, seed=4, policy=FakePolicy())
  run_episode(agent, ScriptedEnv(episode_length=4))
  bundle = agent.bundle_and_checkpoint('unused', 1)
  expected = run_episode(agent, ScriptedEnv(episode_length=4))
  restored = PolicyAgent(OBSERVATIONS, ACTIONS, seed=99, policy=FakePolicy())
  assert restored.unbundle('unused', 1, bundle)
  assert run_episode(restored, ScriptedEnv(episode_length=4)) == expected


def test_a_policy_for_other_spaces_is_refused():
  with pytest.raises(base.IncompatibleSpaceError, match='PolicyAgent.*action space'):
    PolicyAgent(OBSERVATIONS, gymnasium.spaces.Discrete(3), policy=FakePolicy())
  with pytest.raises(base.IncompatibleSpaceError, match='PolicyAgent.*observation space'):
    PolicyAgent(gymnasium.spaces.Box(-1, 1, (3,), np.float32), ACTIONS, policy=FakePolicy())


def test_a_missing_or_wrong_policy_is_bad_input():
  with pytest.raises(errors.MissingBindingError, match='PolicyAgent.policy'):
    PolicyAgent(OBSERVATIONS, ACTIONS)
  with pytest.raises(errors.BadInputError, match='not a policy'):
    PolicyAgent(OBSERVATIONS, ACTIONS, policy=object())


@gin.configurable('fake_loaded_policy')
def fake_loaded_policy():
  """Stands in for `load_component`."""
  return FakePolicy()


def test_the_policy_is_bound_in_gin_as_a_component_is():
  gin.clear_config()
  try:
    gin.parse_config('PolicyAgent.policy = @fake_loaded_policy()')
    agent = PolicyAgent(OBSERVATIONS, ACTIONS)
    assert isinstance(agent.policy, FakePolicy) and agent.act(np.zeros(2, np.float32)) == 0
  finally:
    gin.clear_config()
