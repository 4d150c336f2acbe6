"""Which states a run's training visits: counts, rooms, the first reward, and figures of them.

A domain that knows where the agent is reports it as `info['position']`, a tuple of ints, after
each reset and step: a grid world its (row, column) (discrete_domains/gridworld.py), an Atari game
chosen RAM bytes (discrete_domains/atari.py's `ram_position`, Montezuma's Revenge's (room, x, y)).
A position of three or more numbers is read as (room..., x, y): its leading numbers name the room.
The Runner hands every training step's position to a `StateCoverage`; domains that report none
cost nothing and get none of this.

Per iteration (in metrics.jsonl, deterministic functions of the seed):
  train/positions_visited        distinct positions visited in the iteration's training phase
  train/positions_visited_total  distinct positions visited since the run began
  train/rooms_visited            (positions of 3+ numbers) distinct rooms in the iteration
  train/rooms_visited_total      distinct rooms since the run began
  train/first_reward_step        the training step of the first non-zero reward, once there is one

Figures (TensorBoard images and PNGs in the run directory, replaced each time they are drawn):
`train/visitation` (visitation.png), the visit counts over the positions, log scale, unvisited
blank; and `agent/state_values` (state_values.png), what the agent describes of the states it
visited (`Agent.describe_states`: DCEO's eigenfunctions) over the same positions. For the second,
the first observation seen at each of the first `max_kept_observations` distinct positions is kept.

Everything is checkpointed beside the agent (CHECKPOINT_FILE in each checkpoint's directory), so a
resumed run counts and draws as an uninterrupted one.
"""

import math
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from runner import errors
from runner import metrics

CHECKPOINT_FILE = 'coverage.npz'
VISITATION_FILE = 'visitation.png'
STATE_VALUES_FILE = 'state_values.png'
NO_REWARD_YET = -1
# Rooms drawn side by side: the most visited ones, so a figure stays readable.
MAX_ROOMS_DRAWN = 8


def room_of(position: Tuple[int, ...]) -> Tuple[int, ...]:
  """The leading numbers of a (room..., x, y) position; () for (row, column) or shorter."""
  return position[:-2] if len(position) >= 3 else ()


class StateCoverage:
  """Counts the positions a training phase visits (see the module docstring)."""

  def __init__(self, max_kept_observations: int = 2048):
    self.max_kept_observations = max_kept_observations
    self._index: Dict[Tuple[int, ...], int] = {}
    self._positions: List[Tuple[int, ...]] = []
    self._counts: List[int] = []
    self._observations: List[np.ndarray] = []  # for the first max_kept_observations positions
    self._iteration_positions: set = set()
    self._first_reward_step = NO_REWARD_YET

  @property
  def active(self) -> bool:
    """Whether the domain has reported any position."""
    return bool(self._positions)

  def record(self, info: Mapping[str, Any], observation: Any, reward: float,
             training_step: int) -> None:
    """One training step's (or reset's: reward 0) position, observation and reward."""
    if 'position' not in info:
      return
    position = tuple(int(number) for number in np.atleast_1d(info['position']))
    index = self._index.get(position)
    if index is None:
      if self._positions and len(position) != len(self._positions[0]):
        raise errors.BadInputError(
            f"info['position'] changed length: {position} after {self._positions[0]}; a domain "
            'must report positions of one length')
      index = self._index[position] = len(self._positions)
      self._positions.append(position)
      self._counts.append(0)
      if len(self._observations) < self.max_kept_observations:
        self._observations.append(np.array(observation))
    self._counts[index] += 1
    self._iteration_positions.add(index)
    if reward != 0 and self._first_reward_step == NO_REWARD_YET:
      self._first_reward_step = training_step

  def iteration_metrics(self) -> Dict[str, float]:
    """The iteration's coverage metrics (without the 'train/' prefix); starts the next
    iteration's count. Empty for a domain that reports no positions."""
    if not self.active:
      return {}
    visited = [self._positions[index] for index in self._iteration_positions]
    result = {'positions_visited': float(len(visited)),
              'positions_visited_total': float(len(self._positions))}
    if len(self._positions[0]) >= 3:
      result['rooms_visited'] = float(len({room_of(position) for position in visited}))
      result['rooms_visited_total'] = float(len({room_of(p) for p in self._positions}))
    if self._first_reward_step != NO_REWARD_YET:
      result['first_reward_step'] = float(self._first_reward_step)
    self._iteration_positions = set()
    return result

  # -- figures -----------------------------------------------------------------------------------

  def draw(self, summary_writer, iteration: int, base_dir: Optional[str],
           describe_states: Optional[Callable[[np.ndarray], Mapping[str, np.ndarray]]]) -> None:
    """The visitation figure, and the agent's description of the kept states' observations
    (`describe_states(observations) -> {name: (states,) values}`, nothing when it gives {})."""
    if not self.active:
      return
    positions = np.array(self._positions, np.int64)
    figure = position_figure(positions, {'visits (log10)': np.log10(np.array(self._counts))},
                             'viridis')
    metrics.write_figure(summary_writer, 'train/visitation', figure, iteration,
                         base_dir and os.path.join(base_dir, VISITATION_FILE))
    if describe_states is None:
      return
    described = describe_states(np.stack(self._observations))
    if not described:
      return
    values = {name: np.asarray(value, np.float64).reshape(-1)
              for name, value in described.items()}
    figure = position_figure(positions[:len(self._observations)], values, 'coolwarm')
    metrics.write_figure(summary_writer, 'agent/state_values', figure, iteration,
                         base_dir and os.path.join(base_dir, STATE_VALUES_FILE))

  # -- checkpoints -------------------------------------------------------------------------------

  def save(self, checkpoint_dir: str) -> None:
    """Writes the state as CHECKPOINT_FILE into a checkpoint's directory (nothing when inactive:
    a checkpoint then looks as it always did). The checkpoint's manifest checksums it with the
    agent's files; the agent's bundle stays the agent's alone."""
    if not self.active:
      return
    np.savez(os.path.join(checkpoint_dir, CHECKPOINT_FILE),
             positions=np.array(self._positions, np.int64),
             counts=np.array(self._counts, np.int64),
             observations=np.stack(self._observations),
             first_reward_step=np.int64(self._first_reward_step))

  def load(self, checkpoint_dir: str) -> None:
    """Takes back what `save` wrote into `checkpoint_dir`; a checkpoint without it (a domain
    without positions, or one written before coverage existed) leaves the state empty."""
    path = os.path.join(checkpoint_dir, CHECKPOINT_FILE)
    if not os.path.exists(path):
      return
    with np.load(path, allow_pickle=False) as saved:
      self._positions = [tuple(int(n) for n in row) for row in saved['positions']]
      self._counts = [int(count) for count in saved['counts']]
      self._observations = list(saved['observations'])
      self._first_reward_step = int(saved['first_reward_step'])
    self._index = {position: index for index, position in enumerate(self._positions)}
    self._iteration_positions = set()


