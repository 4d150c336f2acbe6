"""What the dataset writer and reader share: the on-disk names, the error types, the Episode
record, and the checks both apply to spaces and arrays (so that a dataset the writer accepts is
exactly one the reader accepts).

The layout is Minari's own (`metadata.json` + `main_data.hdf5`, through `MinariStorage`), plus
this zoo's block under `RECORD_KEY` in `metadata.json`; see offline/datasets.py for the whole
story. Minari and h5py (the `offline` extra) are imported only when a dataset is written or read,
so that the rest of the zoo imports without them.
"""

import hashlib
import os
from typing import Any, Dict, NamedTuple, Optional

import gymnasium
import numpy as np

from runner import errors

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


class DatasetError(errors.BadInputError, ValueError):
  """A dataset path that is missing, not a dataset, corrupt, or inconsistent; or bad episode data.

  A ValueError too, so that callers catching ValueError (as before there was BadInputError) still
  catch it."""


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


def minari_storage_class():
  """Minari's MinariStorage, or an ImportError naming the extra that installs it."""
  try:
    from minari.dataset.minari_storage import MinariStorage
  except ImportError as error:
    raise ImportError(f'offline datasets need Minari with HDF5: pip install "agent-zoo[offline]" '
                      f'({error})') from error
  return MinariStorage


def import_h5py():
  """The h5py module, or an ImportError naming the extra that installs it."""
  try:
    import h5py
  except ImportError as error:
    raise ImportError(f'offline datasets need h5py: pip install "agent-zoo[offline]" ({error})'
                      ) from error
  return h5py


def normalise_path(path) -> str:
  """`path` (a str or os.PathLike) as an absolute path without a trailing separator."""
  path = os.fspath(path)
  if not path:
    raise DatasetError('the dataset path is empty')
  return os.path.abspath(path).rstrip(os.sep) or os.sep


def check_space(space: gymnasium.Space, role: str) -> None:
  """A DatasetError unless `space` is an array space that Minari stores and restores exactly."""
  if not isinstance(space, ARRAY_SPACES):
    raise DatasetError(f'the {role} space {space} is not supported: offline datasets hold Box, '
                       'Discrete, MultiDiscrete or MultiBinary spaces (flatten Dict/Tuple spaces)')
  # A space Minari cannot serialise exactly would come back different from the one written.
  minari_storage_class()
  from minari.serialization import deserialize_space, serialize_space
  if deserialize_space(serialize_space(space)) != space:
    raise DatasetError(f'the {role} space {space} does not survive Minari\'s serialisation')


def file_sha256(file_path: str) -> str:
  digest = hashlib.sha256()
  with open(file_path, 'rb') as file:
    for block in iter(lambda: file.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def space_array(values, space: gymnasium.Space, length: int, name: str, where: str) -> np.ndarray:
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
    raise DatasetError(f'{where}: {name}{[int(i) for i in index]} = {array[index]} is outside '
                       f'{space}')
  return array


def flag_array(values, length: int, name: str, where: str) -> np.ndarray:
  """`values` as `length` booleans (0/1 integers accepted), or a DatasetError."""
  array = np.asarray(values)
  if array.shape != (length,):
    raise DatasetError(f'{where}: {name} has shape {array.shape}, expected ({length},)')
  if array.dtype != np.bool_:
    if array.dtype.kind not in 'iu' or np.any((array != 0) & (array != 1)):
      raise DatasetError(f'{where}: {name} must be booleans, got dtype {array.dtype}')
    array = array.astype(np.bool_)
  return array
