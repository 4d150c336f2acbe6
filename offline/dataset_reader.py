"""Reading offline datasets: `load_dataset` (gin-configurable), which verifies a dataset directory
before trusting it and returns a `Dataset` (offline/dataset_views.py).

Nothing here downloads anything or looks in Minari's global dataset root (`~/.minari`,
`MINARI_DATASETS_PATH`): a dataset is the directory its path names. A directory that is missing,
still being written (`<path>.partial`), not a Minari dataset, or whose files disagree with what
the writer recorded (counts, data file size and sha256, HDF5 episode groups, shapes, dtypes and
ranges of every episode) raises a DatasetError naming the file. Datasets written by Minari alone
(without the writer's record) are read too, with every check that does not need the record.
"""

import json
import os
from typing import Any, Dict, List, Optional, Union

import gin
import numpy as np

from offline.dataset_format import (DATA_FILE, DATA_FORMAT, METADATA_FILE, PARTIAL_SUFFIX,
                                    RECORD_KEY, DatasetError, Episode, IncompleteDatasetError,
                                    check_space, file_sha256, flag_array, import_h5py,
                                    minari_storage_class, normalise_path, space_array)
from offline.dataset_views import Dataset
from runner import errors


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
    raise IncompleteDatasetError(f'{path} is an incomplete dataset: {metadata_file} does not '
                                 'record a finished write (an interrupted writer, renamed by '
                                 'hand?)')
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
  if verify_checksum and file_sha256(data_file) != record.get('data_file_sha256'):
    raise DatasetError(f'{data_file} does not match the sha256 recorded in {metadata_file}: the '
                       'file is corrupt or was altered')


def _check_hdf5_layout(data_file: str, num_episodes: int, metadata_file: str) -> None:
  h5py = import_h5py()
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
      raise DatasetError(f'{where}: rewards have shape {rewards.shape}; expected a non-empty '
                         'vector')
    episodes.append(Episode(
        observations=space_array(raw['observations'], observation_space, length + 1,
                                  'observations', where),
        actions=space_array(raw['actions'], action_space, length, 'actions', where),
        rewards=rewards.astype(np.float64),
        terminations=flag_array(raw['terminations'], length, 'terminations', where),
        truncations=flag_array(raw['truncations'], length, 'truncations', where),
        infos=raw.get('infos') or None))
  return episodes


# Registered under the public module's name, so that `@offline.datasets.load_dataset()` in a gin
# file keeps naming it; `load_dataset` alone is enough wherever offline.datasets is imported.
@gin.configurable('load_dataset', module='offline.datasets')
def load_dataset(path: Optional[Union[str, os.PathLike]] = None,
                 verify_checksum: bool = True) -> Dataset:
  """Loads the dataset in directory `path`; raises DatasetError saying what is wrong with it.

  In gin: `SomeLearner.dataset = @load_dataset()` with `load_dataset.path = 'datasets/x'` (the `()`
  makes gin call it and pass the Dataset); without that binding, errors.MissingBindingError.
  `verify_checksum=False` skips hashing the data file (its size is still checked), for very large
  datasets.
  """
  errors.require_binding(path, 'load_dataset.path')
  path = normalise_path(path)
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
    storage = minari_storage_class().read(path)
  except ImportError:
    raise
  except Exception as error:
    raise DatasetError(f'cannot open {path} with Minari: {type(error).__name__}: {error}'
                       ) from error
  check_space(storage.observation_space, f'{metadata_file} observation')
  check_space(storage.action_space, f'{metadata_file} action')
  episodes = _read_episodes(storage, path, num_episodes)
  num_steps = sum(len(episode.rewards) for episode in episodes)
  if num_steps != raw_metadata['total_steps']:
    raise DatasetError(f'{path}: its episodes hold {num_steps} steps but {metadata_file} records '
                       f'{raw_metadata["total_steps"]}')
  record = raw_metadata.get(RECORD_KEY)
  metadata = record.get('metadata', {}) if record is not None else raw_metadata
  return Dataset(path, storage.observation_space, storage.action_space, metadata, episodes)