def position_figure(positions: np.ndarray, values: Mapping[str, np.ndarray], colour_map: str):
  """Values over positions, one row of panels per name. (row, column) positions: an image over
  the grid, unvisited cells blank. (room..., x, y) positions: a panel per room (the
  MAX_ROOMS_DRAWN most visited), each position a dot at (x, y). A matplotlib Figure."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  positions = np.asarray(positions, np.int64).reshape(len(positions), -1)
  if positions.shape[1] == 1:  # a line of cells: one grid row
    positions = np.concatenate([np.zeros_like(positions), positions], axis=1)
  rooms = [room_of(tuple(position)) for position in positions]
  room_order = sorted(set(rooms), key=lambda room: (-rooms.count(room), room))[:MAX_ROOMS_DRAWN]
  names = list(values)
  # One panel per name and room; a single room (a grid) lays its names out in a row.
  grid_of_panels = ((len(names), len(room_order)) if len(room_order) > 1
                    else (1, len(names)))
  figure = Figure(figsize=(3.0 * grid_of_panels[1], 2.6 * grid_of_panels[0]), dpi=80)
  axes = figure.subplots(*grid_of_panels, squeeze=False).reshape(len(names), len(room_order))
  for row, name in enumerate(names):
    value = np.asarray(values[name], np.float64)
    finite = value[np.isfinite(value)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if colour_map == 'coolwarm':  # signed values: symmetric around 0
      high = max(abs(low), abs(high), 1e-12)
      low = -high
    for column, room in enumerate(room_order):
      axis = axes[row, column]
      members = np.array([index for index, other in enumerate(rooms) if other == room])
      if room:
        drawn = axis.scatter(positions[members, -2], positions[members, -1], c=value[members],
                             cmap=colour_map, vmin=low, vmax=high, s=6, marker='s')
        axis.set_title(f'{name}, room {room if len(room) > 1 else room[0]}', fontsize=8)
      else:
        corner = positions[:, -2:].min(axis=0)  # the bounding box of the visited cells
        image = np.full(positions[:, -2:].max(axis=0) - corner + 1, math.nan)
        image[positions[members, -2] - corner[0], positions[members, -1] - corner[1]] = (
            value[members])
        drawn = axis.imshow(image, cmap=colour_map, vmin=low, vmax=high)
        axis.set_title(name, fontsize=8)
      axis.set_xticks([])
      axis.set_yticks([])
    figure.colorbar(drawn, ax=axes[row, -1], fraction=0.046, pad=0.04)
  figure.tight_layout()
  return figure
