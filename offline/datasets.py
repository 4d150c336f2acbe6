"""Offline datasets: Minari datasets written to and read from a local directory, with the views the
offline methods train on.

Nothing here downloads anything or looks in Minari's global dataset root (`~/.minari`,
`MINARI_DATASETS_PATH`): a dataset is the directory its path names. The files are Minari's own
HDF5 layout (`metadata.json` + `main_data.hdf5`, written through `MinariStorage`), so
`minari.MinariDataset(path)` opens what `DatasetWriter` writes.

Writing (`DatasetWriter`, `write_dataset`) takes whole episodes: T+1 observations (the final one
included) and T actions, rewards, terminations and truncations. Everything goes into the sibling
directory `<path>.partial/`, which is renamed to `<path>` only when `close()` succeeds, so a
collection that dies at any moment leaves no directory that looks complete. `close()` also records,
in Minari's `metadata.json` under the key `agent_zoo`, the episode and step counts, the size and
sha256 of the data file, and the caller's free-form metadata; `load_dataset` checks all of them.

Reading (`load_dataset`, gin-configurable) loads every episode into flat numpy arrays (episodes
back to back) and builds the views by index arithmetic, never by a loop over steps:

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
  action_pairs()       (a_{t-1}, a_t) for t >= 1 inside each episode: an episode of T steps gives T-1
                       pairs, its first action none, unless `initial_action` stands in for a_{-1}.

In gin, a consumer takes the dataset as `SomeLearner.dataset = @load_dataset()` with
`load_dataset.path = 'datasets/x'`.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple

import gin
import gymnasium
import numpy as np

PARTIAL_SUFFIX = '.partial'
LOCK_SUFFIX = '.lock'  # beside the dataset, held by its writer from start to close
REPLACED_SUFFIX = '.replaced'
METADATA_FILE = 'metadata.json'  # Minari's name
DATA_FILE = 'main_data.hdf5'  # Minari's HDF5 storage file
DATA_FORMAT = 'hdf5'
RECORD_KEY = 'agent_zoo'  # our block inside Minari's metadata.json
FORMAT_VERSION = 1
# Spaces whose samples are plain arrays, so that episodes concatenate and views are array gathers.
ARRAY_SPACES = (gymnasium.spaces.Box, gymnasium.spaces.Discrete, gymnasium.spaces.MultiDiscrete,
                gymnasium.spaces.MultiBinary)
# Episodes are handed to Minari in batches: each Minari write reopens the HDF5 file and rewrites
# metadata.json, which about doubles the cost of a short episode (2.4 ms against 1.3 ms for 20
# steps here). Buffering costs no safety, since nothing in `.partial/` counts until close().
FLUSH_STEPS = 50_000
FLUSH_EPISODES = 256


class DatasetError(ValueError):
  """A dataset path that is missing, not a dataset, corrupt, or inconsistent; or bad episode data."""


class IncompleteDatasetError(DatasetError):
  """A dataset whose writer never finished (interrupted, or still writing)."""


class Episode(NamedTuple):
  """One episode: T+1 observations, T of everything else; infos as Minari stores them, or None."""
  observations: np.ndarray
  actions: np.ndarray
  rewards: np.ndarray
  terminations: np.ndarray
  truncations: np.ndarray
  infos: Optional[Dict[str, Any]] = None


def _storage_class():
  # Imported here so that the rest of the zoo imports without the `offline` extra installed.
  try:
    from minari.dataset.minari_storage import MinariStorage
  except ImportError as error:
    raise ImportError(f'offline datasets need Minari with HDF5: pip install "agent-zoo[offline]" '
                      f'({error})') from error
  return MinariStorage


def _h5py():
  try:
    import h5py
  except ImportError as error:
    raise ImportError(f'offline datasets need h5py: pip install "agent-zoo[offline]" ({error})'
                      ) from error
  return h5py


def _normalise_path(path) -> str:
  path = os.fspath(path)
  if not path:
    raise DatasetError('the dataset path is empty')
  return os.path.abspath(path).rstrip(os.sep) or os.sep


def _check_space(space: gymnasium.Space, role: str) -> None:
  if not isinstance(space, ARRAY_SPACES):
    raise DatasetError(f'the {role} space {space} is not supported: offline datasets hold Box, '
                       'Discrete, MultiDiscrete or MultiBinary spaces (flatten Dict/Tuple spaces)')
  # A space Minari cannot serialise exactly would come back different from the one written.
  _storage_class()
  from minari.serialization import deserialize_space, serialize_space
  if deserialize_space(serialize_space(space)) != space:
    raise DatasetError(f'the {role} space {space} does not survive Minari\'s serialisation')


def _json_safe(metadata: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
  """The metadata as plain JSON values (numpy scalars and arrays become numbers and lists)."""
  if metadata is None:
    return {}
  if not isinstance(metadata, Mapping):
    raise DatasetError(f'metadata must be a dict, not {type(metadata).__name__}')

  def convert(value):
    if isinstance(value, np.generic):
      return value.item()
    if isinstance(value, np.ndarray):
      return value.tolist()
    raise TypeError(f'{type(value).__name__} {value!r}')

  try:
    return json.loads(json.dumps(dict(metadata), default=convert, allow_nan=True))
  except (TypeError, ValueError) as error:
    raise DatasetError(f'metadata is not JSON-serialisable: {error}') from error


def _sha256(file_path: str) -> str:
  digest = hashlib.sha256()
  with open(file_path, 'rb') as file:
    for block in iter(lambda: file.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _fsync(path: str) -> None:
  descriptor = os.open(path, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  finally:
    os.close(descriptor)


def _looks_like_dataset_directory(path: str, allowed=(METADATA_FILE, DATA_FILE)) -> bool:
  """True for an empty directory or one holding only Minari's two files: safe to delete."""
  return os.path.isdir(path) and not os.path.islink(path) and set(os.listdir(path)) <= set(allowed)


