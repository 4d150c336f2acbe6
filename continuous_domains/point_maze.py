"""PointMaze from gymnasium-robotics (the D4RL mazes: UMaze, Open, Medium, Large and their
Diverse_G / Diverse_GR variants), with the goal-conditioned dict observation flattened into the one
float32 vector that the zoo's agents take.

A point mass (a force-actuated ball, actions in [-1, 1]^2) moves through a maze towards a goal
cell; the goal, and the start, are drawn from the maze's cells at reset with the seed given to
`reset`, so episodes are reproducible.
"""

import dataclasses
from typing import Any, List, Optional, Sequence, Tuple

import gin
import gymnasium
import numpy as np

from continuous_domains import import_extra
from runner import metrics


class FlattenGoalObservation(gymnasium.ObservationWrapper, gymnasium.utils.RecordConstructorArgs):
  """A goal-conditioned dict observation ({'observation', 'achieved_goal', 'desired_goal'}) as one
  float32 Box vector: the parts named in `keys`, in that order, each flattened.

  The default leaves 'achieved_goal' out: in PointMaze it is the ball's xy position, which is
  already the first two entries of 'observation' (and in the Fetch tasks the object position, also
  inside 'observation'), so it would only add duplicate inputs.
  """

  def __init__(self, env: gymnasium.Env, keys: Sequence[str] = ('observation', 'desired_goal')):
    # Recorded in the environment's spec, so that `gymnasium.make(env.spec)` rebuilds the wrapper.
    gymnasium.utils.RecordConstructorArgs.__init__(self, keys=tuple(keys))
    gymnasium.ObservationWrapper.__init__(self, env)
    if not isinstance(env.observation_space, gymnasium.spaces.Dict):
      raise TypeError(f'FlattenGoalObservation needs a Dict observation space, got '
                      f'{env.observation_space}')
    missing = [key for key in keys if key not in env.observation_space.spaces]
    if missing:
      raise ValueError(f'FlattenGoalObservation: {missing} not in the observation, whose parts are '
                       f'{list(env.observation_space.spaces)}')
    self._keys = tuple(keys)
    parts = [env.observation_space[key] for key in self._keys]
    for key, part in zip(self._keys, parts):
      if not isinstance(part, gymnasium.spaces.Box):
        raise TypeError(f'FlattenGoalObservation: part {key!r} is {part}, not a Box')
    # The bounds are the parts' own, so the flat vector lies in the Box whenever each part lies in
    # its own space.
    low = np.concatenate([part.low.ravel() for part in parts]).astype(np.float32)
    high = np.concatenate([part.high.ravel() for part in parts]).astype(np.float32)
    self.observation_space = gymnasium.spaces.Box(low, high, dtype=np.float32)

  def observation(self, observation):
    return np.concatenate([np.asarray(observation[key], dtype=np.float32).ravel()
                           for key in self._keys])


