"""Checkpoints of a run: one directory per iteration, never a torn one, verified before use.

Layout under `<base_dir>/checkpoints/`:

    ckpt_<iteration>/state.npz       the agent's bundle (nested dicts of arrays), uncompressed npz
    ckpt_<iteration>/<other files>   anything the agent wrote itself (bundle_and_checkpoint)
    ckpt_<iteration>/manifest.json   written last: runner state + size and sha256 of every file

A checkpoint is written into a hidden temporary directory and renamed into place only when
complete, so a process killed at any moment leaves either the whole checkpoint or none of it. On
load the manifest's checksums are verified; a checkpoint that fails is renamed to
`ckpt_<iteration>.corrupt` (kept for inspection, never deleted) and the previous one is used.

The bundle is stored with numpy's npz rather than orbax: orbax costs 45-95 ms per save on this
machine whatever the size (about a third of a 1,000-step CartPole iteration), npz about 5 ms, and the
bundles here are plain host arrays with no sharding for orbax to manage.

This module is part of the run-directory format and imports nothing else from the zoo.
"""

import hashlib
import json
import os
import shutil
import zipfile
from typing import Any, Callable, Dict, List, Mapping, Tuple

import jax

import numpy as np

PREFIX = 'ckpt_'
TEMPORARY_PREFIX = '.tmp_' + PREFIX
CORRUPT = 'corrupt'  # the reason, and suffix, of checkpoints moved aside by a failed load
MANIFEST = 'manifest.json'
STATE_FILE = 'state.npz'
SEPARATOR = '/'
EMPTY_MAPPING = '{}'  # last path element recording an empty dict (e.g. optax's EmptyState)
FORMAT_VERSION = 1


class CorruptCheckpointError(Exception):
  """A checkpoint directory is incomplete, altered or unreadable."""


def flatten_bundle(tree: Mapping[str, Any], prefix: Tuple[str, ...] = ()) -> Dict[str, np.ndarray]:
  """Nested dicts with string keys and array-like leaves -> {'a/b/c': array}."""
  flat = {}
  if not tree:
    flat[SEPARATOR.join(prefix + (EMPTY_MAPPING,))] = np.zeros(0)
  for key, value in tree.items():
    if not isinstance(key, str) or SEPARATOR in key or key == EMPTY_MAPPING or not key:
      raise ValueError(f'bundle key {key!r} at {SEPARATOR.join(prefix)!r} is not a plain string')
    if isinstance(value, Mapping):
      flat.update(flatten_bundle(value, prefix + (key,)))
    else:
      array = np.asarray(value)
      if array.dtype == object:
        raise TypeError(f'bundle leaf {SEPARATOR.join(prefix + (key,))!r} is not numeric: {value!r}')
      flat[SEPARATOR.join(prefix + (key,))] = array
  return flat


def unflatten_bundle(flat: Mapping[str, np.ndarray]) -> Dict[str, Any]:
  """Inverse of flatten_bundle."""
  tree = {}
  for path, array in flat.items():
    *parents, leaf = path.split(SEPARATOR)
    node = tree
    for key in parents:
      node = node.setdefault(key, {})
    if leaf != EMPTY_MAPPING:
      node[leaf] = array
  return tree


def _sha256(path: str) -> str:
  with open(path, 'rb') as file:
    return hashlib.file_digest(file, 'sha256').hexdigest()


def _file_inventory(directory: str) -> Dict[str, Dict[str, Any]]:
  inventory = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      relative = os.path.relpath(path, directory)
      if relative != MANIFEST:
        inventory[relative] = {'size': os.path.getsize(path), 'sha256': _sha256(path)}
  return inventory


def _fsync_directory(directory: str) -> None:
  descriptor = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  finally:
    os.close(descriptor)


