"""The point-mass mazes of SFP (State-free Priors, Bagatella et al. 2022): an open room (where the
prior's data are collected), a long U-shaped corridor and a maze, with a sparse goal reward.

The point is kinematic, as in the reference's `MazeEnv` (itself Salesforce's point maze): there is
no velocity, each step moves it by `step_size * clip(action, -1, 1)`, and a wall stops the motion
across it while the motion along it goes on (the point slides). Cells are 1 wide, so with the
default step size of 1 a step moves at most one cell per axis. The observation is the position and
the goal, [x, y, goal_x, goal_y] (SFP's downstream SAC takes the observation with the goal
concatenated); the reward is 1 within `goal_radius` (1.2) of the goal and 0 elsewhere.

Layouts are grids in gymnasium-robotics' format (rows top to bottom; 1 a wall, 0 free, 'r' a start
cell, 'g' a goal cell) with its coordinates: cell (row i, column j) is centred at
x = j + 0.5 - width / 2, y = height / 2 - (i + 0.5), so the map is centred on the origin.
"""

from typing import Any, List, Optional, Sequence, Tuple

import gin
import gymnasium
import numpy as np

from runner import metrics

WALL = 1


def _grid(picture: Sequence[str]) -> List[List[Any]]:
  """A layout from a picture: '#' wall, '.' free, 'r' start cell, 'g' goal cell."""
  symbols = {'#': WALL, '.': 0, 'r': 'r', 'g': 'g'}
  return [[symbols[symbol] for symbol in row] for row in picture]


