"""DSM's windy grid world: spaces and gymnasium's checks, moves by hand with the wind off, the
wind's direction and range from statistics over many steps, clipping at the border, the time limit,
the quadrant reward, seeding, bad settings, and putting the simulator in a chosen state."""

import functools

import gin
import gymnasium
import numpy as np
import pytest

from continuous_domains.windy_gridworld import (create_windy_gridworld_environment,
                                                set_windy_gridworld_state)
from tests.env_checks import assert_passes_check_env

LEFT, RIGHT, DOWN, UP = 0, 1, 2, 3


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def positions_after(env, actions, seed=0):
  """The observations after reset(seed) and after each of `actions`."""
  observations = [env.reset(seed=seed)[0]]
  observations += [env.step(action)[0] for action in actions]
  return np.stack(observations)


def test_spaces_id_and_time_limit():
  env = create_windy_gridworld_environment()
  assert env.observation_space == gymnasium.spaces.Box(-5.0, 5.0, (2,), np.float32)
  assert env.action_space == gymnasium.spaces.Discrete(4)
  assert env.spec.id == 'WindyGridWorld-v0'
  assert env.spec.max_episode_steps == 200
  observation, info = env.reset(seed=0)
  assert observation.dtype == np.float32 and info == {}
  np.testing.assert_array_equal(observation, [0.0, 0.0])


@pytest.mark.parametrize('arguments', [{}, dict(start=None, reward='none', size=6.0)])
def test_passes_check_env(arguments):
  assert_passes_check_env(functools.partial(create_windy_gridworld_environment, **arguments))


def test_moves_without_wind_are_the_actions_displacements():
  env = create_windy_gridworld_environment(wind_scale=0.0, step_size=0.5, start=(1.0, -2.0))
  positions = positions_after(env, [RIGHT, RIGHT, UP, LEFT, DOWN, DOWN])
  np.testing.assert_array_equal(positions, [[1.0, -2.0], [1.5, -2.0], [2.0, -2.0], [2.0, -1.5],
                                            [1.5, -1.5], [1.5, -2.0], [1.5, -2.5]])


def test_no_wind_along_an_axis_the_point_is_on():
  # From the centre, as the reference: the wind's direction is the sign of the position before the
  # move, 0 on an axis, so the first move is exact and y stays 0 while the point moves along x.
  env = create_windy_gridworld_environment()
  positions = positions_after(env, [RIGHT, RIGHT])
  np.testing.assert_array_equal(positions[:2], [[0.0, 0.0], [1.0, 0.0]])
  assert positions[2, 1] == 0.0 and 2.0 <= positions[2, 0] <= 2.25


def test_wind_blows_outwards_uniformly_up_to_wind_scale():
  env = create_windy_gridworld_environment(wind_scale=0.25)
  env.reset(seed=1)
  rng = np.random.default_rng(0)
  moves = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
  outward_winds = []
  for _ in range(2000):
    # Far enough inside that no move and wind reaches the border.
    position = rng.uniform(-3.5, 3.5, size=2).astype(np.float32)
    set_windy_gridworld_state(env, position)
    action = int(rng.integers(4))
    observation = env.step(action)[0]
    wind = observation.astype(np.float64) - (position + moves[action])
    outward_winds.append(wind * np.sign(position))
  outward_winds = np.concatenate(outward_winds)
  assert outward_winds.min() >= -1e-6 and outward_winds.max() <= 0.25 + 1e-6
  # U[0, 0.25]: mean 0.125, standard error 0.072 / sqrt(4000) = 0.0011.
  assert abs(outward_winds.mean() - 0.125) < 0.006
  assert outward_winds.min() < 0.01 and outward_winds.max() > 0.24


def test_position_is_clipped_to_the_square():
  env = create_windy_gridworld_environment(wind_scale=0.0, start=(4.5, -4.5))
  positions = positions_after(env, [RIGHT, RIGHT, DOWN, LEFT])
  np.testing.assert_array_equal(positions, [[4.5, -4.5], [5.0, -4.5], [5.0, -4.5], [5.0, -5.0],
                                            [4.0, -5.0]])
  windy = create_windy_gridworld_environment(wind_scale=0.25, start=(4.9, 4.9))
  positions = positions_after(windy, [RIGHT, UP] * 20)
  assert np.all(positions <= 5.0) and np.all(positions[1:, 0] == 5.0)


