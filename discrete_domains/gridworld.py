"""Tabular grid worlds from text layouts, and the exact graph Laplacian of their random walk.

A layout is rows of characters: '#' a wall, any other character a free cell, 'S' the start cell,
'G' the goal cell. The edge of the grid is a wall too. Named layouts (`LAYOUTS`): 'four_rooms'
(Sutton, Precup and Singh, 1999: 104 free cells in 13 x 13 with the outer wall), 'open_5x5',
'open_10x10', 'maze' (one-cell corridors) and 'nine_rooms' (5 x 5 rooms and doorways); any other
string with a newline is read as a layout itself.

The agent has 4 actions (0 up, 1 right, 2 down, 3 left); a move into a wall leaves it where it is.
Observations (`observation_type`): 'one_hot' (float32, one entry per free cell in the row-major
order of `free_cells`), 'row_col' (float32 [row, column]) or 'pixels' (a uint8 (rows, columns)
image: free cells 0, walls 128, the agent 255). With `goal_reward`, reaching 'G' gives 1 and ends
the episode; otherwise every reward is 0 (reward-free exploration, as DCEO's representation
learning). Starts are uniform over the free cells (`random_start`, the goal excluded when it
rewards) or the 'S' cell. `info['position']` is the agent's (row, column) after each reset and
step, which the Runner counts and draws (runner/coverage.py).

`laplacian_eigen(layout)` is the exact Laplacian of the cells' graph under the 4 moves, the check
that a learned Laplacian representation (agents/laplacian.py) spans the right subspace.
"""

from typing import Dict, List, Optional, Tuple

import gin
import gymnasium
import numpy as np

from runner import errors
from runner import metrics

ENVIRONMENT_ID = 'GridWorld-v0'
WALL, START, GOAL = '#', 'S', 'G'
OBSERVATION_TYPES = ('one_hot', 'row_col', 'pixels')
# (row, column) offsets of actions 0 up, 1 right, 2 down, 3 left.
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
PIXEL_FREE, PIXEL_WALL, PIXEL_AGENT = 0, 128, 255


def _open_grid(rows: int, columns: int) -> str:
  # No border is needed: the grid's edge is a wall.
  return '\n'.join('.' * columns for _ in range(rows))


LAYOUTS: Dict[str, str] = {
    # Sutton, Precup and Singh (1999), figure 2: four rooms joined by four one-cell doorways.
    'four_rooms': '\n'.join([
        '#############',
        '#.....#.....#',
        '#.....#.....#',
        '#...........#',
        '#.....#.....#',
        '#.....#.....#',
        '##.####.....#',
        '#.....###.###',
        '#.....#.....#',
        '#.....#.....#',
        '#...........#',
        '#.....#.....#',
        '#############',
    ]),
    'open_5x5': _open_grid(5, 5),
    'open_10x10': _open_grid(10, 10),
    # A 15 x 15 maze of one-cell corridors with dead ends, start top left, goal bottom right.
    'maze': '\n'.join([
        '#################',
        '#S....#.........#',
        '#.###.#.#####.#.#',
        '#.#...#.#...#.#.#',
        '#.#.###.#.#.#.#.#',
        '#.#.....#.#...#.#',
        '#.#######.#####.#',
        '#.....#...#.....#',
        '#####.#.###.#####',
        '#.....#.#.......#',
        '#.#####.#.###.#.#',
        '#.......#.#...#.#',
        '#.#######.#.###.#',
        '#.#.....#.#...#.#',
        '#.#.###.#.###.#.#',
        '#...#.....#...#G#',
        '#################',
    ]),
    # Nine 5 x 5 rooms joined by eight one-cell doorways into a tree: the start in the top-left
    # room, the goal in the bottom-right one, 44 moves apart through seven rooms; two rooms off the
    # way form a dead end.
    'nine_rooms': '\n'.join([
        '###################',
        '#S....#.....#.....#',
        '#.....#.....#.....#',
        '#.....#...........#',
        '#.....#.....#.....#',
        '#.....#.....#.....#',
        '###.#####.#####.###',
        '#.....#.....#.....#',
        '#.....#.....#.....#',
        '#...........#.....#',
        '#.....#.....#.....#',
        '#.....#.....#.....#',
        '###.###########.###',
        '#.....#.....#.....#',
        '#.....#.....#.....#',
        '#...........#.....#',
        '#.....#.....#.....#',
        '#.....#.....#....G#',
        '###################',
    ]),
}


