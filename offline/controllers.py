"""Scripted data sources for offline datasets: a uniform random policy and three experts.

Each source is a `Policy`: `offline.make_dataset` calls `reset(env, observation, info, rng)` after
every `env.reset(seed=...)` and then `policy(observation, info)` at every step. All randomness comes
from the `rng` handed to `reset` (the collector's seeded generator), so a collection is a function
of its seed. A policy may also act on a batch of observations, one per copy of the environment,
with `act_batch(observations, rng)` (optional: what Monte Carlo rollouts of many copies at once,
offline/dsm/evaluation.py, need). The experts are scripted, so they may read the environment's
internals through `env.unwrapped` (the maze map, the room's bounds); they never step or reset it.

- `UniformRandomPolicy`: uniform over the action space.
- `PointMazeWaypointController`: gymnasium-robotics PointMaze (GOM's data): the shortest path over
  the maze grid to whatever goal the observation shows, followed with PD control.
- `SFPRoomGoalController`: SFP's point-maze prior data (continuous_domains/sfp_maze.py, 'room'): a
  unit step towards a goal of the controller's own, plus Gaussian noise.
- `MetaWorldReachController`: SFP's Meta-world prior data: a P-controller for the hand on reach.
"""

import collections
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple, runtime_checkable

import gin
import gymnasium
import numpy as np

Cell = Tuple[int, int]


@runtime_checkable
class Policy(Protocol):
  """What `offline.make_dataset` drives: reset after each env reset, then one action per step.

  Optional, and so not part of the checked protocol: `act_batch(observations, rng) -> actions`,
  usable after `reset`, the actions for a batch of observations [B, ...] of copies of the
  environment `reset` was given, as one array [B, ...], with randomness drawn from `rng` (a numpy
  Generator) or, for a trained agent, from the agent's own seeded stream. It reads no `info`, so
  only a policy that needs none can have it.
  """

  def reset(self, env: gymnasium.Env, observation: Any, info: Dict[str, Any],
            rng: np.random.Generator) -> None:
    ...

  def __call__(self, observation: Any, info: Dict[str, Any]) -> Any:
    ...


def _clip_to_box(action: np.ndarray, space: gymnasium.spaces.Box) -> np.ndarray:
  return np.clip(action, space.low, space.high).astype(space.dtype)


@gin.configurable
class UniformRandomPolicy:
  """Actions uniform over a Box (finite bounds) or a Discrete space, drawn from the collector's
  rng rather than `action_space.sample()`, whose generator the collector's seed does not reach."""

  def __init__(self):
    self._space = None
    self._rng = None

  def reset(self, env, observation, info, rng):
    del observation, info
    space = env.action_space
    if isinstance(space, gymnasium.spaces.Box):
      if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ValueError(f'UniformRandomPolicy: the action space {space} is unbounded')
    elif not isinstance(space, gymnasium.spaces.Discrete):
      raise ValueError(f'UniformRandomPolicy: no uniform distribution over {space} (a Box or a '
                       f'Discrete action space is needed)')
    self._space = space
    self._rng = rng

  def __call__(self, observation, info):
    del observation, info
    if isinstance(self._space, gymnasium.spaces.Discrete):
      return np.int64(self._space.start + self._rng.integers(self._space.n))
    return self._rng.uniform(self._space.low, self._space.high).astype(self._space.dtype)

  def act_batch(self, observations, rng: np.random.Generator) -> np.ndarray:
    """One uniform action per row of `observations`, drawn from `rng`: [B, *action shape]."""
    if self._space is None:
      raise RuntimeError('UniformRandomPolicy.act_batch before reset: no action space yet')
    count = len(observations)
    if isinstance(self._space, gymnasium.spaces.Discrete):
      return (self._space.start + rng.integers(self._space.n, size=count)).astype(np.int64)
    return rng.uniform(self._space.low, self._space.high,
                       (count, *self._space.shape)).astype(self._space.dtype)


# ----------------------------------------------------------------------------------------------
# PointMaze