def _space_array(values, space: gymnasium.Space, length: int, name: str, where: str) -> np.ndarray:
  """`values` as an array of `length` samples of `space`, or a DatasetError saying what is wrong."""
  array = np.asarray(values)
  expected_shape = (length,) + tuple(space.shape)
  if array.shape != expected_shape:
    raise DatasetError(f'{where}: {name} has shape {array.shape}, expected {expected_shape} '
                       f'({length} samples of {space})')
  if array.dtype != space.dtype:
    # Only lossless casts: a float64 observation silently stored as float32 would not round-trip.
    if not np.can_cast(array.dtype, space.dtype, casting='safe'):
      raise DatasetError(f'{where}: {name} have dtype {array.dtype}, which does not cast safely to '
                         f'the space\'s {space.dtype} ({space}); cast them first')
    array = array.astype(space.dtype)
  if isinstance(space, gymnasium.spaces.Discrete):
    bad = (array < space.start) | (array >= space.start + space.n)
  elif isinstance(space, gymnasium.spaces.MultiDiscrete):
    bad = (array < space.start) | (array >= space.start + space.nvec)
  elif isinstance(space, gymnasium.spaces.MultiBinary):
    bad = (array != 0) & (array != 1)
  else:
    bad = None  # Box bounds are not enforced: observations may legitimately leave them.
  if bad is not None and np.any(bad):
    index = np.unravel_index(np.argmax(bad), bad.shape)
    raise DatasetError(f'{where}: {name}{[int(i) for i in index]} = {array[index]} is outside {space}')
  return array


def _flag_array(values, length: int, name: str, where: str) -> np.ndarray:
  array = np.asarray(values)
  if array.shape != (length,):
    raise DatasetError(f'{where}: {name} has shape {array.shape}, expected ({length},)')
  if array.dtype != np.bool_:
    if array.dtype.kind not in 'iu' or np.any((array != 0) & (array != 1)):
      raise DatasetError(f'{where}: {name} must be booleans, got dtype {array.dtype}')
    array = array.astype(np.bool_)
  return array


def _check_infos(infos, length: int, where: str, prefix: str = 'infos') -> Dict[str, Any]:
  # Minari's convention (its DataCollector): one entry per observation, the reset info first.
  if not isinstance(infos, Mapping):
    raise DatasetError(f'{where}: {prefix} must be a dict of arrays, not {type(infos).__name__}')
  checked = {}
  for key, value in infos.items():
    if not isinstance(key, str) or '/' in key or not key:
      raise DatasetError(f'{where}: {prefix} key {key!r} is not a plain string')
    if isinstance(value, Mapping):
      checked[key] = _check_infos(value, length, where, f'{prefix}[{key!r}]')
      continue
    array = np.asarray(value)
    if array.ndim == 0 or len(array) != length or array.dtype == object:
      raise DatasetError(f'{where}: {prefix}[{key!r}] must be an array of {length} entries (one '
                         f'per observation), got shape {array.shape} and dtype {array.dtype}')
    checked[key] = array
  return checked


