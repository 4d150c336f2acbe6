"""Meta-world tasks through `create_metaworld_environment`: spaces (the goal's bounds included),
fixed and resampled goals under seeds, the horizon, the success signal, and the errors."""

import sys

import gymnasium
import numpy as np
import pytest

from continuous_domains.metaworld import create_metaworld_environment
from tests.continuous_domains import rollout


def goal_of(observation):
  return observation[..., -3:]


@pytest.mark.parametrize('task_name', ['reach-v3', 'push-v3'])
def test_spaces_are_float32_boxes_that_hold_the_observations(task_name):
  env = create_metaworld_environment(task_name)
  assert env.observation_space.shape == (39,) and env.observation_space.dtype == np.float32
  assert env.action_space == gymnasium.spaces.Box(-1, 1, (4,), np.float32)
  observations, _ = rollout(env, seed=0, num_steps=20)
  assert observations.dtype == np.float32
  # Meta-world's own declared space has goal bounds 0..0; the factory declares the real ones.
  assert all(env.observation_space.contains(observation) for observation in observations)
  assert np.all(goal_of(observations) != 0)


def test_fixed_goal_comes_from_goal_seed_alone():
  env = create_metaworld_environment('reach-v3', goal_seed=1)
  first, _ = env.reset(seed=0)
  second, _ = env.reset(seed=123)
  np.testing.assert_array_equal(first, second)  # the same task, and a deterministic reset
  np.random.seed(99)  # Meta-world's default goals come from here; these must not
  again, _ = create_metaworld_environment('reach-v3', goal_seed=1).reset()
  np.testing.assert_array_equal(first, again)
  other, _ = create_metaworld_environment('reach-v3', goal_seed=2).reset()
  assert not np.array_equal(goal_of(first), goal_of(other))


def test_resampled_goals_follow_the_reset_seed():
  env = create_metaworld_environment('reach-v3', resample_goal=True)
  first, _ = env.reset(seed=5)
  next_episode, _ = env.reset()
  again, _ = env.reset(seed=5)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(goal_of(first), goal_of(next_episode))


@pytest.mark.parametrize('resample_goal', [False, True])
def test_same_seed_and_actions_give_the_same_episode(resample_goal):
  env = create_metaworld_environment('push-v3', resample_goal=resample_goal)
  observations, rewards = rollout(env, seed=3, num_steps=30)
  observations_again, rewards_again = rollout(env, seed=3, num_steps=30)
  np.testing.assert_array_equal(observations, observations_again)
  np.testing.assert_array_equal(rewards, rewards_again)


def test_horizon_is_reported_as_truncation():
  env = create_metaworld_environment('reach-v3', max_episode_steps=5)
  env.reset(seed=0)
  outcomes = [env.step(env.action_space.sample())[2:4] for _ in range(5)]
  assert outcomes == [(False, False)] * 4 + [(False, True)]
  env.reset(seed=0)  # a new episode steps again
  assert env.step(env.action_space.sample())[2:4] == (False, False)


def test_default_horizon_is_metaworlds_500():
  assert create_metaworld_environment('reach-v3').unwrapped.max_path_length == 500


def test_hidden_goal_is_zeroed():
  observation, _ = create_metaworld_environment('reach-v3', goal_observable=False).reset(seed=0)
  np.testing.assert_array_equal(goal_of(observation), 0)


def reach_until_success(env):
  """Drives the hand straight at the goal; the per-step (terminated, success) flags."""
  observation, _ = env.reset(seed=0)
  flags = []
  for _ in range(200):
    hand, goal = observation[:3], goal_of(observation)
    action = np.append(np.clip(20 * (goal - hand), -1, 1), 0).astype(np.float32)
    observation, _, terminated, _, info = env.step(action)
    flags.append((terminated, info['success']))
    if terminated or info['success']:
      break
  return flags


@pytest.mark.parametrize('terminate_on_success', [False, True])
def test_success_is_a_bool_in_info_and_can_end_the_episode(terminate_on_success):
  env = create_metaworld_environment('reach-v3', terminate_on_success=terminate_on_success)
  flags = reach_until_success(env)
  assert all(type(success) is bool for _, success in flags)  # pylint: disable=unidiomatic-typecheck
  assert flags[-1] == (terminate_on_success, True)
  assert not any(success for _, success in flags[:-1])


def test_sparse_reward_is_one_exactly_on_success():
  env = create_metaworld_environment('reach-v3', sparse_reward=True)
  observation, _ = env.reset(seed=0)
  rewards, successes = [], []
  for _ in range(200):
    hand, goal = observation[:3], goal_of(observation)
    action = np.append(np.clip(20 * (goal - hand), -1, 1), 0).astype(np.float32)
    observation, reward, _, _, info = env.step(action)
    rewards.append(reward)
    successes.append(info['success'])
  assert any(successes) and not all(successes)
  np.testing.assert_array_equal(rewards, np.asarray(successes, np.float64))


def test_unknown_task_is_named_with_the_valid_ones():
  with pytest.raises(ValueError, match=r"'reach-v2'.*reach-v3"):
    create_metaworld_environment('reach-v2')


def test_missing_metaworld_names_the_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, 'metaworld', None)
  with pytest.raises(ImportError, match=r"pip install -e '\.\[metaworld\]'"):
    create_metaworld_environment('reach-v3')
