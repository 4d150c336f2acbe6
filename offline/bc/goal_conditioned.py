"""Goal-conditioned behaviour cloning with hindsight goals (GCBC; Ghosh et al., 2021, "Learning
to Reach Goals via Iterated Supervised Learning"; OGBench's GCBC baseline).

Every sampled step t of an episode is relabelled with a goal the episode actually reached later:
the achieved-goal part of a state s_t' with t < t' <= T (T the episode's final observation),
written into the desired-goal part of the observation, so the policy learns "the action taken
from s_t on the way to g". Which parts of the flat observation are the achieved and the desired
goal are settings (PointMaze's flattened [x, y, vx, vy, goal_x, goal_y]: [0:2] and [4:6],
continuous_domains/point_maze.py, the defaults).

Relabelling happens on the device inside the scanned update: each row stores how many rows its
episode still has (`rows_to_episode_end`) and the achieved goal of its next observation
(`future_achieved_goal`; row j's is that of s_{j+1}), so a future row j in [t, last row of the
episode] is one random draw and one gather. A streamed dataset's chunks begin at episode starts
(DeviceDataset's split points), so that row is always in the same chunk.
"""

from typing import Any, Dict, Optional, Tuple

import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from agents import base as agent_base
from offline import base
from offline.bc.learner import BCLearner
from runner import errors

GOAL_SAMPLING = ('uniform', 'geometric')


def hindsight_batch(data: Dict[str, jax.Array], rows: jax.Array, key: jax.Array,
                    desired_goal_slice: Tuple[int, int], goal_sampling: str = 'uniform',
                    geometric_discount: float = 0.99) -> Dict[str, jax.Array]:
  """The batch of `rows` with each observation's desired goal replaced by a future achieved goal
  of its own episode: the next observation's after an offset k >= 0 rows, k uniform over the rest
  of the episode ('uniform') or geometric, P(k) ~ discount^k, with the tail past the episode's
  end put on its final state ('geometric', as OGBench clips it)."""
  rows_to_end = data['rows_to_episode_end'][rows]
  if goal_sampling == 'uniform':
    offsets = jax.random.randint(key, rows.shape, 0, rows_to_end + 1)
  else:
    offsets = jnp.minimum(jax.random.geometric(key, 1.0 - geometric_discount, rows.shape) - 1,
                          rows_to_end)
  goals = data['future_achieved_goal'][rows + offsets]
  start, stop = desired_goal_slice
  observations = data['observation'][rows].at[:, start:stop].set(goals)
  return {'observation': observations, 'action': data['action'][rows]}


@gin.configurable
class GoalConditionedBCLearner(BCLearner):
  """BCLearner on hindsight-relabelled observations (see the module docstring).

  `achieved_goal_slice` and `desired_goal_slice` are (start, stop) ranges of the flat
  observation, of equal length. `goal_sampling='uniform'` (the default: GCBC's and OGBench's
  `actor_geom_sample=False`, every later state of the episode equally likely) or 'geometric'
  (`geometric_discount`, favouring near goals). Every BCLearner setting applies.
  """

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               dataset: Optional[Any] = None,
               achieved_goal_slice: Tuple[int, int] = (0, 2),
               desired_goal_slice: Tuple[int, int] = (4, 6),
               goal_sampling: str = 'uniform',
               geometric_discount: float = 0.99,
               **bc_settings):
    name = type(self).__name__
    agent_base.require_space(name, 'observation', observation_space, (gymnasium.spaces.Box,),
                             'of one dimension (a flat vector holding the goals)')
    if len(observation_space.shape) != 1:
      raise agent_base.IncompatibleSpaceError(
          f'{name} needs a flat observation vector, got the space {observation_space!r}')
    size = observation_space.shape[0]
    self.achieved_goal_slice = base.checked_slice(name, 'achieved_goal_slice',
                                                  achieved_goal_slice, size)
    self.desired_goal_slice = base.checked_slice(name, 'desired_goal_slice', desired_goal_slice,
                                                 size)
    lengths = [stop - start for start, stop in (self.achieved_goal_slice, self.desired_goal_slice)]
    if lengths[0] != lengths[1]:
      raise errors.InvalidSettingError(
          f'{name}: achieved_goal_slice {self.achieved_goal_slice} and desired_goal_slice '
          f'{self.desired_goal_slice} must have the same length')
    if goal_sampling not in GOAL_SAMPLING:
      raise errors.InvalidSettingError(f'{name}: unknown goal_sampling {goal_sampling!r}; choose '
                                       f'one of {GOAL_SAMPLING}')
    if not 0.0 < geometric_discount < 1.0:
      raise errors.InvalidSettingError(f'{name} needs 0 < geometric_discount < 1, got '
                                       f'{geometric_discount}')
    self.goal_sampling = goal_sampling
    self.geometric_discount = float(geometric_discount)
    super().__init__(observation_space, action_space, seed, summary_writer, dataset,
                     **bc_settings)

  def _row_arrays(self, transitions: Dict[str, np.ndarray],
                  episode_lengths: np.ndarray) -> Dict[str, np.ndarray]:
    rows = super()._row_arrays(transitions, episode_lengths)
    rows['observation'] = rows['observation'].astype(np.float32)  # goals are written into it
    last_rows = np.repeat(np.cumsum(episode_lengths) - 1, episode_lengths)
    rows['rows_to_episode_end'] = (last_rows - np.arange(len(last_rows))).astype(np.int32)
    start, stop = self.achieved_goal_slice
    rows['future_achieved_goal'] = np.asarray(transitions['next_observation'][:, start:stop],
                                              np.float32)
    return rows

  def _make_batch(self, data: Dict[str, jax.Array], rows: jax.Array,
                  key: jax.Array) -> Dict[str, jax.Array]:
    return hindsight_batch(data, rows, key, self.desired_goal_slice, self.goal_sampling,
                           self.geometric_discount)

  def _standardization(self, observations: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    # The desired goals the policy trains on are achieved goals: standardise them alike.
    shift, scale = super()._standardization(observations)
    (a_start, a_stop), (d_start, d_stop) = self.achieved_goal_slice, self.desired_goal_slice
    shift[d_start:d_stop], scale[d_start:d_stop] = shift[a_start:a_stop], scale[a_start:a_stop]
    return shift, scale
