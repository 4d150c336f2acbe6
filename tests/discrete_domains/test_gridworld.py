"""Grid worlds: layouts, observations of each type worked by hand, walls, the goal, the time limit,
check_env, clear errors for bad layouts, and the exact Laplacian against known spectra."""

import numpy as np
import pytest

from discrete_domains import gridworld
from runner import errors
from tests.env_checks import assert_passes_check_env

UP, RIGHT, DOWN, LEFT = range(4)
# Three free cells: (0, 0) the start, (0, 1), and (1, 1) the goal; (1, 0) a wall.
L_SHAPE = 'S.\n#G'


def test_open_5x5_eigenvalues_are_those_of_the_plain_grid_graph():
  # The 5-path's eigenvalues are 2 - 2 cos(k pi / 5): 0, 0.382, 1.382, 2.618, 3.618; the grid's
  # are their pairwise sums: 0, 0.382 (twice), 0.764, 1.382 (twice), ...
  eigenvalues, eigenvectors = gridworld.laplacian_eigen('open_5x5')
  np.testing.assert_allclose(eigenvalues[:6], [0, 0.381966, 0.381966, 0.763932, 1.381966,
                                               1.381966], atol=1e-6)
  assert eigenvectors.shape == (25, 25)
  np.testing.assert_allclose(np.abs(eigenvectors[:, 0]), 0.2, atol=1e-9)  # constant, unit norm


def test_two_joined_cells_are_a_path_of_two_nodes():
  # L = [[1, -1], [-1, 1]] (each cell's three wall bumps cancel): eigenvalues 0 and 2, with
  # eigenvectors (1, 1) / sqrt 2 and (1, -1) / sqrt 2.
  eigenvalues, eigenvectors = gridworld.laplacian_eigen('..\n##')
  np.testing.assert_allclose(eigenvalues, [0.0, 2.0], atol=1e-12)
  np.testing.assert_allclose(np.abs(eigenvectors), np.full((2, 2), 2 ** -0.5), atol=1e-12)
  assert eigenvectors[0, 1] * eigenvectors[1, 1] < 0


def test_l_shape_is_a_path_of_three_nodes():
  # The 3-path's Laplacian [[1, -1, 0], [-1, 2, -1], [0, -1, 1]]: eigenvalues 0, 1, 3.
  np.testing.assert_allclose(gridworld.laplacian_eigen(L_SHAPE)[0], [0, 1, 3], atol=1e-12)


def shortest_moves(layout, source, target):
  """Breadth-first search over the free cells: the fewest moves from `source` to `target`."""
  free = set(gridworld.free_cells(layout))
  distance, frontier = {source: 0}, [source]
  while frontier:
    next_frontier = []
    for row, column in frontier:
      for row_offset, column_offset in gridworld.MOVES:
        cell = (row + row_offset, column + column_offset)
        if cell in free and cell not in distance:
          distance[cell] = distance[(row, column)] + 1
          next_frontier.append(cell)
    frontier = next_frontier
  return distance[target]


def test_named_layouts():
  assert len(gridworld.free_cells('four_rooms')) == 104  # Sutton, Precup and Singh's
  assert len(gridworld.free_cells('open_10x10')) == 100
  # Nine rooms of 25 cells and eight doorways; the goal is the cell farthest from the start.
  assert len(gridworld.free_cells('nine_rooms')) == 9 * 25 + 8
  assert shortest_moves('nine_rooms', (1, 1), (17, 17)) == 44
  assert shortest_moves('maze', (1, 1), (15, 15)) == 48
  for name in gridworld.LAYOUTS:  # every built-in is one connected graph: one zero eigenvalue
    assert np.sum(gridworld.laplacian_eigen(name)[0] < 1e-9) == 1, name


def test_successors_by_hand():
  # From (0, 0): up, down and left are blocked (edge, wall, edge), right reaches (0, 1); from
  # (0, 1) down reaches the goal (1, 1); from (1, 1) only up leaves it.
  np.testing.assert_array_equal(gridworld.successors(L_SHAPE),
                                [[0, 1, 0, 0], [1, 1, 2, 0], [1, 2, 2, 2]])


