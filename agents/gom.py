"""`GOMAgent`: zero-shot transfer with a generalized occupancy model trained offline
(offline/gom/; METHODS.md, GOM).

A task is a reward function of states (`reward_fn`, e.g. continuous_domains.point_maze's
PointMazeGoalReward), given in gin. At construction, the start of its task, the agent relabels
`regression_transitions` transitions of the GOM's dataset with that reward of their next states
and fits reward weights w by least squares on the cumulants phi(s'), so that r ~ w . phi
(offline/gom/reward_weights.py). Then every step is one jitted call: plan the outcome psi* of
largest w . psi from the current state (`planner`: 'random_shooting' over `num_samples` sampled
outcomes or 'guided_diffusion' with `guidance_coefficient`; offline/gom/planning.py) and sample
the readout policy's action for it. A new task is a new reward binding: nothing is retrained.

Run it with the evaluation-only schedule (gin_configs/gom/eval_pointmaze_*.gin). It logs the fit
of the reward weights (`reward_fit_rmse`, `reward_fit_r2`) and the planned outcomes' mean value
(`planned_value`), and draws the episodes' xy trajectories over `maze` (the last
`drawn_trajectories` of each iteration) in TensorBoard and as trajectories.png in the run
directory. Its checkpoint is its random generator, from which every step's key is drawn, so a
resumed run acts exactly as an uninterrupted one.
"""

import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import gin
import gymnasium
import jax
import numpy as np

from agents import base
from continuous_domains import point_maze
from offline.dsm.rewards import rewards_of
from offline.gom import planning
from offline.gom.reward_weights import fit_reward_weights
from runner import errors
from runner import metrics

TRAJECTORY_FILE = 'trajectories.png'


