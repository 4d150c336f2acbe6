"""Checkpoints of a run: one directory per iteration, never a torn one, verified before use.

Layout under `<base_dir>/checkpoints/`:

    ckpt_<iteration>/state.npz       the agent's bundle (nested dicts of arrays), uncompressed npz
    ckpt_<iteration>/chunks/*.npy    the bundle's ChunkedArrays (a replay's rows), a file per chunk
    ckpt_<iteration>/<other files>   anything the agent wrote itself (bundle_and_checkpoint)
    ckpt_<iteration>/manifest.json   written last: runner state + size and sha256 of every file

A checkpoint is written into a hidden temporary directory and renamed into place only when
complete, so a process killed at any moment leaves either the whole checkpoint or none of it. On
load the manifest's checksums are verified; a checkpoint that fails is renamed to
`ckpt_<iteration>.corrupt` (kept for inspection, never deleted) and the previous one is used.

A full Atari replay is 7.1 GB, and rewriting and rehashing it after every iteration cost more
than the 2% of an iteration the zoo allows, with three checkpoints kept taking three replay
sizes of disk (benchmarks/RESULTS.md, "Checkpoint cost at full size"). So a bundle leaf may be a
`ChunkedArray`: an array stored as one .npy file per chunk of rows, with a version per chunk that
changes whenever the chunk's content does. A chunk whose version, shape and dtype are those of the
previous checkpoint's is hard-linked from it (its size and sha256 copied from that manifest),
neither written nor hashed again; a replay that took 250k new rows since rewrites only the chunks
those rows fell in. Linked chunks are shared by the checkpoints that hold them: a chunk damaged on
disk fails the verification of every checkpoint that links it.

The bundle is stored with numpy's npz rather than orbax: orbax costs 45-95 ms per save on this
machine whatever the size (about a third of a 1,000-step CartPole iteration), npz about 5 ms, and the
bundles here are plain host arrays with no sharding for orbax to manage.

`Checkpointer.restore_newest` is the zoo's one loop that restores the newest checkpoint that loads:
the Runner resumes with it, and readers of another run's checkpoints (a dataset collection
restoring a trained agent, a component loaded by an agent) use it too.

This module is part of the run-directory format and imports nothing else from the zoo but
runner/errors.py.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import zipfile
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import jax
import numpy as np
from absl import logging

from runner import errors

PREFIX = 'ckpt_'
TEMPORARY_PREFIX = '.tmp_' + PREFIX
CORRUPT = 'corrupt'  # the reason, and suffix, of checkpoints moved aside by a failed load
MANIFEST = 'manifest.json'
STATE_FILE = 'state.npz'
SEPARATOR = '/'
EMPTY_MAPPING = '{}'  # last path element recording an empty dict (e.g. optax's EmptyState)
CHUNKS_DIR = 'chunks'
FORMAT_VERSION = 2  # 2: ChunkedArrays in chunks/ (a version-1 checkpoint has none; both load)


@dataclasses.dataclass(frozen=True)
class ChunkedArray:
  """A bundle leaf stored as chunks of `chunk_rows` rows along its first axis, one .npy file each.

  `versions[k]` identifies the content of chunk k (rows k * chunk_rows onwards): whoever builds
  the leaf guarantees that equal versions mean equal content (a replay uses the add count of its
  last write into the chunk). Checkpointing a ChunkedArray whose chunk has the version it had in
  the previous checkpoint links that chunk's file instead of writing it. Loading gives back a
  plain array.
  """
  array: np.ndarray
  chunk_rows: int
  versions: Tuple[int, ...]

  def __post_init__(self):
    chunks = -(-len(self.array) // self.chunk_rows) if self.chunk_rows > 0 else -1
    if chunks != len(self.versions):
      raise ValueError(f'a ChunkedArray of {len(self.array)} rows in chunks of {self.chunk_rows} '
                       f'has {chunks} chunks, but {len(self.versions)} versions were given')


class CorruptCheckpointError(Exception):
  """A checkpoint directory is incomplete, altered or unreadable."""


class NoUsableCheckpointError(errors.BadInputError, RuntimeError):
  """Checkpoints exist but none of them can be restored."""


# What a restore function may raise when a checkpoint verifies but does not fit what restores it
# (another agent class or network size): KeyError for a missing entry, ValueError for a shape
# (agents.base.restore_pytree), TypeError for a structure.
RESTORE_ERRORS = (KeyError, ValueError, TypeError)


def flatten_bundle(tree: Mapping[str, Any], prefix: Tuple[str, ...] = ()) -> Dict[str, Any]:
  """Nested dicts with string keys and array-like (or ChunkedArray) leaves -> {'a/b/c': leaf}."""
  flat = {}
  if not tree:
    flat[SEPARATOR.join(prefix + (EMPTY_MAPPING,))] = np.zeros(0)
  for key, value in tree.items():
    if not isinstance(key, str) or SEPARATOR in key or key == EMPTY_MAPPING or not key:
      raise ValueError(f'bundle key {key!r} at {SEPARATOR.join(prefix)!r} is not a plain string')
    if isinstance(value, Mapping):
      flat.update(flatten_bundle(value, prefix + (key,)))
    elif isinstance(value, ChunkedArray):
      flat[SEPARATOR.join(prefix + (key,))] = value
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


def _file_inventory(directory: str, known: Optional[Mapping[str, Dict[str, Any]]] = None
                    ) -> Dict[str, Dict[str, Any]]:
  """{relative path: {'size', 'sha256'}} of every file but the manifest; files in `known` (linked
  from a verified-at-write checkpoint) take their entry from it instead of being hashed again."""
  inventory = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      relative = os.path.relpath(path, directory)
      if relative == MANIFEST:
        continue
      if known and relative in known and os.path.getsize(path) == known[relative]['size']:
        inventory[relative] = dict(known[relative])
      else:
        inventory[relative] = {'size': os.path.getsize(path), 'sha256': _sha256(path)}
  return inventory


def _chunk_file(index: int, path: str, chunk: int) -> str:
  """The file of a ChunkedArray's chunk: `chunks/<array index>_<its path, as a name>_<chunk>.npy`."""
  name = re.sub(r'[^A-Za-z0-9_]+', '_', path).strip('_')[:80]
  return os.path.join(CHUNKS_DIR, f'{index:03d}_{name}_{chunk:06d}.npy')