class DatasetWriter:
  """Writes whole episodes into `<path>.partial/` and renames it to `path` on `close()`.

  Use as a context manager: leaving the block by an exception discards the partial dataset; a
  killed process leaves `<path>.partial/`, which `load_dataset` rejects and the next writer for the
  same path removes. A writer holds `<path>.lock` until it closes, so a second writer for the same
  path, while the first is alive, is refused instead of deleting the first one's work. An existing
  dataset at `path` is replaced only with `overwrite=True`, and only at `close()`: an interrupted
  overwrite keeps the old dataset.
  """

  def __init__(self, path, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               metadata: Optional[Mapping[str, Any]] = None, overwrite: bool = False):
    self._path = _normalise_path(path)
    if self._path.endswith(PARTIAL_SUFFIX):
      raise DatasetError(f'{self._path}: names ending in {PARTIAL_SUFFIX!r} are reserved for '
                         'datasets being written')
    _check_space(observation_space, 'observation')
    _check_space(action_space, 'action')
    self._observation_space = observation_space
    self._action_space = action_space
    self._metadata = _json_safe(metadata)
    self._overwrite = overwrite
    self._check_destination()
    self._partial = self._path + PARTIAL_SUFFIX
    self._lock = None
    self._lock_path = self._path + LOCK_SUFFIX
    os.makedirs(os.path.dirname(self._partial), exist_ok=True)
    self._pending: List[Any] = []
    self._pending_steps = 0
    self._num_episodes = 0
    self._num_steps = 0
    self._closed = False
    self._acquire_lock()
    # A partial dataset here was left by an interrupted writer (a live one would hold the lock):
    # incomplete by construction, so nothing is lost by replacing it. Anything else under that
    # name is not ours to delete.
    if os.path.lexists(self._partial) and not _looks_like_dataset_directory(self._partial):
      self._release_lock()
      raise DatasetError(f'{self._partial} exists and is not an unfinished dataset; remove it')
    try:
      if os.path.lexists(self._partial):
        shutil.rmtree(self._partial)
      os.mkdir(self._partial)
      storage_class = _storage_class()
      _h5py()  # fail now, not at the first flush, when h5py is missing
      # jpeg_encoding=False: Minari would otherwise store image observations as lossy JPEG.
      self._storage = storage_class.new(self._partial, observation_space, action_space,
                                        data_format=DATA_FORMAT, jpeg_encoding=False)
      # Written now so that even a partial dataset says it is one, should it be renamed by hand.
      self._storage.update_metadata({RECORD_KEY: self._record(complete=False)})
    except BaseException:
      self.abort()  # removes what this writer created and frees the lock
      raise

  @property
  def path(self) -> str:
    return self._path

  def _acquire_lock(self) -> None:
    """Takes `<path>.lock` for this writer's lifetime, or raises DatasetError if another writer
    holds it: without it a second writer for the same path would delete the first one's partial
    dataset. The kernel releases the lock when its holder dies, so a killed writer's leftovers
    are taken over, not mistaken for a live writer's."""
    for _ in range(100):
      lock = open(self._lock_path, 'a+')  # pylint: disable=consider-using-with
      try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip()
        lock.close()
        raise DatasetError(f'{self._path} is being written by another process (pid '
                           f'{holder or "unknown"} holds {self._lock_path}); wait for it to '
                           'finish, or write elsewhere') from None
      # The holder unlinks the file when it finishes: a lock won on an unlinked file is no lock.
      try:
        current = os.stat(self._lock_path).st_ino == os.fstat(lock.fileno()).st_ino
      except FileNotFoundError:
        current = False
      if current:
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock
        return
      lock.close()
    raise DatasetError(f'could not take the writer lock {self._lock_path}')

  def _release_lock(self) -> None:
    if self._lock is not None:
      # Unlinked before unlocking, so that a writer waiting on this file sees that it is stale.
      with contextlib.suppress(FileNotFoundError):  # removed by hand meanwhile
        os.unlink(self._lock_path)
      self._lock.close()
      self._lock = None

  @property
  def num_episodes(self) -> int:
    return self._num_episodes

  @property
  def num_steps(self) -> int:
    return self._num_steps

  def _check_destination(self) -> None:
    if not os.path.lexists(self._path):
      return
    if not self._overwrite:
      raise DatasetError(f'{self._path} already exists; pass overwrite=True to replace it')
    if not _looks_like_dataset_directory(self._path):
      raise DatasetError(f'{self._path} exists and is not a dataset; refusing to replace it')

  def _record(self, complete: bool, **extra) -> Dict[str, Any]:
    return dict(format_version=FORMAT_VERSION, complete=complete, metadata=self._metadata, **extra)

  def add_episode(self, observations, actions, rewards, terminations, truncations,
                  infos: Optional[Mapping[str, Any]] = None) -> None:
    """Adds one whole episode: T+1 observations, T actions/rewards/terminations/truncations."""
    if self._closed:
      raise DatasetError(f'{self._path}: add_episode after close()')
    from minari.data_collector.episode_buffer import EpisodeBuffer
    where = f'episode {self._num_episodes} of {self._path}'
    rewards = np.asarray(rewards)
    if rewards.ndim != 1 or len(rewards) == 0:
      raise DatasetError(f'{where}: rewards must be a non-empty 1-D array, got shape {rewards.shape}')
    if rewards.dtype.kind not in 'biuf':
      raise DatasetError(f'{where}: rewards must be real numbers, got dtype {rewards.dtype}')
    length = len(rewards)
    observations = _space_array(observations, self._observation_space, length + 1, 'observations',
                                where)
    actions = _space_array(actions, self._action_space, length, 'actions', where)
    terminations = _flag_array(terminations, length, 'terminations', where)
    truncations = _flag_array(truncations, length, 'truncations', where)
    ended = np.flatnonzero(terminations[:-1] | truncations[:-1])
    if len(ended):
      raise DatasetError(f'{where}: the episode terminates or is truncated at step {ended[0]}, '
                         f'before its last step {length - 1}; split it into episodes')
    if infos is not None:
      infos = _check_infos(infos, length + 1, where)
    self._pending.append(EpisodeBuffer(
        observations=observations, actions=actions, rewards=rewards.astype(np.float64),
        terminations=terminations, truncations=truncations, infos=infos or None))
    self._pending_steps += length
    self._num_episodes += 1
    self._num_steps += length
    if self._pending_steps >= FLUSH_STEPS or len(self._pending) >= FLUSH_EPISODES:
      self._flush()

  def _flush(self) -> None:
    if self._pending:
      self._storage.update_episodes(self._pending)
      self._pending = []
      self._pending_steps = 0

  def close(self) -> str:
    """Finishes the dataset and renames it into place; returns its path. Idempotent. If it
    fails, the partial dataset stays (for the next writer to replace) and the lock is freed."""
    if self._closed:
      return self._path
    try:
      return self._finish()
    except BaseException:
      self._release_lock()
      raise

  def _finish(self) -> str:
    if self._num_episodes == 0:
      self.abort()
      raise DatasetError(f'{self._path}: no episodes were added, so no dataset was written')
    from minari import __version__ as minari_version
    self._flush()
    data_file = os.path.join(self._partial, DATA_FILE)
    name = re.sub(r'[^-_\w]', '_', os.path.basename(self._path)) or 'dataset'
    self._storage.update_metadata({
        # What minari.MinariDataset needs to open the directory; the id is informative only here.
        'dataset_id': f'{name}-v0',
        'minari_version': minari_version,
        RECORD_KEY: self._record(
            complete=True, total_episodes=self._num_episodes, total_steps=self._num_steps,
            data_file=DATA_FILE, data_file_bytes=os.path.getsize(data_file),
            data_file_sha256=_sha256(data_file)),
    })
    written = self._storage.metadata
    if (written['total_episodes'], written['total_steps']) != (self._num_episodes, self._num_steps):
      raise DatasetError(f'{self._partial}: Minari recorded {written["total_episodes"]} episodes and '
                         f'{written["total_steps"]} steps, the writer added {self._num_episodes} '
                         f'and {self._num_steps}')
    # The data must be on disk before the rename makes it visible as complete.
    _fsync(data_file)
    _fsync(os.path.join(self._partial, METADATA_FILE))
    self._check_destination()
    if os.path.lexists(self._path):
      # Directories cannot be renamed over one another: move the old one aside first. A crash
      # between the two renames leaves the old dataset at `<path>.replaced`, never a torn one.
      replaced = self._path + REPLACED_SUFFIX
      if os.path.lexists(replaced):
        if not _looks_like_dataset_directory(replaced):
          raise DatasetError(f'{replaced} exists and is not a dataset; remove it')
        shutil.rmtree(replaced)
      os.rename(self._path, replaced)
      os.rename(self._partial, self._path)
      shutil.rmtree(replaced)
    else:
      os.rename(self._partial, self._path)
    _fsync(os.path.dirname(self._path))
    self._closed = True
    self._release_lock()
    return self._path

  def abort(self) -> None:
    """Discards everything written so far (the partial directory); the writer is then closed."""
    self._pending = []
    self._closed = True
    if os.path.isdir(self._partial):
      shutil.rmtree(self._partial, ignore_errors=True)
    self._release_lock()

  def __enter__(self) -> 'DatasetWriter':
    return self

  def __exit__(self, exc_type, exc_value, traceback) -> None:
    if exc_type is None:
      try:
        self.close()
      except BaseException:
        self.abort()  # as for any exception inside the block: nothing half-written stays
        raise
    else:
      self.abort()


