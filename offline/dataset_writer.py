"""Writing offline datasets: `DatasetWriter` (whole episodes, validated, written atomically) and
`write_dataset`.

Episodes are T+1 observations (the final one included) and T actions, rewards, terminations and
truncations, checked against the spaces as they are added. Everything goes into the sibling
directory `<path>.partial/`, which is renamed to `<path>` only when `close()` succeeds, so a
collection that dies at any moment leaves no directory that looks complete. `close()` also records,
in Minari's `metadata.json` under `dataset_format.RECORD_KEY`, the episode and step counts, the
size and sha256 of the data file, and the caller's free-form metadata, which the reader
(offline/dataset_reader.py) checks.
"""

import contextlib
import fcntl
import json
import os
import re
import shutil
from typing import Any, Dict, Iterable, List, Mapping, Optional

import gymnasium
import numpy as np

from offline.dataset_format import (DATA_FILE, DATA_FORMAT, FORMAT_VERSION, LOCK_SUFFIX,
                                    METADATA_FILE, PARTIAL_SUFFIX, RECORD_KEY, REPLACED_SUFFIX,
                                    DatasetError, Episode, check_space, file_sha256, flag_array,
                                    import_h5py, minari_storage_class, normalise_path, space_array)
from runner import checkpoints

# Episodes are handed to Minari in batches: each Minari write reopens the HDF5 file and rewrites
# metadata.json, which about doubles the cost of a short episode (2.4 ms against 1.3 ms for 20
# steps here). Buffering costs no safety, since nothing in `.partial/` counts until close().
FLUSH_STEPS = 50_000
FLUSH_EPISODES = 256


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


def _looks_like_dataset_directory(path: str, allowed=(METADATA_FILE, DATA_FILE)) -> bool:
  """True for an empty directory or one holding only Minari's two files: safe to delete."""
  return os.path.isdir(path) and not os.path.islink(path) and set(os.listdir(path)) <= set(allowed)


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
    self._path = normalise_path(path)
    if self._path.endswith(PARTIAL_SUFFIX):
      raise DatasetError(f'{self._path}: names ending in {PARTIAL_SUFFIX!r} are reserved for '
                         'datasets being written')
    check_space(observation_space, 'observation')
    check_space(action_space, 'action')
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
      storage_class = minari_storage_class()
      import_h5py()  # fail now, not at the first flush, when h5py is missing
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
      raise DatasetError(f'{where}: rewards must be a non-empty 1-D array, got shape '
                         f'{rewards.shape}')
    if rewards.dtype.kind not in 'biuf':
      raise DatasetError(f'{where}: rewards must be real numbers, got dtype {rewards.dtype}')
    length = len(rewards)
    observations = space_array(observations, self._observation_space, length + 1, 'observations',
                                where)
    actions = space_array(actions, self._action_space, length, 'actions', where)
    terminations = flag_array(terminations, length, 'terminations', where)
    truncations = flag_array(truncations, length, 'truncations', where)
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
            data_file_sha256=file_sha256(data_file)),
    })
    written = self._storage.metadata
    if (written['total_episodes'], written['total_steps']) != (self._num_episodes, self._num_steps):
      raise DatasetError(f'{self._partial}: Minari recorded {written["total_episodes"]} episodes '
                         f'and {written["total_steps"]} steps, the writer added '
                         f'{self._num_episodes} and {self._num_steps}')
    # The data must be on disk before the rename makes it visible as complete.
    checkpoints.fsync_path(data_file)
    checkpoints.fsync_path(os.path.join(self._partial, METADATA_FILE))
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
    checkpoints.fsync_path(os.path.dirname(self._path))
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