def layout_rows(layout: str) -> List[str]:
  """The rows of `layout` (a name in LAYOUTS or a layout's text), checked: rectangular, at least
  one free cell, at most one 'S' and one 'G'; InvalidSettingError naming the problem otherwise."""
  if not isinstance(layout, str):
    raise errors.InvalidSettingError(f'a grid-world layout is a name or a text, got {layout!r}')
  if layout in LAYOUTS:
    text = LAYOUTS[layout]
  elif '\n' in layout.strip('\n'):
    text = layout
  else:
    raise errors.InvalidSettingError(
        f'unknown grid-world layout {layout!r}: choose one of {", ".join(LAYOUTS)} or give the '
        "layout's text, rows separated by newlines")
  rows = text.strip('\n').split('\n')
  widths = sorted({len(row) for row in rows})
  if len(widths) != 1 or widths[0] == 0:
    raise errors.InvalidSettingError(
        f'the grid-world layout has rows of lengths {widths}: every row must have the same '
        'positive length')
  cells = ''.join(rows)
  if all(symbol == WALL for symbol in cells):
    raise errors.InvalidSettingError('the grid-world layout has no free cell')
  for symbol, name in ((START, 'start'), (GOAL, 'goal')):
    if cells.count(symbol) > 1:
      raise errors.InvalidSettingError(
          f"the grid-world layout has {cells.count(symbol)} {name} cells '{symbol}': at most one")
  return rows


def free_cells(layout: str) -> List[Tuple[int, int]]:
  """The free cells' (row, column), in row-major order (the order of one-hot observations and of
  `laplacian_eigen`'s eigenvector rows)."""
  return [(row, column) for row, text in enumerate(layout_rows(layout))
          for column, symbol in enumerate(text) if symbol != WALL]


def _marked_cell(rows: List[str], symbol: str) -> Optional[Tuple[int, int]]:
  for row, text in enumerate(rows):
    if symbol in text:
      return row, text.index(symbol)
  return None


def _walls(rows: List[str]) -> np.ndarray:
  return np.array([[symbol == WALL for symbol in text] for text in rows])


def _move(walls: np.ndarray, cell: Tuple[int, int], action: int) -> Tuple[int, int]:
  """The cell after `action`: the neighbour, unless it is a wall or off the grid."""
  row, column = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
  if 0 <= row < walls.shape[0] and 0 <= column < walls.shape[1] and not walls[row, column]:
    return row, column
  return cell


def successors(layout: str) -> np.ndarray:
  """(cells, 4) ints: for each free cell (in the order of `free_cells`) and action, the index of
  the cell the move leads to; the cell itself when a wall or the edge blocks the move."""
  walls = _walls(layout_rows(layout))
  cells = free_cells(layout)
  index = {cell: position for position, cell in enumerate(cells)}
  return np.array([[index[_move(walls, cell, action)] for action in range(len(MOVES))]
                   for cell in cells])


def adjacency(layout: str) -> np.ndarray:
  """(cells, cells): A[i, j] counts the moves from free cell i to free cell j (order of
  `free_cells`), a move into a wall or the edge counting as a self-loop, so every row sums to 4."""
  following = successors(layout)
  counts = np.zeros((len(following), len(following)))
  np.add.at(counts, (np.repeat(np.arange(len(following)), len(MOVES)), following.ravel()), 1.0)
  return counts


def laplacian_eigen(layout: str) -> Tuple[np.ndarray, np.ndarray]:
  """(eigenvalues ascending, eigenvectors as columns) of L = D - A over the free cells, rows in
  the order of `free_cells`.

  A[i, j] counts the moves from cell i to cell j, a move into a wall or the edge counting as a
  self-loop, so every cell has degree 4 and D = 4 I. The self-loops sit on A's diagonal and in D
  alike and cancel in D - A: L is the Laplacian of the plain graph of adjacent free cells (on a
  5 x 5 open grid: 0, 0.382, 0.382, 0.764, 1.382, ...). Keeping them makes the random walk
  P = A / 4 symmetric, so its stationary distribution is uniform over the cells and I - P = L / 4:
  the graph a uniform random walk's transitions sample, and what the representation loss sees.
  """
  moves = adjacency(layout)
  laplacian = np.diag(moves.sum(axis=1)) - moves
  eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
  return eigenvalues, eigenvectors


def observation_space(layout: str, observation_type: str) -> gymnasium.spaces.Box:
  """The space of `observation_type`'s observations in `layout`."""
  _check_observation_type(observation_type)
  rows = layout_rows(layout)
  shape = (len(rows), len(rows[0]))
  if observation_type == 'one_hot':
    return gymnasium.spaces.Box(0.0, 1.0, (len(free_cells(layout)),), np.float32)
  if observation_type == 'row_col':
    return gymnasium.spaces.Box(np.zeros(2, np.float32), np.array(shape, np.float32) - 1.0,
                                dtype=np.float32)
  return gymnasium.spaces.Box(0, 255, shape, np.uint8)