def shortest_path(maze_map: Sequence[Sequence[Any]], start: Cell, goal: Cell) -> List[Cell]:
  """The cells (row, column) of a shortest 4-connected path from `start` to `goal`, both included,
  through cells that are not walls (a map entry of 1 is a wall; 0, 'g', 'r', 'c' are free, as in
  gymnasium-robotics' maps). Breadth-first search, neighbours in the order up, down, left, right, so
  ties between equally short paths always break the same way. Raises ValueError if the goal cannot
  be reached."""
  rows, columns = len(maze_map), len(maze_map[0])

  def free(cell):
    return 0 <= cell[0] < rows and 0 <= cell[1] < columns and maze_map[cell[0]][cell[1]] != 1

  start, goal = tuple(int(i) for i in start), tuple(int(i) for i in goal)
  if not free(start) or not free(goal):
    raise ValueError(f'shortest_path: start {start} and goal {goal} must be free cells')
  parent = {start: None}
  frontier = collections.deque([start])
  while frontier:
    cell = frontier.popleft()
    if cell == goal:
      path = []
      while cell is not None:
        path.append(cell)
        cell = parent[cell]
      return path[::-1]
    for step in ((-1, 0), (1, 0), (0, -1), (0, 1)):
      neighbour = (cell[0] + step[0], cell[1] + step[1])
      if free(neighbour) and neighbour not in parent:
        parent[neighbour] = cell
        frontier.append(neighbour)
  raise ValueError(f'shortest_path: no path from {start} to {goal}')


def _point_maze_state(observation) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(position, velocity, goal) from PointMaze's dict observation or the flat one of
  `FlattenGoalObservation`'s default keys: [x, y, vx, vy, goal_x, goal_y]."""
  if isinstance(observation, dict):
    state = np.asarray(observation['observation'], dtype=np.float64)
    goal = np.asarray(observation['desired_goal'], dtype=np.float64)
  else:
    flat = np.asarray(observation, dtype=np.float64)
    if flat.shape != (6,):
      raise ValueError(f'PointMazeWaypointController: expected the flat observation '
                       f'[x, y, vx, vy, goal_x, goal_y], got shape {flat.shape}')
    state, goal = flat[:4], flat[4:]
  return state[:2], state[2:4], goal