class Checkpointer:
  """Saves and restores per-iteration checkpoints, keeping the newest `keep` of them."""

  def __init__(self, checkpoint_dir: str, keep: int = 3):
    if keep < 1:
      raise ValueError(f'must keep at least one checkpoint, got keep={keep}')
    self.checkpoint_dir = os.path.abspath(checkpoint_dir)
    self.keep = keep

  def path(self, iteration: int) -> str:
    return os.path.join(self.checkpoint_dir, f'{PREFIX}{iteration}')

  def iterations(self) -> List[int]:
    """Iterations with a finished checkpoint directory, oldest first (not yet verified)."""
    if not os.path.isdir(self.checkpoint_dir):
      return []
    found = []
    for name in os.listdir(self.checkpoint_dir):
      suffix = name[len(PREFIX):]
      if name.startswith(PREFIX) and suffix.isdigit():
        found.append(int(suffix))
    return sorted(found)

  def set_aside(self) -> List[str]:
    """Names of the checkpoints moved aside as corrupt (not those superseded by a redone
    iteration)."""
    if not os.path.isdir(self.checkpoint_dir):
      return []
    return sorted(name for name in os.listdir(self.checkpoint_dir)
                  if name.startswith(PREFIX) and f'.{CORRUPT}' in name)

  def save(self, iteration: int, runner_state: Dict[str, Any],
           write_agent: Callable[[str], Any]) -> str:
    """Writes checkpoint `iteration`; `write_agent(directory)` may add files and returns the bundle."""
    os.makedirs(self.checkpoint_dir, exist_ok=True)
    self._remove_temporaries()
    temporary = os.path.join(self.checkpoint_dir, f'{TEMPORARY_PREFIX}{iteration}')
    os.makedirs(temporary)
    bundle = write_agent(temporary)
    np.savez(os.path.join(temporary, STATE_FILE), **flatten_bundle(jax.device_get(bundle)))
    manifest = {'format_version': FORMAT_VERSION, 'iteration': iteration,
                'runner_state': runner_state, 'files': _file_inventory(temporary)}
    with open(os.path.join(temporary, MANIFEST), 'w') as file:
      json.dump(manifest, file, indent=1, sort_keys=True)
      file.flush()
      os.fsync(file.fileno())
    final = self.path(iteration)
    if os.path.exists(final):  # a stale checkpoint of an iteration being redone
      self.quarantine(iteration, reason='superseded')
    os.rename(temporary, final)
    _fsync_directory(self.checkpoint_dir)
    for old in self.iterations()[:-self.keep]:
      shutil.rmtree(self.path(old))
    return final

  def load(self, iteration: int) -> Tuple[str, Dict[str, Any], Any]:
    """Verifies and reads checkpoint `iteration`: (its directory, runner state, agent bundle).

    Raises CorruptCheckpointError naming the first problem found.
    """
    directory = self.path(iteration)
    manifest_path = os.path.join(directory, MANIFEST)
    try:
      with open(manifest_path) as file:
        manifest = json.load(file)
      expected_files = manifest['files']
      runner_state = manifest['runner_state']
    except (OSError, ValueError, KeyError, TypeError) as error:
      raise CorruptCheckpointError(f'{manifest_path}: unreadable manifest ({error})') from error
    actual_files = _file_inventory(directory)
    for name in sorted(set(expected_files) | set(actual_files)):
      if name not in actual_files:
        raise CorruptCheckpointError(f'{directory}: file {name} is missing')
      if name not in expected_files:
        raise CorruptCheckpointError(f'{directory}: unexpected file {name}')
      if actual_files[name] != expected_files[name]:
        raise CorruptCheckpointError(f'{directory}: file {name} does not match its checksum')
    try:
      with np.load(os.path.join(directory, STATE_FILE), allow_pickle=False) as arrays:
        bundle = unflatten_bundle({name: arrays[name] for name in arrays.files})
    except (OSError, ValueError, zipfile.BadZipFile) as error:
      raise CorruptCheckpointError(f'{directory}: cannot read the agent state ({error})') from error
    return directory, runner_state, bundle

  def quarantine(self, iteration: int, reason: str = CORRUPT) -> str:
    """Moves a checkpoint aside (never deletes it) so it is no longer a resume candidate."""
    source = self.path(iteration)
    target = f'{source}.{reason}'
    suffix = 1
    while os.path.exists(target):
      target = f'{source}.{reason}{suffix}'
      suffix += 1
    os.rename(source, target)
    return target

  def _remove_temporaries(self) -> None:
    for name in os.listdir(self.checkpoint_dir):
      if name.startswith(TEMPORARY_PREFIX):
        shutil.rmtree(os.path.join(self.checkpoint_dir, name))
