"""Checkpoints: atomic writes, keep-N, and every kind of corruption detected before use."""

import json
import os

import numpy as np
import pytest

from runner import checkpoints


def bundle():
  return {'params': {'w': np.arange(6, dtype=np.float32).reshape(2, 3), 'empty': {}},
          'steps': np.int64(7), 'flag': np.bool_(True)}


def save(checkpointer, iteration, extra_file=False):
  def write_agent(directory):
    if extra_file:
      with open(os.path.join(directory, 'frames.bin'), 'wb') as file:
        file.write(b'\x01' * 100)
    return bundle()
  return checkpointer.save(iteration, {'total_training_steps': iteration}, write_agent)


def test_flatten_round_trip_keeps_empty_mappings():
  flat = checkpoints.flatten_bundle(bundle())
  restored = checkpoints.unflatten_bundle(flat)
  assert restored['params']['empty'] == {}
  np.testing.assert_array_equal(restored['params']['w'], bundle()['params']['w'])
  assert int(restored['steps']) == 7


@pytest.mark.parametrize('bad', [{'a/b': 1}, {'': 1}, {1: 2}, {'x': object()}])
def test_flatten_rejects_unstorable_bundles(bad):
  with pytest.raises((ValueError, TypeError)):
    checkpoints.flatten_bundle(bad)


def test_save_load_round_trip(tmp_path):
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  save(checkpointer, 3, extra_file=True)
  directory, runner_state, restored = checkpointer.load(3)
  assert runner_state == {'total_training_steps': 3}
  assert os.path.exists(os.path.join(directory, 'frames.bin'))
  np.testing.assert_array_equal(restored['params']['w'], bundle()['params']['w'])
  assert checkpointer.iterations() == [3]


def test_keeps_newest_and_cleans_temporaries(tmp_path):
  checkpointer = checkpoints.Checkpointer(str(tmp_path), keep=2)
  os.makedirs(tmp_path / '.tmp_ckpt_9')  # left by a process killed while saving
  for iteration in range(4):
    save(checkpointer, iteration)
  assert sorted(os.listdir(tmp_path)) == ['ckpt_2', 'ckpt_3']


