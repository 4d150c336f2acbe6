"""PointMaze through `create_point_maze_environment`, and `FlattenGoalObservation` checked against
the dict observation flattened by hand."""

import re

import gymnasium
import numpy as np
import pytest

from continuous_domains import point_maze
from continuous_domains.point_maze import FlattenGoalObservation, create_point_maze_environment
from tests.continuous_domains import rollout


class BoundedGoalEnv(gymnasium.Env):
  """A goal-conditioned env with finite, distinct bounds per part, to check the flat Box's bounds."""

  observation_space = gymnasium.spaces.Dict({
      'observation': gymnasium.spaces.Box(np.array([-1., -2., -3.]), np.array([1., 2., 3.]),
                                          dtype=np.float64),
      'achieved_goal': gymnasium.spaces.Box(-9., 9., (2,), dtype=np.float64),
      'desired_goal': gymnasium.spaces.Box(np.array([0., 10.]), np.array([5., 20.]),
                                           dtype=np.float64)})
  action_space = gymnasium.spaces.Box(-1., 1., (1,), dtype=np.float32)

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    return self.observation_space.sample(), {}


def test_flat_box_bounds_are_the_parts_bounds_in_order():
  env = FlattenGoalObservation(BoundedGoalEnv())
  assert env.observation_space.dtype == np.float32
  np.testing.assert_array_equal(env.observation_space.low, [-1, -2, -3, 0, 10])
  np.testing.assert_array_equal(env.observation_space.high, [1, 2, 3, 5, 20])
  with_achieved = FlattenGoalObservation(BoundedGoalEnv(),
                                         keys=('observation', 'achieved_goal', 'desired_goal'))
  np.testing.assert_array_equal(with_achieved.observation_space.low, [-1, -2, -3, -9, -9, 0, 10])


def test_flat_observation_is_the_concatenated_parts():
  env = FlattenGoalObservation(BoundedGoalEnv())
  parts = BoundedGoalEnv.observation_space.sample()
  flat = env.observation(parts)
  np.testing.assert_array_equal(
      flat, np.concatenate([parts['observation'], parts['desired_goal']]).astype(np.float32))
  assert flat.dtype == np.float32 and env.observation_space.contains(flat)


def test_flatten_refuses_missing_parts_and_non_dict_spaces():
  with pytest.raises(ValueError, match="'goal'"):
    FlattenGoalObservation(BoundedGoalEnv(), keys=('observation', 'goal'))
  with pytest.raises(TypeError, match='Dict'):
    FlattenGoalObservation(gymnasium.make('Pendulum-v1'))


def test_point_maze_spaces():
  env = create_point_maze_environment('UMaze')
  assert env.observation_space == gymnasium.spaces.Box(-np.inf, np.inf, (6,), np.float32)
  assert env.action_space == gymnasium.spaces.Box(-1, 1, (2,), np.float32)
  assert env.spec.max_episode_steps == 300


def test_point_maze_flattened_observations_are_the_dict_parts_by_hand():
  flat_env = create_point_maze_environment('Medium')
  dict_env = create_point_maze_environment('Medium', flatten_observation=False)
  flat, _ = rollout(flat_env, seed=5, num_steps=40)
  rng = np.random.default_rng(0)  # the actions `rollout` plays
  observation, _ = dict_env.reset(seed=5)
  by_hand = [np.concatenate([observation['observation'], observation['desired_goal']])]
  for _ in range(40):
    observation = dict_env.step(rng.uniform(-1, 1, 2).astype(np.float32))[0]
    np.testing.assert_array_equal(observation['achieved_goal'], observation['observation'][:2])
    by_hand.append(np.concatenate([observation['observation'], observation['desired_goal']]))
  np.testing.assert_array_equal(flat, np.array(by_hand, dtype=np.float32))
  assert all(flat_env.observation_space.contains(row) for row in flat)


def test_same_seed_and_actions_give_the_same_episode():
  env = create_point_maze_environment('UMaze')
  observations, rewards = rollout(env, seed=7, num_steps=50)
  observations_again, rewards_again = rollout(env, seed=7, num_steps=50)
  np.testing.assert_array_equal(observations, observations_again)
  np.testing.assert_array_equal(rewards, rewards_again)
  other, _ = rollout(env, seed=8, num_steps=0)
  assert not np.array_equal(observations[0], other[0])


@pytest.mark.parametrize('maze, observation_size, time_limit', [
    ('Open', 6, 300), ('Large', 6, 800), ('Medium_Diverse_G', 6, 600),
    ('Large_Diverse_GR', 6, 800)])
def test_every_map_builds(maze, observation_size, time_limit):
  env = create_point_maze_environment(maze)
  assert env.observation_space.shape == (observation_size,)
  assert env.spec.max_episode_steps == time_limit