def test_episodes_are_truncated_at_the_time_limit_and_never_terminated():
  env = create_windy_gridworld_environment(max_episode_steps=5)
  env.reset(seed=0)
  assert [env.step(RIGHT)[2:4] for _ in range(5)] == [(False, False)] * 4 + [(False, True)]
  env = create_windy_gridworld_environment()
  env.reset(seed=0)
  outcomes = [env.step(step % 4)[2:4] for step in range(200)]
  assert outcomes == [(False, False)] * 199 + [(False, True)]


@pytest.mark.parametrize('position, reward', [
    ((1.0, 1.0), 1.0), ((1.0, -1.0), -2.0), ((-1.0, 1.0), 2.0), ((-1.0, -1.0), -1.0),
    ((0.0, 2.0), 0.0), ((-3.0, 0.0), 0.0), ((0.0, 0.0), 0.0)])
def test_quadrant_reward_is_of_the_position_before_the_move(position, reward):
  env = create_windy_gridworld_environment()
  env.reset(seed=0)
  set_windy_gridworld_state(env, position)
  # Moving towards (or across) an axis would change the quadrant: the reward is still the start's.
  action = LEFT if position[0] > 0 else RIGHT
  assert env.step(action)[1] == reward
  no_reward = create_windy_gridworld_environment(reward='none')
  no_reward.reset(seed=0)
  set_windy_gridworld_state(no_reward, position)
  assert no_reward.step(action)[1] == 0.0


def test_same_seed_same_trajectory_other_seed_other_wind():
  actions = [RIGHT, UP, RIGHT, UP, LEFT] * 6
  env = create_windy_gridworld_environment()
  first = positions_after(env, actions, seed=5)
  again = positions_after(create_windy_gridworld_environment(), actions, seed=5)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, positions_after(env, actions, seed=6))


def test_random_starts_are_uniform_over_the_square_and_seeded():
  env = create_windy_gridworld_environment(start=None)
  starts = np.stack([env.reset(seed=seed)[0] for seed in range(400)])
  assert np.all(np.abs(starts) <= 5.0)
  assert starts.min() < -4.5 and starts.max() > 4.5 and abs(starts.mean()) < 0.5
  np.testing.assert_array_equal(env.reset(seed=3)[0], starts[3])


def test_gin_binds_the_factory():
  gin.parse_config('create_windy_gridworld_environment.start = None\n'
                   'create_windy_gridworld_environment.max_episode_steps = 7')
  env = create_windy_gridworld_environment()
  assert env.spec.max_episode_steps == 7
  assert not np.array_equal(env.reset(seed=0)[0], env.reset(seed=1)[0])  # random starts


@pytest.mark.parametrize('arguments, message', [
    (dict(size=0.0), 'size must be a positive number'),
    (dict(size=float('nan')), 'size must be a positive number'),
    (dict(step_size=-1.0), 'step_size must be a positive number'),
    (dict(wind_scale=-0.1), 'wind_scale must be a number >= 0'),
    (dict(max_episode_steps=0), 'max_episode_steps must be a positive integer or None'),
    (dict(max_episode_steps=2.5), 'max_episode_steps must be a positive integer or None'),
    (dict(start=(6.0, 0.0)), r'start must be an \(x, y\) inside the square'),
    (dict(start=(1.0, 2.0, 3.0)), r'start must be an \(x, y\) inside the square'),
    (dict(reward='dense'), "reward must be one of 'quadrants', 'none'"),
])
def test_bad_settings_are_refused_with_a_message(arguments, message):
  with pytest.raises(ValueError, match=message):
    create_windy_gridworld_environment(**arguments)


def test_set_state_returns_the_observation_there_and_steps_from_it():
  env = create_windy_gridworld_environment(wind_scale=0.0)
  env.reset(seed=0)
  observation = set_windy_gridworld_state(env, (2.5, -1.25))
  assert observation.dtype == np.float32
  np.testing.assert_array_equal(observation, [2.5, -1.25])
  np.testing.assert_array_equal(env.unwrapped.position, [2.5, -1.25])
  next_observation, reward, *_ = env.step(UP)
  np.testing.assert_array_equal(next_observation, [2.5, -0.25])
  assert reward == -2.0


def test_set_state_refuses_other_environments_and_positions_outside():
  env = create_windy_gridworld_environment()
  env.reset(seed=0)
  with pytest.raises(ValueError, match='inside the square'):
    set_windy_gridworld_state(env, (0.0, 5.5))
  with pytest.raises(ValueError, match='inside the square'):
    set_windy_gridworld_state(env, (0.0,))
  with pytest.raises(ValueError, match='not a windy grid world'):
    set_windy_gridworld_state(gymnasium.make('CartPole-v1'), (0.0, 0.0))