@gin.configurable
class GOMAgent(base.ActingAgent):
  """Plans with a GOM's outcome model and acts with its readout policy (module docstring).

  `model`: an OccupancyModel (`@load_component()` of a GOMLearner run); `dataset`: the data to
  relabel (`@load_dataset()`, usually the GOM's own); `ridge`: the least squares' ridge penalty.
  `num_elites`: outcomes averaged by random shooting. `position_slice`: the observation's xy,
  for the trajectories; `maze`: the PointMaze map drawn under them (None: no walls).
  """

  def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               seed: int = 0, summary_writer: Optional[Any] = None,
               model: Any = None,
               dataset: Any = None,
               reward_fn: Optional[Callable[[Any], Any]] = None,
               planner: str = 'guided_diffusion',
               num_samples: int = 1000,
               num_elites: int = 1,
               guidance_coefficient: float = 0.5,
               regression_transitions: int = 10000,
               ridge: float = 0.0,
               position_slice: Tuple[int, int] = (0, 2),
               maze: Optional[str] = None,
               drawn_trajectories: int = 10):
    super().__init__(observation_space, action_space, seed, summary_writer)
    name = type(self).__name__
    errors.require_binding(model, f'{name}.model', 'a trained GOM, e.g. @load_component()')
    errors.require_binding(dataset, f'{name}.dataset', 'the data to relabel, @load_dataset()')
    errors.require_binding(reward_fn, f'{name}.reward_fn',
                           'the task, a reward function of states')
    if planner not in planning.PLANNERS:
      raise errors.InvalidSettingError(f'{name}.planner must be one of {planning.PLANNERS}, got '
                                       f'{planner!r}')
    if not 1 <= num_elites <= num_samples:
      raise errors.InvalidSettingError(f'{name} needs 1 <= num_elites <= num_samples, got '
                                       f'{num_elites} and {num_samples}')
    for space, kind in ((observation_space, 'observation'), (action_space, 'action')):
      expected = getattr(model, f'{kind}_space')
      if tuple(space.shape) != tuple(expected.shape):
        raise base.IncompatibleSpaceError(f'{name}: the environment\'s {kind}s are {space}, the '
                                          f'GOM was trained on {expected}')
    self.model = model
    self.reward_fn = reward_fn
    self.planner, self.num_samples, self.num_elites = planner, int(num_samples), int(num_elites)
    self.guidance_coefficient = float(guidance_coefficient)
    self.position_slice = tuple(int(index) for index in position_slice)
    self.maze, self.drawn_trajectories = maze, int(drawn_trajectories)
    self._action_offset, self._action_scale = base.box_offset_and_scale(action_space)
    self.weights, self.fit_statistics = self._fit_task(dataset, int(regression_transitions),
                                                       float(ridge))
    self._values: List[float] = []
    self._episode_positions: List[np.ndarray] = []
    self._trajectories: List[np.ndarray] = []

  def _fit_task(self, dataset: Any, count: int, ridge: float) -> Tuple[np.ndarray,
                                                                      Dict[str, float]]:
    """Reward weights for `reward_fn` from `count` of the dataset's transitions (chosen by the
    seed), relabelled by their next observations; and the fit's RMSE and R^2."""
    next_observations = np.asarray(dataset.transitions()['next_observation'])
    rows = np.random.default_rng(self.seed).permutation(len(next_observations))[:count]
    observations = next_observations[np.sort(rows)]
    rewards = rewards_of(self.reward_fn, observations)
    features = self.model.features(observations)
    weights = np.asarray(fit_reward_weights(features, rewards, ridge), np.float64)
    residuals = features.astype(np.float64) @ weights - rewards
    variance = float(np.var(rewards))
    rmse = float(np.sqrt(np.mean(residuals ** 2)))
    r2 = 1.0 - float(np.mean(residuals ** 2)) / variance if variance > 0 else 1.0
    return weights.astype(np.float32), {'reward_fit_rmse': rmse, 'reward_fit_r2': r2}

  # -- acting --------------------------------------------------------------------------------------

  def _record_position(self, observation: np.ndarray) -> None:
    self._episode_positions.append(
        np.asarray(observation, np.float64).reshape(-1)[slice(*self.position_slice)])

  def _act(self, observation: np.ndarray) -> np.ndarray:
    self._record_position(observation)
    key = jax.random.PRNGKey(int(self._rng.integers(2 ** 31)))
    unit_action, value = self.model.act(observation, self.weights, key, self.planner,
                                        self.num_samples, self.num_elites,
                                        self.guidance_coefficient)
    unit_action, value = jax.device_get((unit_action, value))
    self._values.append(float(value))
    action = self._action_offset + self._action_scale * np.clip(
        np.asarray(unit_action, np.float64).reshape(-1), -1.0, 1.0)
    return action.reshape(self.action_space.shape).astype(self.action_space.dtype)

  def begin_episode(self, observation: np.ndarray) -> np.ndarray:
    self._episode_positions = []
    return self._act(observation)

  def step(self, reward: float, observation: np.ndarray) -> np.ndarray:
    del reward
    return self._act(observation)

  def end_episode(self, reward: float, terminated: bool,
                  observation: Optional[np.ndarray] = None) -> None:
    del reward, terminated
    if observation is not None:
      self._record_position(observation)
    if self._episode_positions:
      self._trajectories.append(np.stack(self._episode_positions))
      self._trajectories = self._trajectories[-self.drawn_trajectories:]
    self._episode_positions = []

  # -- what it reports -----------------------------------------------------------------------------

  def iteration_statistics(self) -> Dict[str, float]:
    statistics = dict(self.fit_statistics)
    if self._values:
      statistics['planned_value'] = float(np.mean(self._values))
    self._values = []
    return statistics

  def trajectories_figure(self):
    """The recorded episodes' trajectories over the maze, with the reward's goal if it has one."""
    maze_map = point_maze.registered_maze_map(self.maze) if self.maze else None
    goal = getattr(self.reward_fn, 'goal', None)
    return point_maze.maze_trajectories_figure(maze_map, self._trajectories, goal,
                                               f'GOM, {self.planner.replace("_", " ")}')

  def write_summaries(self, iteration: int) -> None:
    super().write_summaries(iteration)
    if self._trajectories and self.drawn_trajectories:
      directory = getattr(self.summary_writer, 'logdir', None)
      metrics.write_figure(self.summary_writer, 'agent/trajectories', self.trajectories_figure(),
                           iteration, os.path.join(directory, TRAJECTORY_FILE)
                           if directory else None)
    self._trajectories = []