@gin.configurable
class PointMazeWaypointController:
  """The expert of D4RL's maze2d data for gymnasium-robotics PointMaze: a shortest path over the
  maze's cells from the ball's cell to the goal's, then PD control towards the next cell centre on
  it, and straight to the goal once the ball is in the goal's cell.

  The plan is made again whenever the goal the observation shows moves (a continuing task with
  `reset_target`, or a new episode) or the ball leaves the planned path (pushed into another cell
  when cutting a corner), so the controller follows whatever goal it is shown.

  Args:
    kp, kd: the PD gains, action = kp (target - position) - kd velocity, clipped to the action
      space. The ball is force-actuated (up to 100 N on about 4.2 kg, velocities clipped to 5,
      0.01 s steps): the damping term keeps it from running past a corner into the wall.
      (10 and 1, D4RL's maze2d gains, reach every goal in the tests; 5 to 20 and 0.5 to 2 do too.)
    waypoint_tolerance: a cell centre counts as passed within this distance (cells are 1 wide), and
      the controller aims at the next one; smaller follows the corridors' middles more closely,
      larger cuts corners.
    noise_std: Gaussian noise added to each action before clipping (0: deterministic), drawn from
      the collector's rng, to widen a dataset's action coverage.
  """

  def __init__(self, kp: float = 10.0, kd: float = 1.0, waypoint_tolerance: float = 0.3,
               noise_std: float = 0.0):
    self._kp, self._kd = kp, kd
    self._waypoint_tolerance = waypoint_tolerance
    self._noise_std = noise_std
    self._maze = None
    self._action_space = None
    self._rng = None
    self._goal = None
    self._path: List[Cell] = []
    self._waypoint = 0  # the index in `_path` of the cell the ball is heading for

  def reset(self, env, observation, info, rng):
    del info
    self._maze = env.unwrapped.maze
    self._action_space = env.action_space
    self._rng = rng
    self._goal = None  # plans afresh on the first call
    self._path, self._waypoint = [], 0
    _point_maze_state(observation)  # fails here, not mid-episode, on an unexpected observation

  @property
  def path(self) -> List[Cell]:
    """The current plan: cells (row, column) from the ball's cell at planning time to the goal's."""
    return list(self._path)

  def _cell(self, xy: np.ndarray) -> Cell:
    row, column = self._maze.cell_xy_to_rowcol(xy)
    return int(row), int(column)

  def _plan(self, position: np.ndarray, goal: np.ndarray) -> None:
    self._goal = goal.copy()
    self._path = shortest_path(self._maze.maze_map, self._nearest_free_cell(position),
                               self._nearest_free_cell(goal))
    self._waypoint = min(1, len(self._path) - 1)

  def _nearest_free_cell(self, xy: np.ndarray) -> Cell:
    # The ball's centre stays inside free cells (it is a sphere of radius 0.1 against box walls),
    # but a position exactly on a cell border may round into the wall next to it.
    cell = self._cell(xy)
    maze_map = self._maze.maze_map
    if (0 <= cell[0] < len(maze_map) and 0 <= cell[1] < len(maze_map[0])
        and maze_map[cell[0]][cell[1]] != 1):
      return cell
    free = [(i, j) for i in range(len(maze_map)) for j in range(len(maze_map[0]))
            if maze_map[i][j] != 1]
    return min(free, key=lambda c: np.linalg.norm(self._maze.cell_rowcol_to_xy(np.array(c)) - xy))

  def __call__(self, observation, info):
    del info
    position, velocity, goal = _point_maze_state(observation)
    if self._goal is None or not np.array_equal(goal, self._goal):
      self._plan(position, goal)
    else:
      # Off the planned path (neither the cell just left nor the one headed for): plan again.
      cell = self._cell(position)
      if cell not in self._path[max(self._waypoint - 1, 0):self._waypoint + 1]:
        self._plan(position, goal)
    last = len(self._path) - 1
    while (self._waypoint < last and np.linalg.norm(
        self._maze.cell_rowcol_to_xy(np.array(self._path[self._waypoint])) - position)
           <= self._waypoint_tolerance):
      self._waypoint += 1
    if self._waypoint >= last:
      target = goal
    else:
      target = self._maze.cell_rowcol_to_xy(np.array(self._path[self._waypoint]))
    action = self._kp * (target - position) - self._kd * velocity
    if self._noise_std:
      action = action + self._rng.normal(0.0, self._noise_std, size=action.shape)
    return _clip_to_box(action, self._action_space)


# ----------------------------------------------------------------------------------------------
# SFP's point-maze prior data


@gin.configurable
class SFPRoomGoalController:
  """SFP's scripted source for the point-maze prior (the reference's collect_large_dataset.py):
  in an open room, a unit-length action towards a goal plus N(0, noise_std^2) noise per
  coordinate. The goals are the controller's own, not the environment's (the prior models actions
  alone, so only the motion they produce matters): uniform over the room's bounds, drawn anew when
  the point arrives within `arrival_radius` (0.5 in the reference) or after `goal_timeout` steps on
  the same goal (the reference's 4 x 15).

  Reads the position from observation[:2] and the room's bounds from the environment's
  `position_low` / `position_high` (continuous_domains/sfp_maze.py). `clip_actions` clips to the
  action space, which the environment does anyway before moving; the reference records the
  unclipped vector (components can pass 1 by the noise), which an action-space-valid dataset
  cannot.
  """

  def __init__(self, noise_std: float = 0.05, goal_timeout: int = 60, arrival_radius: float = 0.5,
               clip_actions: bool = True):
    self._noise_std = noise_std
    self._goal_timeout = goal_timeout
    self._arrival_radius = arrival_radius
    self._clip_actions = clip_actions
    self._rng = None
    self._low = self._high = None
    self._action_space = None
    self.goal: Optional[np.ndarray] = None
    self._steps_on_goal = 0

  def reset(self, env, observation, info, rng):
    del observation, info
    room = env.unwrapped
    if not hasattr(room, 'position_low'):
      raise ValueError(f'SFPRoomGoalController needs an environment with position_low and '
                       f'position_high (continuous_domains.sfp_maze), got {room}')
    self._low = np.asarray(room.position_low, dtype=np.float64)
    self._high = np.asarray(room.position_high, dtype=np.float64)
    self._action_space = env.action_space
    self._rng = rng
    self._new_goal()

  def _new_goal(self):
    self.goal = self._rng.uniform(self._low, self._high)
    self._steps_on_goal = 0

  def __call__(self, observation, info):
    del info
    position = np.asarray(observation[:2], dtype=np.float64)
    if (np.linalg.norm(self.goal - position) <= self._arrival_radius
        or self._steps_on_goal >= self._goal_timeout):
      self._new_goal()
    self._steps_on_goal += 1
    direction = self.goal - position
    direction = direction / max(np.linalg.norm(direction), 1e-8)
    action = direction + self._rng.normal(0.0, self._noise_std, size=2)
    if self._clip_actions:
      return _clip_to_box(action, self._action_space)
    return action.astype(self._action_space.dtype)