def _write_chunks(directory: str, chunked: Mapping[str, ChunkedArray],
                  previous_directory: Optional[str], previous: Mapping[str, Any]
                  ) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
  """Writes the chunks of `chunked` under `directory`, linking those unchanged since the previous
  checkpoint; returns (the manifest's 'chunked' entry, the inventory entries of linked files)."""
  os.makedirs(os.path.join(directory, CHUNKS_DIR), exist_ok=True)
  previous_chunked = previous.get('chunked', {})
  previous_files = previous.get('files', {})
  entries, linked = {}, {}
  for index, (path, leaf) in enumerate(sorted(chunked.items())):
    array = np.ascontiguousarray(leaf.array)
    before = previous_chunked.get(path, {})
    same_layout = (before.get('chunk_rows') == leaf.chunk_rows
                   and before.get('dtype') == array.dtype.str
                   and tuple(before.get('shape', ()))[1:] == array.shape[1:])
    files = []
    for chunk, version in enumerate(leaf.versions):
      rows = array[chunk * leaf.chunk_rows:(chunk + 1) * leaf.chunk_rows]
      name = _chunk_file(index, path, chunk)
      files.append(name)
      if (same_layout and previous_directory and chunk < len(before['versions'])
          and before['versions'][chunk] == int(version)
          and before['rows'][chunk] == len(rows)
          and before['files'][chunk] in previous_files
          and _link(os.path.join(previous_directory, before['files'][chunk]),
                    os.path.join(directory, name))):
        linked[name] = previous_files[before['files'][chunk]]
        continue
      np.save(os.path.join(directory, name), rows, allow_pickle=False)
    entries[path] = {'shape': list(array.shape), 'dtype': array.dtype.str,
                     'chunk_rows': leaf.chunk_rows, 'versions': [int(v) for v in leaf.versions],
                     'rows': [len(array[k * leaf.chunk_rows:(k + 1) * leaf.chunk_rows])
                              for k in range(len(leaf.versions))],
                     'files': files}
  return entries, linked


def _link(source: str, target: str) -> bool:
  """Hard-links `source` as `target`; False (the caller writes it instead) where it cannot."""
  try:
    os.link(source, target)
    return True
  except OSError:
    return False


def _read_chunks(directory: str, entry: Mapping[str, Any]) -> np.ndarray:
  """A ChunkedArray's chunks read back into one array."""
  array = np.empty(tuple(entry['shape']), dtype=np.dtype(entry['dtype']))
  start = 0
  for name in entry['files']:
    chunk = np.load(os.path.join(directory, name), mmap_mode='r', allow_pickle=False)
    array[start:start + len(chunk)] = chunk
    start += len(chunk)
    del chunk
  if start != len(array):
    raise ValueError(f'its chunks hold {start} rows, the manifest says {len(array)}')
  return array