def test_rewards_follow_reward_type():
  for reward_type in ('dense', 'sparse'):
    env = create_point_maze_environment(reward_type=reward_type, flatten_observation=False)
    env.reset(seed=0)
    observation, reward, *_ = env.step(np.zeros(2, np.float32))
    distance = np.linalg.norm(observation['achieved_goal'] - observation['desired_goal'])
    expected = np.exp(-distance) if reward_type == 'dense' else float(distance <= 0.45)
    assert reward == pytest.approx(expected)


def test_custom_map_and_time_limit_truncate():
  env = create_point_maze_environment(maze_map=[[1, 1, 1, 1], [1, 'r', 'g', 1], [1, 1, 1, 1]],
                                      max_episode_steps=5)
  env.reset(seed=0)
  outcomes = [env.step(env.action_space.sample())[2:4] for _ in range(5)]
  assert outcomes == [(False, False)] * 4 + [(False, True)]


def test_unknown_maze_is_named_with_the_valid_ones():
  with pytest.raises(ValueError, match=r"'Twisty'.*Large_Diverse_GR.*UMaze"):
    create_point_maze_environment('Twisty')
  with pytest.raises(ValueError, match='reward_type'):
    create_point_maze_environment(reward_type='shaped')


def test_fixed_goal_and_reset_cells_hold_for_every_episode():
  # UMaze's map: row 1 is open (cells 1-3), row 3 too, joined through (2, 3). A cell's centre is
  # at x = column - 2, y = 2 - row; gymnasium-robotics jitters the goal within 0.25 of it.
  env = create_point_maze_environment('UMaze', goal_cell=(3, 1), reset_cell=(1, 1))
  for seed in range(5):
    observation, _ = env.reset(seed=seed)
    np.testing.assert_allclose(observation[4:6], [-1.0, -1.0], atol=0.25 + 1e-6)
    np.testing.assert_allclose(observation[0:2], [-1.0, 1.0], atol=0.25 + 1e-6)
  recreated = gymnasium.make(env.spec)
  np.testing.assert_array_equal(recreated.reset(seed=3)[0], env.reset(seed=3)[0])
  for cell in [(0, 0), (2, 1), (9, 9)]:
    with pytest.raises(ValueError, match=re.escape(f'goal_cell {cell} is not a free cell')):
      create_point_maze_environment('UMaze', goal_cell=cell)


def test_cell_positions_are_where_gymnasium_robotics_puts_the_goal():
  maze_map = point_maze.registered_maze_map('Medium')
  np.testing.assert_allclose(point_maze.cell_position(maze_map, (1, 1)), [-2.5, 2.5])
  np.testing.assert_allclose(point_maze.cell_position(maze_map, (6, 6)), [2.5, -2.5])
  env = point_maze.create_point_maze_environment('Medium', goal_cell=(6, 6))
  # The goal is jittered within its cell by up to a quarter of a cell.
  goal = env.reset(seed=3)[0][4:6]
  assert np.abs(goal - [2.5, -2.5]).max() <= 0.25 + 1e-6
  with pytest.raises(ValueError, match='not a free cell'):
    point_maze.cell_position(maze_map, (0, 0))


def test_the_goal_reward_of_states_is_the_environments_scaled_dense_reward():
  env = point_maze.create_point_maze_environment('UMaze', reward_type='dense', distance_scale=20.0,
                                                 goal_cell=(1, 1), reset_cell=(3, 1))
  observation, _ = env.reset(seed=0)
  observation, reward, _, _, _ = env.step(np.array([1.0, 0.5], np.float32))
  distance = np.linalg.norm(observation[:2] - observation[4:6])
  assert reward == pytest.approx(np.exp(-distance / 20.0), rel=1e-5)
  reward_fn = point_maze.PointMazeGoalReward('UMaze', (1, 1), 20.0)
  np.testing.assert_allclose(reward_fn.goal, [-1.0, 1.0])
  # Of the cell's centre: the environment's goal differs by its jitter alone.
  expected = np.exp(-np.linalg.norm(observation[:2] - [-1.0, 1.0]) / 20.0)
  np.testing.assert_allclose(reward_fn(observation[None]), [expected], rtol=1e-6)
  np.testing.assert_allclose(reward_fn(observation[None, :4]), [expected], rtol=1e-6)
  with pytest.raises(ValueError, match='distance_scale'):
    point_maze.create_point_maze_environment('UMaze', reward_type='dense', distance_scale=0.0)


def test_trajectories_are_drawn_over_the_walls():
  figure = point_maze.maze_trajectories_figure(
      point_maze.registered_maze_map('UMaze'), [np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0]])],
      np.array([-1.0, 1.0]), 'test')
  axis = figure.axes[0]
  assert len(axis.patches) == sum(cell == 1 for row in point_maze.registered_maze_map('UMaze')
                                  for cell in row)
  assert axis.get_xlim() == (-2.5, 2.5) and len(axis.lines) == 1
