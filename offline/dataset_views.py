"""`Dataset`: a loaded offline dataset's episodes, held back to back in flat numpy arrays, and the
views the offline methods train on, built by index arithmetic, never by a loop over steps:

  transitions()        one row per step: observation, action, reward, next_observation, terminated,
                       truncated. The next observation of an episode's last step is that episode's
                       final observation, never the next episode's first.
  windows(horizon)     every run of horizon+1 consecutive observations inside one episode, with the
                       horizon actions, rewards, terminations and truncations between them (actions
                       are (N, H, ...): the action after the window's last state is not part of it).
                       An episode of T steps gives max(0, T - horizon + 1) windows; with
                       `pad_episode_ends`, T: one from every step, a window that reaches past
                       the episode's end held at its final observation (absorbing, as DSM's
                       windows are), its steps past the end marked invalid.
  action_pairs()       (a_{t-1}, a_t) for t >= 1 inside each episode: an episode of T steps gives
                       T-1 pairs, its first action none, unless `initial_action` stands in for
                       a_{-1}.

Datasets are built by `load_dataset` (offline/dataset_reader.py), which has checked the episodes.
"""

from typing import Any, Dict, Iterator, List, Tuple

import gymnasium
import numpy as np

from offline.dataset_format import Episode


class Dataset:
  """Episodes held back to back in flat arrays, with vectorised views over them.

  Episode i's steps are rows `step_starts[i] : step_starts[i] + lengths[i]` of the step arrays
  (actions, rewards, terminations, truncations); its observations are rows
  `step_starts[i] + i : step_starts[i] + i + lengths[i] + 1` of the observation array, since every
  episode has one observation more than it has steps. Views return copies: changing them leaves
  the dataset as loaded.
  """

  def __init__(self, path: str, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               metadata: Dict[str, Any], episodes: List[Episode]):
    self._path = path
    self._observation_space = observation_space
    self._action_space = action_space
    self._metadata = metadata
    self._lengths = np.array([len(episode.rewards) for episode in episodes], dtype=np.int64)
    self._step_starts = np.cumsum(self._lengths) - self._lengths

    def concatenate(field, space_shape, dtype):
      arrays = [getattr(episode, field) for episode in episodes]
      if not arrays:
        return np.zeros((0,) + tuple(space_shape), dtype)
      return np.concatenate(arrays)

    self._observations = concatenate('observations', observation_space.shape,
                                     observation_space.dtype)
    self._actions = concatenate('actions', action_space.shape, action_space.dtype)
    self._rewards = concatenate('rewards', (), np.float64)
    self._terminations = concatenate('terminations', (), np.bool_)
    self._truncations = concatenate('truncations', (), np.bool_)
    self._infos = [episode.infos for episode in episodes]

  @property
  def path(self) -> str:
    return self._path

  @property
  def num_episodes(self) -> int:
    return len(self._lengths)

  @property
  def num_steps(self) -> int:
    return int(self._lengths.sum())

  @property
  def observation_space(self) -> gymnasium.Space:
    return self._observation_space

  @property
  def action_space(self) -> gymnasium.Space:
    return self._action_space

  @property
  def metadata(self) -> Dict[str, Any]:
    """The writer's free-form metadata (for a dataset not written here: Minari's metadata.json)."""
    return self._metadata

  @property
  def episode_lengths(self) -> np.ndarray:
    """Steps per episode (T); each episode has T+1 observations."""
    return self._lengths.copy()

  def __len__(self) -> int:
    return self.num_episodes

  def __getitem__(self, index: int) -> Episode:
    index = range(self.num_episodes)[index]  # negative indices and bounds checking
    start, length = self._step_starts[index], self._lengths[index]
    steps = slice(start, start + length)
    return Episode(self._observations[start + index:start + index + length + 1],
                   self._actions[steps], self._rewards[steps], self._terminations[steps],
                   self._truncations[steps], self._infos[index])

  def __iter__(self) -> Iterator[Episode]:
    for index in range(self.num_episodes):
      yield self[index]

  def __repr__(self) -> str:
    return (f'Dataset({self._path!r}, episodes={self.num_episodes}, steps={self.num_steps}, '
            f'observation_space={self._observation_space}, action_space={self._action_space})')

  def _step_episodes(self) -> np.ndarray:
    return np.repeat(np.arange(self.num_episodes), self._lengths)

  def transitions(self) -> Dict[str, np.ndarray]:
    """One row per step: observation, action, reward, next_observation, terminated, truncated."""
    observation_rows = np.arange(self.num_steps) + self._step_episodes()
    return dict(observation=self._observations[observation_rows],
                action=self._actions.copy(),
                reward=self._rewards.copy(),
                next_observation=self._observations[observation_rows + 1],
                terminated=self._terminations.copy(),
                truncated=self._truncations.copy())

  def windows(self, horizon: int, pad_episode_ends: bool = False) -> Dict[str, np.ndarray]:
    """Windows of horizon+1 consecutive observations inside one episode.

    Returns a dict of N windows, ordered by episode then start step:
      observations (N, H+1, ...): s_t .. s_{t+H}
      actions (N, H, ...), rewards (N, H), terminations (N, H), truncations (N, H): steps
        t .. t+H-1, i.e. the action taken in each of the first H states and what followed it
      valid (N, H): whether step t+k is a step of the episode (all True without padding)
      episode (N,), start (N,): which episode and which step t each window starts at.
    By default only windows that fit: an episode of T steps (T+1 observations) gives
    max(0, T - H + 1) windows, so one with fewer than H+1 observations gives none; a window may end
    on an episode's final observation. With `pad_episode_ends` every step starts one (T windows
    per episode): a window that would run past the episode's end is truncated there and its final
    observation is absorbing, repeated to fill s_{t+k} for t+k >= T, and the steps past the end are
    invalid, with zero actions and rewards and no termination or truncation flag.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
      raise ValueError(f'horizon must be a positive integer, got {horizon!r}')
    counts = self._lengths if pad_episode_ends else np.maximum(self._lengths - horizon + 1, 0)
    episode = np.repeat(np.arange(self.num_episodes), counts)
    first_window = np.cumsum(counts) - counts
    start = np.arange(int(counts.sum())) - np.repeat(first_window, counts)
    # Steps and observations counted from each episode's start, held inside the episode: step T-1
    # and observation T (the final one) are the last.
    length = self._lengths[episode][:, None]
    step_in_episode = start[:, None] + np.arange(horizon)
    valid = step_in_episode < length
    step_rows = (self._step_starts[episode][:, None]
                 + np.minimum(step_in_episode, np.maximum(length - 1, 0)))
    observation_rows = (self._step_starts[episode] + episode)[:, None] + np.minimum(
        start[:, None] + np.arange(horizon + 1), length)

    def steps(array):
      taken = array[step_rows]
      if pad_episode_ends:
        taken[~valid] = 0
      return taken

    return dict(observations=self._observations[observation_rows],
                actions=steps(self._actions),
                rewards=steps(self._rewards),
                terminations=steps(self._terminations),
                truncations=steps(self._truncations),
                valid=valid,
                episode=episode,
                start=start)

  def action_pairs(self, initial_action=None) -> Tuple[np.ndarray, np.ndarray]:
    """(previous_actions, actions): consecutive pairs (a_{t-1}, a_t) inside each episode.

    By default an episode's first action has no predecessor and forms no pair: T-1 pairs per
    episode, never one across an episode boundary. With `initial_action` (a sample-shaped array,
    e.g. zeros) every action gets a pair, the first of each episode paired with `initial_action`.
    """
    if initial_action is None:
      is_first = np.zeros(self.num_steps, dtype=np.bool_)
      is_first[self._step_starts[self._lengths > 0]] = True
      current = np.flatnonzero(~is_first)
      return self._actions[current - 1], self._actions[current]
    initial = np.asarray(initial_action)
    if initial.shape != tuple(self._action_space.shape):
      raise ValueError(f'initial_action has shape {initial.shape}, the action space '
                       f'{self._action_space} has {self._action_space.shape}')
    previous = np.empty_like(self._actions)
    previous[1:] = self._actions[:-1]
    previous[self._step_starts] = initial.astype(self._actions.dtype)
    return previous, self._actions.copy()