def observation(layout: str, cell: Tuple[int, int], observation_type: str) -> np.ndarray:
  """The observation of the agent in `cell` (see the module docstring)."""
  _check_observation_type(observation_type)
  if observation_type == 'row_col':
    return np.array(cell, np.float32)
  if observation_type == 'one_hot':
    cells = free_cells(layout)
    encoding = np.zeros(len(cells), np.float32)
    encoding[cells.index(tuple(cell))] = 1.0
    return encoding
  image = np.where(_walls(layout_rows(layout)), PIXEL_WALL, PIXEL_FREE).astype(np.uint8)
  image[tuple(cell)] = PIXEL_AGENT
  return image


def cell_observations(layout: str, observation_type: str) -> np.ndarray:
  """The observations of every free cell, stacked in the order of `free_cells`."""
  return np.stack([observation(layout, cell, observation_type) for cell in free_cells(layout)])


def _check_observation_type(observation_type: str) -> None:
  if observation_type not in OBSERVATION_TYPES:
    raise errors.InvalidSettingError(f'unknown grid-world observation_type {observation_type!r}: '
                                     f'choose one of {", ".join(OBSERVATION_TYPES)}')


class GridWorldEnv(gymnasium.Env):
  """An agent moving between the free cells of a layout (see the module docstring)."""

  metadata = {'render_modes': []}

  def __init__(self, layout: str = 'four_rooms', observation_type: str = 'one_hot',
               goal_reward: bool = False, random_start: bool = True):
    rows = layout_rows(layout)
    self.layout = layout
    self.observation_type = observation_type
    self.observation_space = observation_space(layout, observation_type)
    self.action_space = gymnasium.spaces.Discrete(len(MOVES))
    self._walls = _walls(rows)
    self._goal = _marked_cell(rows, GOAL) if goal_reward else None
    if goal_reward and self._goal is None:
      raise errors.InvalidSettingError(
          f"goal_reward needs a goal cell '{GOAL}' in the grid-world layout {layout!r}")
    if random_start:
      self._starts = [cell for cell in free_cells(layout) if cell != self._goal]
      if not self._starts:
        raise errors.InvalidSettingError('the grid-world layout has no free cell but the goal to '
                                         'start from')
    else:
      start = _marked_cell(rows, START)
      if start is None:
        raise errors.InvalidSettingError(f"random_start=False needs a start cell '{START}' in the "
                                         f'grid-world layout {layout!r}')
      self._starts = [start]
    # Observations are precomputed: a step is then a lookup.
    self._observations = {cell: observation(layout, cell, observation_type)
                          for cell in free_cells(layout)}
    self.cell = self._starts[0]

  def reset(self, *, seed: Optional[int] = None, options=None):
    super().reset(seed=seed)
    self.cell = self._starts[int(self.np_random.integers(len(self._starts)))]
    return self._observations[self.cell].copy(), {'position': self.cell}

  def step(self, action):
    self.cell = _move(self._walls, self.cell, int(action))
    reached = self.cell == self._goal
    return (self._observations[self.cell].copy(), float(reached), reached, False,
            {'position': self.cell})


@gin.configurable
def create_gridworld_environment(layout: str = 'four_rooms',
                                 observation_type: str = 'one_hot',
                                 goal_reward: bool = False,
                                 random_start: bool = True,
                                 max_episode_steps: Optional[int] = 100) -> gymnasium.Env:
  """A grid world (see the module docstring) with a time limit of `max_episode_steps`, reported
  as truncation (None for none)."""
  if ENVIRONMENT_ID not in gymnasium.registry:
    gymnasium.register(ENVIRONMENT_ID, entry_point=GridWorldEnv)
  layout_rows(layout)  # a bad layout is reported here, not from inside gymnasium.make
  # Through the registry, so the environment has a spec (its id names it in datasets' metadata)
  # and `gymnasium.make(env.spec)` rebuilds it.
  return gymnasium.make(ENVIRONMENT_ID, max_episode_steps=max_episode_steps or None,
                        layout=layout, observation_type=observation_type,
                        goal_reward=goal_reward, random_start=random_start)


# What sweep reports need to know (runner/report): the parameters that name the task.
create_gridworld_environment.report_task = metrics.TaskDeclaration(('layout',))
