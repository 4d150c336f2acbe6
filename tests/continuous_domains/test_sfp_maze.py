"""SFP's point-mass mazes through `create_sfp_maze_environment`: spaces and layouts, walls that
block (and let the point slide), the sparse reward's radius, the time limit, seeded resets."""

import gin
import gymnasium
import numpy as np
import pytest

from continuous_domains.sfp_maze import SFPMazeEnv, WALL_MARGIN, create_sfp_maze_environment
from offline.controllers import shortest_path


def start_and_goal_cells(maze_map):
  cells = {value: (i, j) for i, row in enumerate(maze_map) for j, value in enumerate(row)
           if value in ('r', 'g')}
  return cells['r'], cells['g']


def test_spaces_and_observation():
  env = create_sfp_maze_environment('room')
  assert env.action_space == gymnasium.spaces.Box(-1, 1, (2,), np.float32)
  np.testing.assert_array_equal(env.observation_space.low, [-13.5] * 4)
  np.testing.assert_array_equal(env.observation_space.high, [13.5] * 4)
  observation, info = env.reset(seed=0)
  assert observation.dtype == np.float32 and env.observation_space.contains(observation)
  room = env.unwrapped
  np.testing.assert_allclose(observation, np.concatenate([room.position, room.goal]), rtol=1e-6)
  assert info == {'success': False}
  # The room's start is the centre cell; its goals are the centres of the four corner cells.
  assert np.all(np.abs(room.position) < 0.5)
  assert tuple(np.abs(room.goal)) == (13.0, 13.0)


def test_layouts_are_the_references():
  corridor = create_sfp_maze_environment('corridor').unwrapped
  maze = create_sfp_maze_environment('maze').unwrapped
  # The corridor's start and goal are 2 apart in space, 122 steps apart along the U.
  start, goal = start_and_goal_cells(corridor.maze_map)
  np.testing.assert_array_equal(
      corridor.cell_rowcol_to_xy(goal) - corridor.cell_rowcol_to_xy(start), [0, 2])
  assert len(shortest_path(corridor.maze_map, start, goal)) - 1 == 122
  start, goal = start_and_goal_cells(maze.maze_map)
  assert len(shortest_path(maze.maze_map, start, goal)) - 1 == 66
  assert sum(value != 1 for row in maze.maze_map for value in row) == 91
  with pytest.raises(ValueError, match="'spiral'"):
    create_sfp_maze_environment('spiral')


def test_free_motion_is_position_plus_step_times_clipped_action():
  env = create_sfp_maze_environment('room', step_size=0.5)
  env.reset(seed=0)
  room = env.unwrapped
  room.position = np.array([1.0, 2.0])
  observation, *_ = env.step(np.array([0.4, -3.0]))
  np.testing.assert_allclose(observation[:2], [1.2, 1.5], rtol=1e-6)


def test_walls_block_and_the_point_slides_along_them():
  env = create_sfp_maze_environment('corridor')
  env.reset(seed=0)
  corridor = env.unwrapped
  # Bottom left cell, centred at (-30, -1): the wall between the corridors is the line y = -0.5.
  corridor.position = np.array([-30.0, -1.0])
  for _ in range(3):
    observation, *_ = env.step(np.array([0.0, 1.0]))
  np.testing.assert_allclose(observation[:2], [-30.0, -0.5 - WALL_MARGIN], atol=1e-6)
  # Left into the outer wall at x = -30.5.
  observation, *_ = env.step(np.array([-1.0, 0.0]))
  np.testing.assert_allclose(observation[:2], [-30.5 + WALL_MARGIN, -0.5 - WALL_MARGIN], atol=1e-6)
  # Diagonally up and right: up is blocked, right goes on by the whole step.
  corridor.position = np.array([-25.0, -1.0])
  observation, *_ = env.step(np.array([1.0, 1.0]))
  np.testing.assert_allclose(observation[:2], [-24.0, -0.5 - WALL_MARGIN], atol=1e-6)
  # Pushing up along the whole bottom corridor never gets through before its right end.
  for _ in range(70):
    observation, *_ = env.step(np.array([1.0, 0.9]))
    column = corridor.cell_xy_to_rowcol(observation[:2])[1]
    assert observation[1] < -0.5 or column == len(corridor.maze_map[0]) - 2
  assert observation[1] > 0.5  # up at the end, into the top corridor


