"""DatasetWriter and write_dataset (offline/dataset_writer.py): exact round trips, atomic writes
under interruption, the writer lock, and a clear error for every kind of bad episode."""

import os
import signal

import numpy as np
import pytest

from offline import dataset_writer
from offline import datasets
from tests.offline.dataset_examples import (DISCRETE, IMAGES, NUMBERED_ACTIONS,
                                            NUMBERED_OBSERVATIONS, SCALAR, VECTOR,
                                            assert_episodes_equal, numbered_episodes,
                                            random_episodes, run_python, write_numbered)


@pytest.mark.parametrize('observation_space,action_space', [
    (VECTOR, DISCRETE), (IMAGES, SCALAR)], ids=['box-discrete', 'image-box'])
def test_round_trip_is_exact(tmp_path, observation_space, action_space):
  episodes = random_episodes(np.random.default_rng(0), observation_space, action_space, [4, 1, 7])
  metadata = {'source': 'random', 'seed': np.int64(3), 'gin': 'a = 1\nb = "x"', 'ids': np.arange(2)}
  path = datasets.write_dataset(tmp_path / 'd', episodes, observation_space, action_space, metadata)
  assert path == str(tmp_path / 'd')
  dataset = datasets.load_dataset(tmp_path / 'd')
  assert (dataset.num_episodes, dataset.num_steps) == (3, 12)
  assert dataset.observation_space == observation_space
  assert dataset.action_space == action_space
  assert dataset.metadata == {'source': 'random', 'seed': 3, 'gin': 'a = 1\nb = "x"', 'ids': [0, 1]}
  np.testing.assert_array_equal(dataset.episode_lengths, [4, 1, 7])
  assert_episodes_equal(list(dataset), episodes)
  assert dataset[-1].observations.shape == (8,) + observation_space.shape
  assert not os.path.exists(str(tmp_path / 'd') + datasets.PARTIAL_SUFFIX)
  # A Dataset is an iterable of episodes, so it copies itself.
  datasets.write_dataset(tmp_path / 'copy', dataset, dataset.observation_space, dataset.action_space)
  assert_episodes_equal(list(datasets.load_dataset(tmp_path / 'copy')), episodes)


def test_minari_reads_what_the_writer_writes(tmp_path):
  import minari
  episodes = random_episodes(np.random.default_rng(1), VECTOR, DISCRETE, [2, 5])
  datasets.write_dataset(tmp_path / 'd', episodes, VECTOR, DISCRETE)
  minari_dataset = minari.MinariDataset(str(tmp_path / 'd'))
  assert (minari_dataset.total_episodes, minari_dataset.total_steps) == (2, 7)
  for got, want in zip(minari_dataset.iterate_episodes(), episodes):
    np.testing.assert_array_equal(got.observations, want['observations'])
    np.testing.assert_array_equal(got.actions, want['actions'])


def test_infos_round_trip(tmp_path):
  with datasets.DatasetWriter(tmp_path / 'd', VECTOR, DISCRETE) as writer:
    episode = random_episodes(np.random.default_rng(3), VECTOR, DISCRETE, [3])[0]
    writer.add_episode(**episode, infos={'success': np.array([0, 0, 1, 1]),
                                         'nested': {'x': np.ones((4, 2))}})
  infos = datasets.load_dataset(tmp_path / 'd')[0].infos
  np.testing.assert_array_equal(infos['success'], [0, 0, 1, 1])
  np.testing.assert_array_equal(infos['nested']['x'], np.ones((4, 2)))