def write_dataset(path, episodes: Iterable[Any], observation_space: gymnasium.Space,
                  action_space: gymnasium.Space, metadata: Optional[Mapping[str, Any]] = None,
                  overwrite: bool = False) -> str:
  """Writes `episodes` (Episode tuples or dicts with Episode's field names) and returns the path.

  A `Dataset` is an iterable of Episodes, so `write_dataset(new, dataset, dataset.observation_space,
  dataset.action_space)` copies one.
  """
  with DatasetWriter(path, observation_space, action_space, metadata, overwrite) as writer:
    for episode in episodes:
      fields = episode._asdict() if isinstance(episode, Episode) else dict(episode)
      writer.add_episode(**fields)
  return writer.path


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

    self._observations = concatenate('observations', observation_space.shape, observation_space.dtype)
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
      actions (N, H, ...), rewards (N, H), terminations (N, H), truncations (N, H): steps t .. t+H-1,
        i.e. the action taken in each of the first H states and what followed it
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


def _read_json(file_path: str) -> Dict[str, Any]:
  try:
    with open(file_path) as file:
      content = json.load(file)
  except (OSError, ValueError) as error:
    raise DatasetError(f'cannot read {file_path}: {error} (corrupt or truncated)') from error
  if not isinstance(content, dict):
    raise DatasetError(f'{file_path} is not a Minari metadata file (not a JSON object)')
  return content