def open_room(size: int = 27) -> List[List[Any]]:
  """SFP's room: a `size` x `size` open square (the reference's 27, x and y in [-13.5, 13.5]) inside
  a border of walls; the start is the centre cell, the goals the four corner cells."""
  grid = [[WALL] * (size + 2)] + [[WALL] + [0] * size + [WALL] for _ in range(size)]
  grid.append([WALL] * (size + 2))
  grid[size // 2 + 1][size // 2 + 1] = 'r'
  for row in (1, size):
    for column in (1, size):
      grid[row][column] = 'g'
  return grid


def u_corridor(length: int = 61) -> List[List[Any]]:
  """SFP's corridor: two parallel corridors `length` cells long (the reference's 61), joined at the
  right end only, so the start (bottom left) and the goal (top left) are 2 cells apart in space but
  2 x `length` steps apart along the corridor."""
  top = ['#', 'g'] + ['.'] * (length - 1) + ['#']
  middle = ['#'] * (length) + ['.', '#']
  bottom = ['#', 'r'] + ['.'] * (length - 1) + ['#']
  border = ['#'] * (length + 2)
  return _grid([''.join(row) for row in (border, top, middle, bottom, border)])


# SFP's maze (the reference's make_maze with corridors of 6 cells): 19 x 19 inside the border, the
# start bottom left and the goal top left; the shortest path is 66 steps, up the left side, across
# the middle, down, right, up the right side and back left along the top, with two dead ends.
SFP_MAZE = _grid([
    '#####################',
    '#g..................#',
    '###################.#',
    '###################.#',
    '###################.#',
    '###################.#',
    '###################.#',
    '#.............#####.#',
    '#.###########.#####.#',
    '#.###########.#####.#',
    '#.###########.#####.#',
    '#.###########.#####.#',
    '#.###########.#####.#',
    '#.#####.............#',
    '#.#################.#',
    '#.#################.#',
    '#.#################.#',
    '#.#################.#',
    '#.#################.#',
    '#r............#####.#',
    '#####################',
])

ENVIRONMENT_ID = 'SFPMaze-v0'
LAYOUTS = {'room': open_room, 'corridor': u_corridor, 'maze': lambda: SFP_MAZE}

# How far short of a wall a blocked motion stops: the point stays strictly inside free cells, so
# the cell it is in is never ambiguous.
WALL_MARGIN = 1e-3
# Starts are drawn uniformly in the start cell, this far from its sides.
START_MARGIN = 0.05


class SFPMazeEnv(gymnasium.Env):
  """A kinematic point in a grid of unit cells with a sparse goal reward (see the module docstring).

  Attributes read by scripted controllers: `maze_map`, `position`, `goal`, and `position_low` /
  `position_high`, the bounding box of the free cells.
  """

  metadata = {'render_modes': []}

  def __init__(self, maze_map: Sequence[Sequence[Any]], goal: Optional[Sequence[float]] = None,
               goal_radius: float = 1.2, step_size: float = 1.0,
               terminate_on_success: bool = False):
    self.maze_map = [list(row) for row in maze_map]
    self._height, self._width = len(self.maze_map), len(self.maze_map[0])
    if any(len(row) != self._width for row in self.maze_map):
      raise ValueError('SFPMazeEnv: the rows of the maze map must have the same length')
    self._walls = np.array([[cell == WALL for cell in row] for row in self.maze_map])
    free = np.argwhere(~self._walls)
    if not len(free):
      raise ValueError('SFPMazeEnv: the maze map has no free cell')
    # Without marked cells, any free cell can be a start or a goal (as in gymnasium-robotics).
    self._start_cells = [tuple(c) for c in free if self.maze_map[c[0]][c[1]] == 'r'] or [
        tuple(c) for c in free]
    self._goal_cells = [tuple(c) for c in free if self.maze_map[c[0]][c[1]] == 'g'] or [
        tuple(c) for c in free]
    corners = np.array([self.cell_rowcol_to_xy(c) for c in free])
    self.position_low = (corners.min(axis=0) - 0.5).astype(np.float32)
    self.position_high = (corners.max(axis=0) + 0.5).astype(np.float32)
    self._fixed_goal = None
    if goal is not None:
      self._fixed_goal = np.asarray(goal, dtype=np.float64)
      if (self._fixed_goal.shape != (2,)
          or self._is_wall(*np.floor(self._to_grid(self._fixed_goal)).astype(int))):
        raise ValueError(f'SFPMazeEnv: the goal {goal} must be an (x, y) inside a free cell')
    self._goal_radius = goal_radius
    self._step_size = step_size
    self._terminate_on_success = terminate_on_success
    self.observation_space = gymnasium.spaces.Box(np.tile(self.position_low, 2),
                                                  np.tile(self.position_high, 2), dtype=np.float32)
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    self.position = np.zeros(2)
    self.goal = np.zeros(2)

  def cell_rowcol_to_xy(self, rowcol) -> np.ndarray:
    """The centre (x, y) of cell (row, column), as gymnasium-robotics' Maze with cells of size 1."""
    return np.array([rowcol[1] + 0.5 - self._width / 2, self._height / 2 - (rowcol[0] + 0.5)])

  def cell_xy_to_rowcol(self, xy) -> Tuple[int, int]:
    row, column = self._to_grid(np.asarray(xy, dtype=np.float64))[::-1]
    return int(np.floor(row)), int(np.floor(column))

  def _to_grid(self, xy: np.ndarray) -> np.ndarray:
    # (u, v) = (column, row) coordinates: cell (i, j) is [j, j + 1) x [i, i + 1).
    return np.array([xy[0] + self._width / 2, self._height / 2 - xy[1]])

  def _from_grid(self, uv: np.ndarray) -> np.ndarray:
    return np.array([uv[0] - self._width / 2, self._height / 2 - uv[1]])

  def _is_wall(self, u: int, v: int) -> bool:
    # Outside the map counts as wall, so a map without a border still holds the point.
    return not (0 <= v < self._height and 0 <= u < self._width) or bool(self._walls[v, u])

  def _first_wall_crossing(self, uv: np.ndarray, delta: np.ndarray, cell: np.ndarray):
    """The first crossing into a wall cell along uv + t delta, t in [0, 1], starting in the free
    `cell` (u, v): (t, axis, the wall face's coordinate on that axis, the cell left), or None.

    Walks the cells the segment passes through in order (Amanatides and Woo's grid traversal). The
    cell is carried rather than recomputed from uv because a slide along a wall can start exactly
    on a cell corner, where rounding could put the point in the wall. At a corner crossed exactly,
    the u axis goes first, and a diagonal motion between two walls that touch at that corner is
    stopped rather than slipping through.
    """
    cell = cell.copy()
    step = np.sign(delta).astype(int)
    t_next = np.full(2, np.inf)
    t_delta = np.full(2, np.inf)
    for axis in range(2):
      if delta[axis] > 0:
        t_next[axis] = (cell[axis] + 1 - uv[axis]) / delta[axis]
      elif delta[axis] < 0:
        t_next[axis] = (cell[axis] - uv[axis]) / delta[axis]
      if delta[axis]:
        t_delta[axis] = 1.0 / abs(delta[axis])
    while True:
      axis = 0 if t_next[0] <= t_next[1] else 1
      if t_next[axis] > 1.0:
        return None
      left = cell.copy()
      cell[axis] += step[axis]
      if self._is_wall(cell[0], cell[1]):
        face = cell[axis] if step[axis] > 0 else cell[axis] + 1
        return t_next[axis], axis, face, left
      t_next[axis] += t_delta[axis]

  def _move(self, position: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    uv = self._to_grid(position)
    # The point is always strictly inside a free cell or on the side of one that faces away from
    # any wall beyond it (a motion ending exactly on a wall's face counts as a hit and is held back
    # by the margin), so rounding finds its cell.
    cell = np.floor(uv).astype(int)
    delta = np.array([displacement[0], -displacement[1]])
    # A hit stops the motion across the wall and leaves the rest along it, which is axis-aligned,
    # so a second hit stops everything: two rounds at most.
    for _ in range(2):
      if not delta.any():
        break
      crossing = self._first_wall_crossing(uv, delta, cell)
      if crossing is None:
        uv = uv + delta
        break
      t, axis, face, cell = crossing
      uv = uv + t * delta
      uv[axis] = face - np.sign(delta[axis]) * WALL_MARGIN
      delta = (1.0 - t) * delta
      delta[axis] = 0.0
    return self._from_grid(uv)

  def _observation(self) -> np.ndarray:
    return np.concatenate([self.position, self.goal]).astype(np.float32)

  def _success(self) -> bool:
    return bool(np.linalg.norm(self.position - self.goal) <= self._goal_radius)

  def reset(self, *, seed: Optional[int] = None, options=None):
    super().reset(seed=seed)
    if self._fixed_goal is not None:
      self.goal = self._fixed_goal.copy()
    else:
      cell = self._goal_cells[self.np_random.integers(len(self._goal_cells))]
      self.goal = self.cell_rowcol_to_xy(cell)
    cell = self._start_cells[self.np_random.integers(len(self._start_cells))]
    self.position = self.cell_rowcol_to_xy(cell) + self.np_random.uniform(
        -0.5 + START_MARGIN, 0.5 - START_MARGIN, size=2)
    return self._observation(), {'success': self._success()}

  def step(self, action):
    action = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
    self.position = self._move(self.position, self._step_size * action)
    success = self._success()
    terminated = self._terminate_on_success and success
    return self._observation(), float(success), terminated, False, {'success': success}


@gin.configurable
def create_sfp_maze_environment(layout: str = 'room',
                                max_episode_steps: Optional[int] = 500,
                                goal: Optional[Sequence[float]] = None,
                                goal_radius: float = 1.2,
                                step_size: float = 1.0,
                                terminate_on_success: bool = False,
                                maze_map: Optional[List[List[Any]]] = None) -> gymnasium.Env:
  """SFP's point-mass task in `layout` ('room', 'corridor' or 'maze').

  Args:
    max_episode_steps: the time limit, reported as truncation (SFP's 500); None for none.
    goal: a fixed goal (x, y); None draws one of the layout's goal cells' centres at each reset
      (the room's four corners; the corridor and the maze have one) from the reset's seed.
    goal_radius: the reward is 1 within this distance of the goal, else 0.
    step_size: how far a step with action of 1 moves the point (cells are 1 wide).
    terminate_on_success: end the episode on the first reward (the reference's option; its
      default, and this one, run to the time limit).
    maze_map: a custom layout in gymnasium-robotics' format instead of `layout`'s.
  """
  if maze_map is None:
    if layout not in LAYOUTS:
      raise ValueError(f'create_sfp_maze_environment: unknown layout {layout!r}; the layouts are '
                       f'{", ".join(LAYOUTS)}')
    maze_map = LAYOUTS[layout]()
  if ENVIRONMENT_ID not in gymnasium.registry:
    gymnasium.register(ENVIRONMENT_ID, entry_point=SFPMazeEnv)
  # Through the registry, so the environment has a spec (its id names it in datasets' metadata) and
  # the time limit is gymnasium's TimeLimit, which reports env.spec.max_episode_steps.
  return gymnasium.make(ENVIRONMENT_ID, max_episode_steps=max_episode_steps, maze_map=maze_map,
                        goal=goal, goal_radius=goal_radius, step_size=step_size,
                        terminate_on_success=terminate_on_success)


# What sweep reports need to know (runner/report): the parameters that name the task.
create_sfp_maze_environment.report_task = metrics.TaskDeclaration(('layout',))