def test_a_dataset_written_by_one_process_is_read_by_another(tmp_path):
  process = run_python(f'''
      import numpy as np, gymnasium
      from offline import datasets
      space = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
      with datasets.DatasetWriter({str(tmp_path / 'd')!r}, space, space, {{'by': 'child'}}) as writer:
        for length in (3, 2):
          writer.add_episode(np.arange(length + 1, dtype=np.float32)[:, None],
                             np.ones((length, 1), np.float32), np.ones(length),
                             np.arange(length) == length - 1, np.zeros(length, bool))
      ''')
  _, stderr = process.communicate(timeout=60)
  assert process.returncode == 0, stderr
  dataset = datasets.load_dataset(tmp_path / 'd')
  assert (dataset.num_episodes, dataset.num_steps, dataset.metadata) == (2, 5, {'by': 'child'})
  np.testing.assert_array_equal(dataset.transitions()['next_observation'][:, 0], [1, 2, 3, 1, 2])


def test_a_killed_writer_leaves_only_an_incomplete_dataset(tmp_path):
  path = str(tmp_path / 'd')
  process = run_python(f'''
      import sys, time
      import numpy as np, gymnasium
      from offline import dataset_writer, datasets
      dataset_writer.FLUSH_EPISODES = 1  # so that episodes are on disk when the process dies
      space = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
      writer = datasets.DatasetWriter({path!r}, space, space)
      for _ in range(3):
        writer.add_episode(np.zeros((3, 1), np.float32), np.zeros((2, 1), np.float32), np.zeros(2),
                           [False, True], [False, False])
      print('written', flush=True)
      time.sleep(60)
      ''')
  try:
    assert process.stdout.readline().strip() == 'written', process.stderr.read()
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
  assert not os.path.exists(path)
  assert os.path.isdir(path + datasets.PARTIAL_SUFFIX)
  with pytest.raises(datasets.IncompleteDatasetError, match='incomplete'):
    datasets.load_dataset(path)
  with pytest.raises(datasets.IncompleteDatasetError, match='incomplete'):
    datasets.load_dataset(path + datasets.PARTIAL_SUFFIX)
  # Renamed into place by hand, it still says it is unfinished.
  os.rename(path + datasets.PARTIAL_SUFFIX, path + '_renamed')
  with pytest.raises(datasets.IncompleteDatasetError, match='incomplete'):
    datasets.load_dataset(path + '_renamed')
  os.rename(path + '_renamed', path + datasets.PARTIAL_SUFFIX)
  # Rerunning the collection replaces the leftover.
  dataset = write_numbered(path, [2])
  assert dataset.num_episodes == 1 and not os.path.exists(path + datasets.PARTIAL_SUFFIX)


def test_a_second_writer_for_the_same_path_is_refused_while_the_first_is_alive(tmp_path):
  path = tmp_path / 'd'
  first = datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS)
  first.add_episode(**numbered_episodes([2])[0])
  with pytest.raises(datasets.DatasetError,
                     match=rf'being written by another process \(pid {os.getpid()} holds'):
    datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS, overwrite=True)
  first.add_episode(**numbered_episodes([3])[0])
  first.close()
  assert datasets.load_dataset(path).num_steps == 5
  assert sorted(os.listdir(tmp_path)) == ['d']  # the lock goes with its writer
  # Free again once the first writer is done; an aborted writer frees it too.
  with pytest.raises(RuntimeError):
    with datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS, overwrite=True):
      raise RuntimeError
  datasets.write_dataset(path, numbered_episodes([4]), NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS,
                         overwrite=True)
  assert datasets.load_dataset(path).num_steps == 4


def test_a_writer_that_fails_frees_its_lock(tmp_path, monkeypatch):
  path = tmp_path / 'd'
  # Failing while it starts (here: h5py missing) leaves nothing, not even the lock.
  def missing():
    raise datasets.DatasetError('h5py is not installed')
  with monkeypatch.context() as patch:
    patch.setattr(dataset_writer, 'import_h5py', missing)
    with pytest.raises(datasets.DatasetError, match='h5py'):
      datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS)
  assert os.listdir(tmp_path) == []
  # Failing at close (the destination appeared meanwhile): the lock is freed,
  # what was there is untouched, and a retry in the same process is not refused as a live writer.
  with pytest.raises(datasets.DatasetError, match='already exists'):
    with datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS) as writer:
      writer.add_episode(**numbered_episodes([2])[0])
      os.mkdir(path)
      (path / 'notes.txt').write_text('keep me')
  assert sorted(os.listdir(tmp_path)) == ['d']
  assert (path / 'notes.txt').read_text() == 'keep me'
  (path / 'notes.txt').unlink()
  path.rmdir()
  assert write_numbered(path, [3]).num_steps == 3