def test_a_diagonal_step_through_a_corner_between_two_walls_is_stopped():
  # Free cells (1, 1) and (2, 2) touch only at a corner, with walls on both sides of it.
  env = SFPMazeEnv([[1, 1, 1, 1],
                    [1, 0, 1, 1],
                    [1, 1, 0, 1],
                    [1, 1, 1, 1]])
  env.reset(seed=0)
  start = env.cell_rowcol_to_xy((1, 1))
  env.position = start.copy()
  env.step(np.array([1.0, -1.0]))  # exactly through the corner at (0, 0)
  assert env.cell_xy_to_rowcol(env.position) == (1, 1)
  np.testing.assert_allclose(env.position, [-WALL_MARGIN, WALL_MARGIN], atol=1e-9)


def test_random_motion_never_enters_a_wall():
  env = create_sfp_maze_environment('maze', step_size=1.5)
  maze = env.unwrapped
  rng = np.random.default_rng(0)
  env.reset(seed=0)
  for _ in range(2000):
    observation, *_ = env.step(rng.uniform(-1, 1, 2))
    row, column = maze.cell_xy_to_rowcol(maze.position)
    assert maze.maze_map[row][column] != 1


def test_reward_is_one_only_within_the_goal_radius():
  env = create_sfp_maze_environment('room', goal=(5.0, 5.0), goal_radius=1.2)
  env.reset(seed=0)
  room = env.unwrapped
  for offset, reward in [(1.19, 1.0), (1.21, 0.0), (0.0, 1.0), (3.0, 0.0)]:
    room.position = np.array([5.0 - offset * 0.6, 5.0 - offset * 0.8])
    _, got, terminated, truncated, info = env.step(np.zeros(2))
    assert got == reward and info['success'] == bool(reward)
    assert not terminated and not truncated
  terminating = create_sfp_maze_environment('room', goal=(5.0, 5.0), terminate_on_success=True)
  terminating.reset(seed=0)
  terminating.unwrapped.position = np.array([5.0, 4.0])
  assert terminating.step(np.zeros(2))[2]


def test_truncation_at_max_episode_steps():
  env = create_sfp_maze_environment('room', max_episode_steps=7)
  env.reset(seed=0)
  truncations = [env.step(np.zeros(2))[3] for _ in range(7)]
  assert truncations == [False] * 6 + [True]
  assert create_sfp_maze_environment('room').spec.max_episode_steps == 500


def test_seeded_resets_are_reproducible():
  env = create_sfp_maze_environment('room')
  rng = np.random.default_rng(0)
  actions = rng.uniform(-1, 1, (30, 2))

  def episode(seed):
    observations = [env.reset(seed=seed)[0]]
    observations += [env.step(action)[0] for action in actions]
    return np.array(observations)

  np.testing.assert_array_equal(episode(3), episode(3))
  assert not np.array_equal(episode(3)[0], episode(4)[0])
  goals = {tuple(env.reset(seed=seed)[0][2:]) for seed in range(20)}
  assert goals == {(13.0, 13.0), (13.0, -13.0), (-13.0, 13.0), (-13.0, -13.0)}
  fixed = create_sfp_maze_environment('room', goal=(2.0, -1.0))
  assert {tuple(fixed.reset(seed=seed)[0][2:]) for seed in range(5)} == {(2.0, -1.0)}


def test_a_goal_inside_a_wall_is_refused():
  with pytest.raises(ValueError, match='free cell'):
    create_sfp_maze_environment('corridor', goal=(0.0, 0.0))  # the wall between the corridors


def test_gin_configures_the_factory():
  gin.clear_config()
  try:
    gin.parse_config(["create_sfp_maze_environment.layout = 'maze'",
                      'create_sfp_maze_environment.max_episode_steps = 20'])
    env = create_sfp_maze_environment()
    assert env.spec.max_episode_steps == 20 and len(env.unwrapped.maze_map) == 21
  finally:
    gin.clear_config()
