"""gymnasium's continuous-control tasks through `create_mujoco_environment`: spaces, seeding, time
limits, keyword pass-through (also from gin), and the errors for unknown tasks and a missing extra."""

import sys

import gin
import gymnasium
import numpy as np
import pytest

from continuous_domains.mujoco import create_mujoco_environment
from tests.continuous_domains import rollout


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.mark.parametrize('name, version, observation_size, action_size, action_bound, time_limit', [
    ('HalfCheetah', 'v5', 17, 6, 1.0, 1000), ('Hopper', 'v5', 11, 3, 1.0, 1000),
    ('Humanoid', 'v5', 348, 17, 0.4, 1000), ('Pendulum-v1', None, 3, 1, 2.0, 200)])
def test_spaces_are_float32_boxes_with_the_tasks_shapes_and_bounds(
    name, version, observation_size, action_size, action_bound, time_limit):
  env = create_mujoco_environment(name, version=version)
  assert isinstance(env.observation_space, gymnasium.spaces.Box)
  assert env.observation_space.shape == (observation_size,)
  assert env.observation_space.dtype == np.float32
  assert env.action_space == gymnasium.spaces.Box(-action_bound, action_bound, (action_size,),
                                                  np.float32)
  assert env.spec.max_episode_steps == time_limit
  observation, _ = env.reset(seed=0)
  assert observation.dtype == np.float32 and env.observation_space.contains(observation)
  observation = env.step(env.action_space.sample())[0]
  assert observation.dtype == np.float32 and env.observation_space.contains(observation)


def test_a_full_id_ignores_version():
  assert create_mujoco_environment('Hopper-v4', version='v5').spec.id == 'Hopper-v4'


@pytest.mark.parametrize('name', ['HalfCheetah', 'Pendulum-v1'])
def test_same_seed_and_actions_give_the_same_episode(name):
  env = create_mujoco_environment(name)
  observations, rewards = rollout(env, seed=3, num_steps=30)
  observations_again, rewards_again = rollout(env, seed=3, num_steps=30)
  np.testing.assert_array_equal(observations, observations_again)
  np.testing.assert_array_equal(rewards, rewards_again)
  other_seed, _ = rollout(create_mujoco_environment(name), seed=4, num_steps=0)
  assert not np.array_equal(observations[0], other_seed[0])


@pytest.mark.parametrize('name', ['HalfCheetah', 'Pendulum-v1'])
def test_time_limit_is_reported_as_truncation(name):
  env = create_mujoco_environment(name, max_episode_steps=5)
  env.reset(seed=0)
  outcomes = [env.step(env.action_space.sample())[2:4] for _ in range(5)]
  assert outcomes == [(False, False)] * 4 + [(False, True)]


def test_keyword_arguments_reach_the_task_also_from_gin():
  env = create_mujoco_environment('HalfCheetah', exclude_current_positions_from_observation=False)
  assert env.observation_space.shape == (18,)  # the root's x position is now observed
  gin.parse_config("create_mujoco_environment.environment_name = 'Pendulum-v1'\n"
                   'create_mujoco_environment.g = 3.5')
  assert create_mujoco_environment().unwrapped.g == 3.5


def test_unknown_task_is_named_with_the_valid_ones():
  with pytest.raises(ValueError, match=r"'NoSuchRobot-v5'.*HalfCheetah.*Pendulum-v1"):
    create_mujoco_environment('NoSuchRobot')


def test_discrete_task_is_refused():
  with pytest.raises(ValueError, match='CartPole-v1 is not a continuous-control task'):
    create_mujoco_environment('CartPole-v1')


def test_missing_mujoco_names_the_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, 'mujoco', None)  # `import mujoco` now fails
  with pytest.raises(ImportError, match=r"pip install -e '\.\[mujoco\]'"):
    create_mujoco_environment('HalfCheetah')
  assert create_mujoco_environment('Pendulum-v1')  # classic control needs no MuJoCo


def test_missing_non_mujoco_simulator_is_not_blamed_on_the_mujoco_extra(monkeypatch):
  # Box2D's tasks are Box-action gymnasium tasks that no extra of the zoo installs.
  monkeypatch.setitem(sys.modules, 'Box2D', None)
  for module in [name for name in sys.modules if name.startswith('gymnasium.envs.box2d')]:
    monkeypatch.delitem(sys.modules, module)
  with pytest.raises(ImportError, match='no extra of the zoo provides') as raised:
    create_mujoco_environment('LunarLanderContinuous-v3')
  assert 'mujoco' not in str(raised.value).split(':')[0]