def test_an_exception_while_writing_leaves_nothing(tmp_path):
  path = tmp_path / 'd'
  with pytest.raises(RuntimeError, match='collector crashed'):
    with datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS) as writer:
      writer.add_episode(**numbered_episodes([2])[0])
      raise RuntimeError('collector crashed')
  assert os.listdir(tmp_path) == []
  with pytest.raises(datasets.DatasetError, match='does not exist'):
    datasets.load_dataset(path)


def test_an_interrupted_overwrite_keeps_the_old_dataset(tmp_path):
  path = tmp_path / 'd'
  write_numbered(path, [2, 2])
  with pytest.raises(datasets.DatasetError, match='already exists.*overwrite=True'):
    datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS)
  with pytest.raises(KeyboardInterrupt):
    with datasets.DatasetWriter(path, NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS,
                                overwrite=True) as writer:
      writer.add_episode(**numbered_episodes([5])[0])
      raise KeyboardInterrupt
  assert datasets.load_dataset(path).num_episodes == 2
  datasets.write_dataset(path, numbered_episodes([5]), NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS,
                         overwrite=True)
  assert datasets.load_dataset(path).num_steps == 5
  assert sorted(os.listdir(tmp_path)) == ['d']


def test_never_overwrites_what_is_not_a_dataset(tmp_path):
  (tmp_path / 'notes').mkdir()
  (tmp_path / 'notes' / 'todo.txt').write_text('keep me')
  with pytest.raises(datasets.DatasetError, match='not a dataset; refusing'):
    datasets.DatasetWriter(tmp_path / 'notes', VECTOR, DISCRETE, overwrite=True)
  assert (tmp_path / 'notes' / 'todo.txt').read_text() == 'keep me'
  with pytest.raises(datasets.DatasetError, match='no episodes'):
    datasets.DatasetWriter(tmp_path / 'empty', VECTOR, DISCRETE).close()
  assert sorted(os.listdir(tmp_path)) == ['notes']


@pytest.mark.parametrize('change,message', [
    (dict(observations=np.zeros((3, 1), np.float32)), r'observations has shape \(3, 1\), expected \(4, 1\)'),
    (dict(observations=np.zeros((4, 1), np.float64)), 'float64, which does not cast safely'),
    (dict(actions=np.zeros((3, 2), np.float32)), r'actions has shape \(3, 2\)'),
    (dict(rewards=np.zeros(0)), 'non-empty'),
    (dict(terminations=[True, False, True]), 'at step 0, before its last step 2'),
    (dict(truncations=[0.5, 0, 0]), 'must be booleans'),
])
def test_bad_episodes_are_refused_with_a_clear_message(tmp_path, change, message):
  episode = numbered_episodes([3])[0]
  episode.update(change)
  with datasets.DatasetWriter(tmp_path / 'd', NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS) as writer:
    with pytest.raises(datasets.DatasetError, match=message):
      writer.add_episode(**episode)
    writer.add_episode(**numbered_episodes([3])[0])  # the writer is still usable
  assert datasets.load_dataset(tmp_path / 'd').num_episodes == 1


def test_discrete_actions_out_of_range_are_refused(tmp_path):
  writer = datasets.DatasetWriter(tmp_path / 'd', VECTOR, DISCRETE)
  with pytest.raises(datasets.DatasetError, match=r'actions\[1\] = 5 is outside Discrete\(4, start=1\)'):
    writer.add_episode(np.zeros((3, 3), np.float32), [1, 5], [0, 0], [0, 1], [0, 0])
  writer.abort()
  assert os.listdir(tmp_path) == []