def corrupt_byte(path):
  with open(path, 'r+b') as file:
    file.seek(os.path.getsize(path) // 2)
    byte = file.read(1)
    file.seek(-1, os.SEEK_CUR)
    file.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize('damage, message', [
    (lambda d: corrupt_byte(os.path.join(d, 'state.npz')), 'state.npz does not match'),
    (lambda d: corrupt_byte(os.path.join(d, 'frames.bin')), 'frames.bin does not match'),
    (lambda d: os.remove(os.path.join(d, 'frames.bin')), 'frames.bin is missing'),
    (lambda d: open(os.path.join(d, 'stray'), 'w').close(), 'unexpected file stray'),
    (lambda d: open(os.path.join(d, 'manifest.json'), 'w').write('{"files": '),
     'unreadable manifest'),
    (lambda d: os.remove(os.path.join(d, 'manifest.json')), 'unreadable manifest'),
])
def test_corruption_is_detected_and_named(tmp_path, damage, message):
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  directory = save(checkpointer, 0, extra_file=True)
  damage(directory)
  with pytest.raises(checkpoints.CorruptCheckpointError, match=message):
    checkpointer.load(0)


def test_unreadable_state_with_matching_manifest_is_corrupt(tmp_path):
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  directory = save(checkpointer, 0)
  state = os.path.join(directory, 'state.npz')
  with open(state, 'wb') as file:
    file.write(b'not a zip file')
  manifest_path = os.path.join(directory, 'manifest.json')
  with open(manifest_path) as file:
    manifest = json.load(file)
  manifest['files'] = checkpoints._file_inventory(directory)  # a consistent but unreadable file
  with open(manifest_path, 'w') as file:
    json.dump(manifest, file)
  with pytest.raises(checkpoints.CorruptCheckpointError, match='cannot read'):
    checkpointer.load(0)


def test_quarantine_moves_aside_without_deleting(tmp_path):
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  save(checkpointer, 0)
  first = checkpointer.quarantine(0)
  save(checkpointer, 0)
  second = checkpointer.quarantine(0)
  assert first.endswith('ckpt_0.corrupt') and second.endswith('ckpt_0.corrupt1')
  assert checkpointer.iterations() == []


# -- ChunkedArrays: unchanged chunks are linked from the previous checkpoint ---------------------


def save_chunked(checkpointer, iteration, array, versions, chunk_rows=4):
  leaf = checkpoints.ChunkedArray(array, chunk_rows, tuple(versions))
  return checkpointer.save(iteration, {}, lambda directory: {'rows': leaf, 'steps': np.int64(1)})


def chunk_paths(directory):
  with open(os.path.join(directory, checkpoints.MANIFEST)) as file:
    manifest = json.load(file)
  return [os.path.join(directory, name) for name in manifest['chunked']['rows']['files']]


def test_unchanged_chunks_are_linked_and_changed_ones_written(tmp_path):
  checkpointer = checkpoints.Checkpointer(str(tmp_path), keep=2)
  array = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)  # chunks: rows 0-3, 4-7, 8-9
  first = save_chunked(checkpointer, 0, array, (1, 2, 3))
  array[5] = -1.0  # chunk 1 changes, and so does its version
  second = save_chunked(checkpointer, 1, array, (1, 7, 3))
  inodes = lambda directory: [os.stat(path).st_ino for path in chunk_paths(directory)]
  assert [a == b for a, b in zip(inodes(first), inodes(second))] == [True, False, True]
  np.testing.assert_array_equal(checkpointer.load(1)[2]['rows'], array)
  old = checkpointer.load(0)[2]['rows']
  assert old[5, 0] == 15.0 and old.shape == (10, 3)
  # Dropping the older checkpoint leaves the newer one whole: a link is a file of its own.
  array[9] = -2.0
  save_chunked(checkpointer, 2, array, (1, 7, 9))
  assert checkpointer.iterations() == [1, 2]
  np.testing.assert_array_equal(checkpointer.load(2)[2]['rows'], array)


def test_a_chunk_of_another_layout_or_length_is_written_not_linked(tmp_path):
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  array = np.arange(6, dtype=np.int64)
  first = save_chunked(checkpointer, 0, array, (1, 2))  # rows 0-3, 4-5
  grown = np.arange(8, dtype=np.int64)
  second = save_chunked(checkpointer, 1, grown, (1, 2))  # the last chunk grew: same version
  assert os.stat(chunk_paths(first)[0]).st_ino == os.stat(chunk_paths(second)[0]).st_ino
  assert os.stat(chunk_paths(first)[1]).st_ino != os.stat(chunk_paths(second)[1]).st_ino
  third = save_chunked(checkpointer, 2, grown.astype(np.int32), (1, 2))  # another dtype
  assert os.stat(chunk_paths(second)[0]).st_ino != os.stat(chunk_paths(third)[0]).st_ino
  np.testing.assert_array_equal(checkpointer.load(2)[2]['rows'], grown)


def test_a_damaged_linked_chunk_fails_every_checkpoint_that_holds_it(tmp_path):
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  array = np.zeros((8, 2), np.float32)
  save_chunked(checkpointer, 0, array, (1, 1))
  second = save_chunked(checkpointer, 1, array, (1, 1))
  with open(chunk_paths(second)[0], 'r+b') as file:
    file.seek(-4, os.SEEK_END)
    file.write(b'\xff\xff\xff\xff')
  for iteration in (0, 1):
    with pytest.raises(checkpoints.CorruptCheckpointError, match='does not match its checksum'):
      checkpointer.load(iteration)


def test_chunked_array_versions_must_cover_its_chunks():
  with pytest.raises(ValueError, match='3 chunks, but 2 versions'):
    checkpoints.ChunkedArray(np.zeros(9), 4, (1, 2))