def test_free_cells_are_in_row_major_order():
  assert gridworld.free_cells(L_SHAPE) == [(0, 0), (0, 1), (1, 1)]


def test_observations_of_each_type():
  env = gridworld.create_gridworld_environment(L_SHAPE, 'one_hot', random_start=False)
  observation, _ = env.reset(seed=0)
  np.testing.assert_array_equal(observation, [1, 0, 0])
  assert observation.dtype == np.float32
  env = gridworld.create_gridworld_environment(L_SHAPE, 'row_col', random_start=False)
  np.testing.assert_array_equal(env.reset(seed=0)[0], [0, 0])
  np.testing.assert_array_equal(env.step(RIGHT)[0], [0, 1])
  env = gridworld.create_gridworld_environment(L_SHAPE, 'pixels', random_start=False)
  env.reset(seed=0)
  image = env.step(RIGHT)[0]
  # Free 0, wall 128, agent 255: the agent at (0, 1), the wall at (1, 0).
  np.testing.assert_array_equal(image, [[0, 255], [128, 0]])
  assert image.dtype == np.uint8


def test_walls_and_the_edge_block_moves():
  env = gridworld.create_gridworld_environment(L_SHAPE, 'row_col', random_start=False)
  env.reset(seed=0)
  np.testing.assert_array_equal(env.step(UP)[0], [0, 0])    # the edge
  np.testing.assert_array_equal(env.step(LEFT)[0], [0, 0])  # the edge
  np.testing.assert_array_equal(env.step(DOWN)[0], [0, 0])  # the wall at (1, 0)


def test_goal_gives_one_and_terminates_only_with_goal_reward():
  env = gridworld.create_gridworld_environment(L_SHAPE, 'row_col', goal_reward=True,
                                               random_start=False)
  env.reset(seed=0)
  assert env.step(RIGHT)[1:3] == (0.0, False)
  _, reward, terminated, truncated, _ = env.step(DOWN)
  assert (reward, terminated, truncated) == (1.0, True, False)
  env = gridworld.create_gridworld_environment(L_SHAPE, 'row_col', random_start=False)
  env.reset(seed=0)
  env.step(RIGHT)
  assert env.step(DOWN)[1:3] == (0.0, False)


def test_random_starts_cover_the_free_cells_but_the_rewarding_goal():
  env = gridworld.create_gridworld_environment(L_SHAPE, 'row_col', goal_reward=True)
  starts = {tuple(env.reset(seed=seed)[0]) for seed in range(40)}
  assert starts == {(0.0, 0.0), (0.0, 1.0)}


def test_time_limit_truncates():
  env = gridworld.create_gridworld_environment('open_5x5', max_episode_steps=3)
  env.reset(seed=0)
  assert [env.step(UP)[3] for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize('arguments', [dict(), dict(observation_type='pixels'),
                                       dict(observation_type='row_col', layout='maze',
                                            goal_reward=True, random_start=False)])
def test_passes_check_env_and_is_rebuilt_from_its_spec(arguments):
  assert_passes_check_env(lambda: gridworld.create_gridworld_environment(**arguments))


@pytest.mark.parametrize('layout,problem', [
    ('five_rooms', 'unknown grid-world layout'),
    ('##\n##', 'no free cell'),
    ('...\n..', 'same positive length'),
    ('S.\n.S', "2 start cells 'S'"),
])
def test_bad_layouts_are_named(layout, problem):
  with pytest.raises(errors.InvalidSettingError, match=problem):
    gridworld.create_gridworld_environment(layout)


def test_bad_settings_are_named():
  with pytest.raises(errors.InvalidSettingError, match='observation_type'):
    gridworld.create_gridworld_environment('open_5x5', 'rgb')
  with pytest.raises(errors.InvalidSettingError, match="goal cell 'G'"):
    gridworld.create_gridworld_environment('open_5x5', goal_reward=True)
  with pytest.raises(errors.InvalidSettingError, match="start cell 'S'"):
    gridworld.create_gridworld_environment('open_5x5', random_start=False)