def fsync_path(path: str) -> None:
  """Flushes a file, or a directory's entries (a rename into it), to disk."""
  descriptor = os.open(path, os.O_RDONLY)
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
    flat = flatten_bundle(jax.device_get(bundle))
    chunked = {path: leaf for path, leaf in flat.items() if isinstance(leaf, ChunkedArray)}
    np.savez(os.path.join(temporary, STATE_FILE),
             **{path: leaf for path, leaf in flat.items() if path not in chunked})
    manifest = {'format_version': FORMAT_VERSION, 'iteration': iteration,
                'runner_state': runner_state}
    linked = {}
    if chunked:
      previous_directory, previous = self._previous_manifest(iteration)
      manifest['chunked'], linked = _write_chunks(temporary, chunked, previous_directory, previous)
    manifest['files'] = _file_inventory(temporary, known=linked)
    with open(os.path.join(temporary, MANIFEST), 'w') as file:
      json.dump(manifest, file, indent=1, sort_keys=True)
      file.flush()
      os.fsync(file.fileno())
    final = self.path(iteration)
    if os.path.exists(final):  # a stale checkpoint of an iteration being redone
      self.quarantine(iteration, reason='superseded')
    os.rename(temporary, final)
    fsync_path(self.checkpoint_dir)
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
        flat = {name: arrays[name] for name in arrays.files}
      for path, entry in manifest.get('chunked', {}).items():
        flat[path] = _read_chunks(directory, entry)
      bundle = unflatten_bundle(flat)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
      raise CorruptCheckpointError(f'{directory}: cannot read the agent state ({error})') from error
    return directory, runner_state, bundle

  def _previous_manifest(self, iteration: int) -> Tuple[Optional[str], Dict[str, Any]]:
    """The newest finished checkpoint before `iteration` and its manifest, to link unchanged
    chunks from; (None, {}) when there is none or its manifest cannot be read (then every chunk
    is written)."""
    earlier = [i for i in self.iterations() if i < iteration]
    if not earlier:
      return None, {}
    directory = self.path(earlier[-1])
    try:
      with open(os.path.join(directory, MANIFEST)) as file:
        manifest = json.load(file)
      if not isinstance(manifest.get('chunked', {}), dict):
        return None, {}
      return directory, manifest
    except (OSError, ValueError):
      return None, {}

  def restore_newest(self, restore: Callable[[str, int, Any], Any], restorer: str,
                     quarantine_corrupt: bool = True, advice: str = ''
                     ) -> Optional[Tuple[int, Dict[str, Any]]]:
    """Restores the newest checkpoint that verifies: calls `restore(directory, iteration, bundle)`
    and returns (iteration, runner state); None when there is no checkpoint at all.

    A checkpoint that fails verification is skipped for the previous one; with
    `quarantine_corrupt` (the run's own checkpoints) it is also moved aside as `ckpt_N.corrupt`,
    never deleted, so a later attempt does not try it again; a reader of someone else's run leaves
    it in place. A checkpoint that verifies but that `restore` cannot take (it returns False or
    raises one of RESTORE_ERRORS) stops the search with NoUsableCheckpointError naming `restorer`
    ('the agent (DQNAgent)'): every checkpoint of the run would fail the same way, so falling back
    would only hide the cause; nothing is moved. Checkpoints that exist but none of which verifies
    (or only set-aside ones) are NoUsableCheckpointError too, never a silent fresh start.
    """
    failures = []
    for iteration in reversed(self.iterations()):
      try:
        directory, runner_state, bundle = self.load(iteration)
      except CorruptCheckpointError as error:
        if quarantine_corrupt:
          moved_to = self.quarantine(iteration)
          logging.warning('Checkpoint of iteration %d is unusable (%s); moved it to %s and falling '
                          'back to the previous one.', iteration, error, moved_to)
        else:
          logging.warning('Checkpoint of iteration %d is unusable (%s); trying the previous one.',
                          iteration, error)
        failures.append(f'{self.path(iteration)}: {error}')
        continue
      try:
        restored = restore(directory, iteration, bundle)
        problem = 'it returned False'
      except RESTORE_ERRORS as error:
        restored, problem = False, f'{type(error).__name__}: {error}'
      if not restored:
        raise NoUsableCheckpointError(
            f'{directory} verifies, but {restorer} cannot restore it ({problem}); was the run '
            'started with another agent or network configuration? Nothing was moved or deleted'
            + (f'; {advice}' if advice else ''))
      return iteration, runner_state
    set_aside = self.set_aside()
    if quarantine_corrupt and set_aside:
      raise NoUsableCheckpointError(
          f'none of the checkpoints in {self.checkpoint_dir} could be restored: '
          f'{", ".join(set_aside)} failed verification and were moved aside (nothing was '
          'deleted); remove them or choose another --base_dir to start afresh')
    if failures:
      raise NoUsableCheckpointError(
          f'none of the checkpoints in {self.checkpoint_dir} could be restored (nothing was moved '
          f'or deleted): {"; ".join(failures)}')
    return None

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
