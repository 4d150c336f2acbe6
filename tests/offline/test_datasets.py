"""Offline datasets: exact round trips, the views at episode boundaries (against hand-built
examples), atomic writes under interruption, and a clear error for every kind of bad directory."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import gin
import gymnasium
import numpy as np
import pytest

from offline import datasets

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTOR = gymnasium.spaces.Box(-np.inf, np.inf, (3,), np.float32)
DISCRETE = gymnasium.spaces.Discrete(4, start=1)
SCALAR = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)


def numbered_episodes(lengths):
  """Episode e of T steps: observation t is 10*e + t, action t is 100*e + t (scalar spaces)."""
  episodes = []
  for e, length in enumerate(lengths):
    t = np.arange(length)
    episodes.append(dict(
        observations=(10 * e + np.arange(length + 1)).astype(np.float32)[:, None],
        actions=(100 * e + t).astype(np.float32)[:, None],
        rewards=(1000 * e + t).astype(np.float64),
        terminations=t == length - 1 if e % 2 == 0 else np.zeros(length, bool),
        truncations=np.zeros(length, bool) if e % 2 == 0 else t == length - 1))
  return episodes


NUMBERED_OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
NUMBERED_ACTIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)


def write_numbered(path, lengths):
  datasets.write_dataset(path, numbered_episodes(lengths), NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS)
  return datasets.load_dataset(path)


def random_episodes(rng, observation_space, action_space, lengths):
  episodes = []
  for length in lengths:
    if isinstance(observation_space, gymnasium.spaces.Box) and observation_space.dtype == np.uint8:
      observations = rng.integers(0, 256, (length + 1,) + observation_space.shape, dtype=np.uint8)
    else:
      observations = rng.normal(size=(length + 1,) + observation_space.shape).astype(np.float32)
    if isinstance(action_space, gymnasium.spaces.Discrete):
      actions = rng.integers(action_space.start, action_space.start + action_space.n, length)
    else:
      actions = rng.uniform(-1, 1, (length,) + action_space.shape).astype(np.float32)
    episodes.append(dict(observations=observations, actions=actions, rewards=rng.normal(size=length),
                         terminations=np.arange(length) == length - 1,
                         truncations=np.zeros(length, bool)))
  return episodes


def assert_episodes_equal(loaded, expected):
  assert len(loaded) == len(expected)
  for got, want in zip(loaded, expected):
    for key in ('observations', 'actions', 'rewards', 'terminations', 'truncations'):
      value = getattr(got, key)
      np.testing.assert_array_equal(value, want[key])
      assert value.dtype == np.asarray(want[key]).dtype or key == 'terminations', key


IMAGES = gymnasium.spaces.Box(0, 255, (32, 32, 3), np.uint8)  # what Minari would JPEG-encode


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


def test_reads_a_dataset_written_by_minari_alone(tmp_path):
  from minari.data_collector.episode_buffer import EpisodeBuffer
  from minari.dataset.minari_storage import MinariStorage
  episodes = random_episodes(np.random.default_rng(2), VECTOR, DISCRETE, [3, 2])
  storage = MinariStorage.new(tmp_path / 'm', VECTOR, DISCRETE, data_format='hdf5')
  storage.update_episodes([EpisodeBuffer(**episode) for episode in episodes])
  dataset = datasets.load_dataset(tmp_path / 'm')
  assert_episodes_equal(list(dataset), episodes)
  assert dataset.metadata['total_steps'] == 5


def test_infos_round_trip(tmp_path):
  with datasets.DatasetWriter(tmp_path / 'd', VECTOR, DISCRETE) as writer:
    episode = random_episodes(np.random.default_rng(3), VECTOR, DISCRETE, [3])[0]
    writer.add_episode(**episode, infos={'success': np.array([0, 0, 1, 1]),
                                         'nested': {'x': np.ones((4, 2))}})
  infos = datasets.load_dataset(tmp_path / 'd')[0].infos
  np.testing.assert_array_equal(infos['success'], [0, 0, 1, 1])
  np.testing.assert_array_equal(infos['nested']['x'], np.ones((4, 2)))


def test_windows_never_cross_an_episode_end(tmp_path):
  # Episodes of 3, 1 and 5 steps (4, 2 and 6 observations); horizon 2 needs 3 observations, so
  # episode 0 gives windows from steps 0 and 1, episode 1 none, episode 2 from steps 0..3.
  dataset = write_numbered(tmp_path / 'd', [3, 1, 5])
  windows = dataset.windows(2)
  np.testing.assert_array_equal(windows['episode'], [0, 0, 2, 2, 2, 2])
  np.testing.assert_array_equal(windows['start'], [0, 1, 0, 1, 2, 3])
  np.testing.assert_array_equal(windows['observations'][..., 0], [
      [0, 1, 2], [1, 2, 3], [20, 21, 22], [21, 22, 23], [22, 23, 24], [23, 24, 25]])
  np.testing.assert_array_equal(windows['actions'][..., 0], [
      [0, 1], [1, 2], [200, 201], [201, 202], [202, 203], [203, 204]])
  np.testing.assert_array_equal(windows['rewards'], [
      [0, 1], [1, 2], [2000, 2001], [2001, 2002], [2002, 2003], [2003, 2004]])
  np.testing.assert_array_equal(windows['terminations'], [
      [0, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 1]])
  assert not windows['truncations'].any()
  assert windows['observations'].dtype == np.float32 and windows['terminations'].dtype == bool
  # Horizon 5: only episode 2's six observations fit, once; horizon 6: nothing, with the shapes kept.
  np.testing.assert_array_equal(dataset.windows(5)['observations'][..., 0], [[20, 21, 22, 23, 24, 25]])
  empty = dataset.windows(6)
  assert empty['observations'].shape == (0, 7, 1) and empty['actions'].shape == (0, 6, 1)
  assert empty['rewards'].shape == (0, 6)
  # Horizon 1: every step once, i.e. the transitions.
  assert len(dataset.windows(1)['start']) == dataset.num_steps
  with pytest.raises(ValueError, match='horizon'):
    dataset.windows(0)


def test_padded_windows_start_at_every_step_and_hold_the_final_observation(tmp_path):
  # Episodes of 3, 1 and 5 steps; episode 1 is truncated, the others terminate.
  dataset = write_numbered(tmp_path / 'd', [3, 1, 5])
  windows = dataset.windows(2, pad_episode_ends=True)
  np.testing.assert_array_equal(windows['episode'], [0, 0, 0, 1, 2, 2, 2, 2, 2])
  np.testing.assert_array_equal(windows['start'], [0, 1, 2, 0, 0, 1, 2, 3, 4])
  np.testing.assert_array_equal(windows['observations'][..., 0], [
      [0, 1, 2], [1, 2, 3], [2, 3, 3], [10, 11, 11],
      [20, 21, 22], [21, 22, 23], [22, 23, 24], [23, 24, 25], [24, 25, 25]])
  np.testing.assert_array_equal(windows['valid'], [
      [1, 1], [1, 1], [1, 0], [1, 0], [1, 1], [1, 1], [1, 1], [1, 1], [1, 0]])
  np.testing.assert_array_equal(windows['actions'][..., 0], [
      [0, 1], [1, 2], [2, 0], [100, 0], [200, 201], [201, 202], [202, 203], [203, 204], [204, 0]])
  np.testing.assert_array_equal(windows['rewards'], [
      [0, 1], [1, 2], [2, 0], [1000, 0],
      [2000, 2001], [2001, 2002], [2002, 2003], [2003, 2004], [2004, 0]])
  np.testing.assert_array_equal(windows['terminations'], [
      [0, 0], [0, 1], [1, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 1], [1, 0]])
  np.testing.assert_array_equal(windows['truncations'][3], [1, 0])
  assert windows['truncations'].sum() == 1
  # Longer than any episode: still one window per step, held at the end.
  long = dataset.windows(6, pad_episode_ends=True)
  assert len(long['start']) == dataset.num_steps
  np.testing.assert_array_equal(long['observations'][3, :, 0], [10, 11, 11, 11, 11, 11, 11])
  np.testing.assert_array_equal(long['valid'][3], [1, 0, 0, 0, 0, 0])
  # The windows that fit are the unpadded ones, all valid.
  fitting = dataset.windows(2)
  assert fitting['valid'].all()
  keep = windows['valid'].all(axis=1)
  for name in ('observations', 'actions', 'rewards', 'terminations', 'episode', 'start'):
    np.testing.assert_array_equal(windows[name][keep], fitting[name])


def test_action_pairs_stay_inside_episodes(tmp_path):
  dataset = write_numbered(tmp_path / 'd', [3, 1, 5])
  previous, current = dataset.action_pairs()
  np.testing.assert_array_equal(previous[:, 0], [0, 1, 200, 201, 202, 203])
  np.testing.assert_array_equal(current[:, 0], [1, 2, 201, 202, 203, 204])
  previous, current = dataset.action_pairs(initial_action=np.array([-1.0]))
  np.testing.assert_array_equal(previous[:, 0], [-1, 0, 1, -1, -1, 200, 201, 202, 203])
  np.testing.assert_array_equal(current[:, 0], [0, 1, 2, 100, 200, 201, 202, 203, 204])
  assert previous.dtype == np.float32


def test_transitions_end_on_each_episodes_own_final_observation(tmp_path):
  dataset = write_numbered(tmp_path / 'd', [3, 1, 2])
  transitions = dataset.transitions()
  np.testing.assert_array_equal(transitions['observation'][:, 0], [0, 1, 2, 10, 20, 21])
  np.testing.assert_array_equal(transitions['next_observation'][:, 0], [1, 2, 3, 11, 21, 22])
  np.testing.assert_array_equal(transitions['action'][:, 0], [0, 1, 2, 100, 200, 201])
  np.testing.assert_array_equal(transitions['terminated'], [0, 0, 1, 0, 0, 1])
  np.testing.assert_array_equal(transitions['truncated'], [0, 0, 0, 1, 0, 0])
  transitions['observation'][:] = -1  # views are copies
  assert dataset[0].observations[0, 0] == 0


def run_python(code, **kwargs):
  return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


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
      from offline import datasets
      datasets.FLUSH_EPISODES = 1  # so that episodes are on disk when the process dies
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
    patch.setattr(datasets, '_h5py', missing)
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


def test_bad_directories_are_named_in_the_error(tmp_path):
  with pytest.raises(datasets.DatasetError, match=f'no dataset at {tmp_path / "missing"}'):
    datasets.load_dataset(tmp_path / 'missing')
  (tmp_path / 'plain').mkdir()
  with pytest.raises(datasets.DatasetError, match='not a dataset: it has no metadata.json'):
    datasets.load_dataset(tmp_path / 'plain')
  (tmp_path / 'file').write_text('x')
  with pytest.raises(datasets.DatasetError, match='not a directory'):
    datasets.load_dataset(tmp_path / 'file')


def corrupt_copy(tmp_path, name):
  path = tmp_path / name
  write_numbered(path, [3, 4])
  return path, path / datasets.DATA_FILE, path / datasets.METADATA_FILE


def test_corrupt_and_truncated_files_are_detected(tmp_path):
  path, data_file, metadata_file = corrupt_copy(tmp_path, 'flipped')
  content = bytearray(data_file.read_bytes())
  content[len(content) // 2] ^= 0xFF
  data_file.write_bytes(bytes(content))
  with pytest.raises(datasets.DatasetError, match=f'{data_file} does not match the sha256'):
    datasets.load_dataset(path)

  path, data_file, metadata_file = corrupt_copy(tmp_path, 'truncated')
  with open(data_file, 'r+b') as file:
    file.truncate(os.path.getsize(data_file) // 2)
  with pytest.raises(datasets.DatasetError, match=f'{data_file} has .* bytes.*truncated'):
    datasets.load_dataset(path, verify_checksum=False)
  # Without the writer's record (a dataset from elsewhere), HDF5 itself reports the damage.
  metadata = json.loads(metadata_file.read_text())
  del metadata[datasets.RECORD_KEY]
  metadata_file.write_text(json.dumps(metadata))
  with pytest.raises(datasets.DatasetError, match=f'cannot read {data_file}.*corrupt or truncated'):
    datasets.load_dataset(path)

  path, data_file, metadata_file = corrupt_copy(tmp_path, 'bad_json')
  metadata_file.write_text(metadata_file.read_text()[:40])
  with pytest.raises(datasets.DatasetError, match=f'cannot read {metadata_file}'):
    datasets.load_dataset(path)


def test_counts_that_disagree_with_the_contents_are_detected(tmp_path):
  path, data_file, metadata_file = corrupt_copy(tmp_path, 'd')
  metadata = json.loads(metadata_file.read_text())
  metadata['total_episodes'] = metadata[datasets.RECORD_KEY]['total_episodes'] = 3
  metadata_file.write_text(json.dumps(metadata))
  with pytest.raises(datasets.DatasetError, match=f'{data_file} holds 2 episode groups but .* 3'):
    datasets.load_dataset(path)
  metadata['total_episodes'] = 2
  metadata_file.write_text(json.dumps(metadata))
  with pytest.raises(datasets.DatasetError, match='inconsistent: total_episodes is 2 but the writer'):
    datasets.load_dataset(path)
  metadata['total_episodes'] = metadata[datasets.RECORD_KEY]['total_episodes'] = 2
  metadata['total_steps'] = metadata[datasets.RECORD_KEY]['total_steps'] = 8
  metadata_file.write_text(json.dumps(metadata))
  with pytest.raises(datasets.DatasetError, match='hold 7 steps but .* records 8'):
    datasets.load_dataset(path)


@gin.configurable('datasets_test_consumer')
def consumer(dataset=gin.REQUIRED):
  return dataset


def test_gin_binds_the_dataset_path(tmp_path):
  write_numbered(tmp_path / 'd', [3, 2])
  try:
    gin.parse_config(f'''
        load_dataset.path = {str(tmp_path / "d")!r}
        datasets_test_consumer.dataset = @load_dataset()
        ''')
    dataset = consumer()
    assert isinstance(dataset, datasets.Dataset) and dataset.num_steps == 5
    assert datasets.load_dataset().num_episodes == 2
  finally:
    gin.clear_config()