class FixedCells(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
  """Every reset puts the goal in `goal_cell` and/or the ball in `reset_cell` ((row, column) of the
  maze map), through gymnasium-robotics' reset options; a cell left None is drawn as usual. Used to
  evaluate a goal-conditioned policy on chosen goals, or to define a task by its goal."""

  def __init__(self, env: gymnasium.Env, goal_cell: Optional[Sequence[int]] = None,
               reset_cell: Optional[Sequence[int]] = None):
    gymnasium.utils.RecordConstructorArgs.__init__(
        self, goal_cell=None if goal_cell is None else tuple(goal_cell),
        reset_cell=None if reset_cell is None else tuple(reset_cell))
    gymnasium.Wrapper.__init__(self, env)
    maze_map = env.unwrapped.maze.maze_map
    self._options = {}
    for name, cell in (('goal_cell', goal_cell), ('reset_cell', reset_cell)):
      if cell is not None:
        self._options[name] = np.array(
            _free_cell(maze_map, cell, f'create_point_maze_environment: {name} '))

  def reset(self, *, seed=None, options=None):
    return self.env.reset(seed=seed, options={**self._options, **(options or {})})


class GoalDistanceReward(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
  """Replaces the reward by exp(-||achieved goal - desired goal|| / `distance_scale`) (of the dict
  observation after the step): gymnasium-robotics' dense reward has a scale of 1, which in a maze
  of cells one unit wide is near zero two cells away; GOM's tasks use 20 (METHODS.md)."""

  def __init__(self, env: gymnasium.Env, distance_scale: float):
    gymnasium.utils.RecordConstructorArgs.__init__(self, distance_scale=float(distance_scale))
    gymnasium.Wrapper.__init__(self, env)
    if not distance_scale > 0:
      raise ValueError(f'create_point_maze_environment: distance_scale must be positive, got '
                       f'{distance_scale}')
    self._distance_scale = float(distance_scale)

  def step(self, action):
    observation, _, terminated, truncated, info = self.env.step(action)
    distance = np.linalg.norm(np.asarray(observation['achieved_goal'], np.float64)
                              - np.asarray(observation['desired_goal'], np.float64))
    return observation, float(np.exp(-distance / self._distance_scale)), terminated, truncated, info


def _registered_id(maze: str, context: str = '') -> str:
  """PointMaze_<maze>-v3, with gymnasium-robotics' ids registered (importing it registers them);
  ValueError, prefixed by `context`, for a maze that has none."""
  gymnasium.register_envs(import_extra('gymnasium_robotics', 'mujoco'))
  environment_id = f'PointMaze_{maze}-v3'
  if environment_id not in gymnasium.registry:
    raise ValueError(f'{context}unknown maze {maze!r} (no {environment_id}); the mazes are '
                     f'{", ".join(_maze_names())}')
  return environment_id


def registered_maze_map(maze: str) -> List[List[Any]]:
  """The map of PointMaze_<maze>-v3 (rows of 0 free, 1 wall, 'g', 'r' or 'c')."""
  return gymnasium.spec(_registered_id(maze)).kwargs['maze_map']


def _free_cell(maze_map: Sequence[Sequence[Any]], cell: Sequence[int],
               context: str = '') -> Tuple[int, int]:
  """(row, column) of `cell`; ValueError, prefixed by `context`, unless it is a free cell."""
  row, column = (int(index) for index in cell)
  height, width = len(maze_map), len(maze_map[0])
  if not (0 <= row < height and 0 <= column < width) or maze_map[row][column] == 1:
    raise ValueError(f'{context}{tuple(cell)} is not a free cell of the {height}x{width} maze')
  return row, column


def _cell_centre(height: int, width: int, row: int, column: int) -> np.ndarray:
  """The (x, y) of cell (row, column)'s centre in a height x width map, as gymnasium-robotics
  places it (cells one unit wide, the map centred on the origin, rows going down in y)."""
  return np.array([column + 0.5 - width / 2.0, height / 2.0 - (row + 0.5)])


def cell_position(maze_map: Sequence[Sequence[Any]], cell: Sequence[int]) -> np.ndarray:
  """The (x, y) of a free (row, column) cell's centre (_cell_centre)."""
  return _cell_centre(len(maze_map), len(maze_map[0]), *_free_cell(maze_map, cell))


@gin.configurable
@dataclasses.dataclass(frozen=True)
class PointMazeGoalReward:
  """A goal-reaching reward of states, exp(-||xy - goal|| / `distance_scale`), the goal the centre
  of `goal_cell` of `maze`; xy is `position_slice` of each state (the flat observation's and GOM's
  state's first two entries). The same reward as `create_point_maze_environment(reward_type=
  'dense', distance_scale=...)` gives for that goal cell (up to the goal's jitter within its cell,
  which gymnasium-robotics draws at every reset): a task for agents that take rewards as functions
  of states (agents/gom.py)."""
  maze: str = 'UMaze'
  goal_cell: Tuple[int, int] = (1, 1)
  distance_scale: float = 20.0
  position_slice: Tuple[int, int] = (0, 2)

  @property
  def goal(self) -> np.ndarray:
    return cell_position(registered_maze_map(self.maze), self.goal_cell)

  def __call__(self, states: Any) -> np.ndarray:
    states = np.asarray(states, np.float64)
    positions = states[..., self.position_slice[0]:self.position_slice[1]]
    distances = np.linalg.norm(positions - self.goal, axis=-1)
    return np.exp(-distances / self.distance_scale).astype(np.float32)


def maze_trajectories_figure(maze_map: Optional[Sequence[Sequence[Any]]],
                             trajectories: Sequence[np.ndarray], goal: Optional[np.ndarray] = None,
                             title: str = ''):
  """A matplotlib Figure of xy trajectories ([T, 2] each; a circle marks the start, a dot the
  end) over the maze's walls (none without a map), with the goal as a star."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  figure = Figure(figsize=(4.0, 4.0), dpi=80)
  axis = figure.subplots()
  if maze_map is not None:
    height, width = len(maze_map), len(maze_map[0])
    for row in range(height):
      for column in range(width):
        if maze_map[row][column] == 1:
          axis.add_patch(_wall_patch(*_cell_centre(height, width, row, column)))
    axis.set_xlim(-width / 2.0, width / 2.0)
    axis.set_ylim(-height / 2.0, height / 2.0)
  for index, trajectory in enumerate(trajectories):
    trajectory = np.asarray(trajectory)
    colour = f'C{index % 10}'
    axis.plot(trajectory[:, 0], trajectory[:, 1], color=colour, linewidth=1.0, alpha=0.8)
    axis.scatter(trajectory[:1, 0], trajectory[:1, 1], s=25, facecolors='none',
                 edgecolors=colour)
    axis.scatter(trajectory[-1:, 0], trajectory[-1:, 1], s=12, color=colour)
  if goal is not None:
    axis.scatter([goal[0]], [goal[1]], marker='*', s=200, color='gold', edgecolors='black',
                 zorder=5)
  axis.set_aspect('equal')
  axis.set_title(title, fontsize=9)
  figure.tight_layout()
  return figure


def _wall_patch(x: float, y: float):
  from matplotlib.patches import Rectangle  # pylint: disable=import-outside-toplevel
  return Rectangle((x - 0.5, y - 0.5), 1.0, 1.0, color='0.3')


def _maze_names() -> List[str]:
  """The map names of the registered PointMaze ids ('UMaze', 'Medium_Diverse_G', ...)."""
  return sorted({spec.name[len('PointMaze_'):] for spec in gymnasium.registry.values()
                 if spec.name.startswith('PointMaze_') and not spec.name.endswith('Dense')})


@gin.configurable
def create_point_maze_environment(maze: str = 'UMaze',
                                  reward_type: str = 'sparse',
                                  continuing_task: bool = True,
                                  reset_target: bool = False,
                                  max_episode_steps: Optional[int] = None,
                                  maze_map: Optional[List[List[Any]]] = None,
                                  flatten_observation: bool = True,
                                  goal_cell: Optional[Sequence[int]] = None,
                                  reset_cell: Optional[Sequence[int]] = None,
                                  distance_scale: float = 1.0) -> gymnasium.Env:
  """PointMaze_<maze>-v3 ('UMaze', 'Open', 'Medium', 'Large', 'Large_Diverse_GR', ...).

  Args (the last four are gymnasium-robotics' own, passed through):
    reward_type: 'sparse' (1 within 0.45 of the goal, else 0; the registered ids' default) or
      'dense' (exp(-distance to the goal)).
    continuing_task: True: reaching the goal does not end the episode (only the time limit does);
      False: it terminates it.
    reset_target: with continuing_task, True draws a new goal each time the ball reaches the
      current one; False keeps the goal (gymnasium-robotics' docstring says the opposite of what its
      code does; this is what the code does).
    max_episode_steps: the time limit (truncation); None keeps the registered one (UMaze and Open
      300, Medium 600, Large 800).
    maze_map: a custom map (a list of rows of 0 free, 1 wall, 'g' goal, 'r' reset, 'c' either)
      instead of `maze`'s own layout; `maze` still picks the registered time limit.
    flatten_observation: False returns gymnasium-robotics' dict observation, for agents that take
      goals apart (e.g. hindsight relabelling).
    goal_cell, reset_cell: (row, column) of the map where every episode puts the goal / starts
      the ball (FixedCells); None draws them at every reset.
    distance_scale: with reward_type 'dense', the reward is exp(-distance / distance_scale)
      (GoalDistanceReward; 1 is gymnasium-robotics' own).
  """
  if reward_type not in ('sparse', 'dense'):
    raise ValueError(f"create_point_maze_environment: reward_type must be 'sparse' or 'dense', "
                     f'got {reward_type!r}')
  environment_id = _registered_id(maze, 'create_point_maze_environment: ')
  kwargs = {} if maze_map is None else {'maze_map': maze_map}
  env = gymnasium.make(environment_id, max_episode_steps=max_episode_steps,
                       reward_type=reward_type, continuing_task=continuing_task,
                       reset_target=reset_target, **kwargs)
  if goal_cell is not None or reset_cell is not None:
    env = FixedCells(env, goal_cell, reset_cell)
  if reward_type == 'dense' and distance_scale != 1.0:
    env = GoalDistanceReward(env, distance_scale)
  if flatten_observation:
    env = FlattenGoalObservation(env)
  return env


# What sweep reports need to know (runner/report): the parameters that name the task.
create_point_maze_environment.report_task = metrics.TaskDeclaration(('maze',))