# ----------------------------------------------------------------------------------------------
# SFP's Meta-world prior data

# The reference's hand workspace for its own goals (collect_large_dataset.py's _HAND_LOW/_HIGH).
SFP_REACH_GOAL_LOW = (-0.45, 0.4, 0.1)
SFP_REACH_GOAL_HIGH = (0.45, 0.85, 0.45)


@gin.configurable
class MetaWorldReachController:
  """SFP's scripted source for the Meta-world prior: a P-controller moving the hand,
  a[:3] = clip(gain (goal - hand)), then N(0, noise_std^2) on every action entry and a clip to the
  action space. The hand is observation[0:3] and the environment's goal its last three entries
  (continuous_domains.metaworld with goal_observable=True).

  Args:
    gain, noise_std: the reference's 5 and 0.01 x the action range (0.02).
    gripper: the 4th (grip) action before the noise: None draws it uniformly in [-1, 1] each step,
      as the reference does (its actions start from `action_space.sample()`), so the prior sees
      the gripper as unstructured; a number holds it there (e.g. 0).
    own_goals: False reaches the environment's goal; True, as the reference, reaches goals of its
      own drawn uniformly in [goal_low, goal_high] and drawn again on arrival within
      `arrival_radius`, so a 500-step episode keeps moving instead of hovering at one goal (the
      prior models actions alone; the environment's goal is then irrelevant).
  """

  def __init__(self, gain: float = 5.0, noise_std: float = 0.02, gripper: Optional[float] = None,
               own_goals: bool = False, goal_low: Sequence[float] = SFP_REACH_GOAL_LOW,
               goal_high: Sequence[float] = SFP_REACH_GOAL_HIGH, arrival_radius: float = 0.05):
    self._gain = gain
    self._noise_std = noise_std
    self._gripper = gripper
    self._own_goals = own_goals
    self._goal_low = np.asarray(goal_low, dtype=np.float64)
    self._goal_high = np.asarray(goal_high, dtype=np.float64)
    self._arrival_radius = arrival_radius
    self._rng = None
    self._action_space = None
    self.goal: Optional[np.ndarray] = None

  def reset(self, env, observation, info, rng):
    del info
    self._action_space = env.action_space
    if self._action_space.shape != (4,):
      raise ValueError(f'MetaWorldReachController: expected Meta-world actions (4,), got '
                       f'{self._action_space}')
    self._rng = rng
    if self._own_goals:
      self.goal = self._rng.uniform(self._goal_low, self._goal_high)
    elif not np.any(np.asarray(observation[-3:])):
      raise ValueError('MetaWorldReachController: the goal entries of the observation are zero; '
                       'create the environment with goal_observable=True (or use own_goals=True)')

  def __call__(self, observation, info):
    del info
    observation = np.asarray(observation, dtype=np.float64)
    hand = observation[:3]
    if self._own_goals:
      if np.linalg.norm(self.goal - hand) <= self._arrival_radius:
        self.goal = self._rng.uniform(self._goal_low, self._goal_high)
    else:
      self.goal = observation[-3:]
    action = np.empty(4)
    action[:3] = np.clip(self._gain * (self.goal - hand), -1.0, 1.0)
    action[3] = self._rng.uniform(-1.0, 1.0) if self._gripper is None else self._gripper
    action = action + self._rng.normal(0.0, self._noise_std, size=4)
    return _clip_to_box(action, self._action_space)