def _check_record(path: str, metadata: Dict[str, Any], verify_checksum: bool) -> None:
  """Completeness, counts and the data file's size and checksum, as recorded by the writer."""
  metadata_file = os.path.join(path, METADATA_FILE)
  record = metadata[RECORD_KEY]
  if not isinstance(record, dict) or not record.get('complete'):
    raise IncompleteDatasetError(f'{path} is an incomplete dataset: {metadata_file} does not record '
                                 'a finished write (an interrupted writer, renamed by hand?)')
  for key in ('total_episodes', 'total_steps'):
    if record.get(key) != metadata.get(key):
      raise DatasetError(f'{metadata_file} is inconsistent: {key} is {metadata.get(key)} but the '
                         f'writer recorded {record.get(key)}')
  data_file = os.path.join(path, record.get('data_file', DATA_FILE))
  if not os.path.isfile(data_file):
    raise DatasetError(f'{data_file} is missing')
  size = os.path.getsize(data_file)
  if size != record.get('data_file_bytes'):
    raise DatasetError(f'{data_file} has {size} bytes but {metadata_file} records '
                       f'{record.get("data_file_bytes")}: the file is truncated or was altered')
  if verify_checksum and _sha256(data_file) != record.get('data_file_sha256'):
    raise DatasetError(f'{data_file} does not match the sha256 recorded in {metadata_file}: the '
                       'file is corrupt or was altered')


def _check_hdf5_layout(data_file: str, num_episodes: int, metadata_file: str) -> None:
  h5py = _h5py()
  if not os.path.isfile(data_file):
    raise DatasetError(f'{data_file} is missing')
  if num_episodes == 0 and os.path.getsize(data_file) == 0:
    return  # Minari creates the file empty and writes HDF5 only with the first episode
  try:
    with h5py.File(data_file, 'r') as file:
      names = set(file.keys())
  except OSError as error:
    raise DatasetError(f'cannot read {data_file}: {error} (corrupt or truncated)') from error
  expected = {f'episode_{index}' for index in range(num_episodes)}
  if names != expected:
    raise DatasetError(f'{data_file} holds {len(names)} episode groups but {metadata_file} records '
                       f'{num_episodes} episodes' + (
                           '' if len(names) != num_episodes else ' (their names do not match)'))


