"""gymnasium's continuous-control tasks through `create_mujoco_environment`: spaces, seeding, time
limits, keyword pass-through (also from gin), and the errors for unknown tasks and a missing extra."""

import sys

import gin
import gymnasium
import numpy as np
import pytest

from continuous_domains.mujoco import create_mujoco_environment, set_pendulum_state
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


# DSM's Monte Carlo source states (METHODS.md): theta in {pi/2, pi, 3pi/2}, theta_dot in {-4, 0, 4}.
@pytest.mark.parametrize('theta', [np.pi / 2, np.pi, 3 * np.pi / 2])
@pytest.mark.parametrize('theta_dot', [-4.0, 0.0, 4.0])
def test_set_pendulum_state_observes_and_steps_from_that_state(theta, theta_dot):
  env = create_mujoco_environment('Pendulum-v1')
  env.reset(seed=0)
  observation = set_pendulum_state(env, (theta, theta_dot))
  assert observation.dtype == np.float32
  np.testing.assert_array_equal(
      observation, np.array([np.cos(theta), np.sin(theta), theta_dot], np.float32))
  # gymnasium's dynamics by hand (g 10, m 1, l 1, dt 0.05), zero torque: the reward is the cost of
  # the state set, the next state one Euler step from it.
  next_observation, reward, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
  next_theta_dot = theta_dot + 3 * 10.0 / 2 * np.sin(theta) * 0.05
  next_theta = theta + next_theta_dot * 0.05
  np.testing.assert_allclose(
      next_observation, [np.cos(next_theta), np.sin(next_theta), next_theta_dot], atol=1e-6)
  normalized = (theta + np.pi) % (2 * np.pi) - np.pi
  assert reward == pytest.approx(-(normalized ** 2 + 0.1 * theta_dot ** 2))
  assert not terminated and not truncated


def test_set_pendulum_state_refuses_other_tasks_and_bad_states():
  with pytest.raises(ValueError, match='Continuous_MountainCarEnv, not a Pendulum'):
    set_pendulum_state(create_mujoco_environment('MountainCarContinuous-v0'), (0.0, 0.0))
  env = create_mujoco_environment('Pendulum-v1')
  env.reset(seed=0)
  with pytest.raises(ValueError, match=r'a finite \(theta, theta_dot\)'):
    set_pendulum_state(env, (0.0, 1.0, 2.0))
  with pytest.raises(ValueError, match='beyond the pendulum'):
    set_pendulum_state(env, (0.0, 9.0))