def _read_episodes(storage, path: str, num_episodes: int) -> List[Episode]:
  observation_space, action_space = storage.observation_space, storage.action_space
  data_file = os.path.join(path, DATA_FILE)
  episodes = []
  iterator = iter(storage.get_episodes(range(num_episodes)))
  for index in range(num_episodes):
    where = f'episode {index} of {data_file}'
    try:
      raw = next(iterator)
    except Exception as error:  # h5py and Minari raise many kinds on damaged files
      raise DatasetError(f'cannot read {where}: {type(error).__name__}: {error}') from error
    rewards = np.asarray(raw['rewards'])
    length = len(rewards) if rewards.ndim == 1 else -1
    if length < 1:
      raise DatasetError(f'{where}: rewards have shape {rewards.shape}; expected a non-empty vector')
    episodes.append(Episode(
        observations=_space_array(raw['observations'], observation_space, length + 1,
                                  'observations', where),
        actions=_space_array(raw['actions'], action_space, length, 'actions', where),
        rewards=rewards.astype(np.float64),
        terminations=_flag_array(raw['terminations'], length, 'terminations', where),
        truncations=_flag_array(raw['truncations'], length, 'truncations', where),
        infos=raw.get('infos') or None))
  return episodes


@gin.configurable
def load_dataset(path=gin.REQUIRED, verify_checksum: bool = True) -> Dataset:
  """Loads the dataset in directory `path`; raises DatasetError saying what is wrong with it.

  In gin: `SomeLearner.dataset = @load_dataset()` with `load_dataset.path = 'datasets/x'` (the `()`
  makes gin call it and pass the Dataset). `verify_checksum=False` skips hashing the data file (its
  size is still checked), for very large datasets.
  """
  path = _normalise_path(path)
  if path.endswith(PARTIAL_SUFFIX):
    raise IncompleteDatasetError(
        f'{path} is an incomplete dataset, still being written or left by an interrupted writer; '
        f'it becomes {path[:-len(PARTIAL_SUFFIX)]} when its writer finishes')
  if not os.path.lexists(path):
    if os.path.lexists(path + PARTIAL_SUFFIX):
      raise IncompleteDatasetError(
          f'no complete dataset at {path}: only the incomplete {path + PARTIAL_SUFFIX} exists '
          '(its writer was interrupted or is still writing)')
    raise DatasetError(f'no dataset at {path}: it does not exist')
  if not os.path.isdir(path):
    raise DatasetError(f'{path} is not a dataset: not a directory')
  metadata_file = os.path.join(path, METADATA_FILE)
  if not os.path.isfile(metadata_file):
    raise DatasetError(f'{path} is not a dataset: it has no {METADATA_FILE}')
  raw_metadata = _read_json(metadata_file)
  for key in ('total_episodes', 'total_steps', 'data_format'):
    if key not in raw_metadata:
      raise DatasetError(f'{metadata_file} is not a Minari metadata file: no {key!r}')
  if RECORD_KEY in raw_metadata:
    _check_record(path, raw_metadata, verify_checksum)
  num_episodes = raw_metadata['total_episodes']
  if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 0:
    raise DatasetError(f'{metadata_file} records total_episodes = {num_episodes!r}')
  if raw_metadata['data_format'] == DATA_FORMAT:
    _check_hdf5_layout(os.path.join(path, DATA_FILE), num_episodes, metadata_file)
  try:
    storage = _storage_class().read(path)
  except ImportError:
    raise
  except Exception as error:
    raise DatasetError(f'cannot open {path} with Minari: {type(error).__name__}: {error}') from error
  _check_space(storage.observation_space, f'{metadata_file} observation')
  _check_space(storage.action_space, f'{metadata_file} action')
  episodes = _read_episodes(storage, path, num_episodes)
  num_steps = sum(len(episode.rewards) for episode in episodes)
  if num_steps != raw_metadata['total_steps']:
    raise DatasetError(f'{path}: its episodes hold {num_steps} steps but {metadata_file} records '
                       f'{raw_metadata["total_steps"]}')
  record = raw_metadata.get(RECORD_KEY)
  metadata = record.get('metadata', {}) if record is not None else raw_metadata
  return Dataset(path, storage.observation_space, storage.action_space, metadata, episodes)

