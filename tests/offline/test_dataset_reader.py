"""load_dataset (offline/dataset_reader.py): datasets from Minari alone, a clear error for every
kind of bad directory, corrupt or truncated file and inconsistent count, and the gin binding."""

import json
import os

import gin
import numpy as np
import pytest

from offline import datasets
from runner import errors
from tests.offline.dataset_examples import (DISCRETE, VECTOR, assert_episodes_equal,
                                            random_episodes, write_numbered)


def test_reads_a_dataset_written_by_minari_alone(tmp_path):
  from minari.data_collector.episode_buffer import EpisodeBuffer
  from minari.dataset.minari_storage import MinariStorage
  episodes = random_episodes(np.random.default_rng(2), VECTOR, DISCRETE, [3, 2])
  storage = MinariStorage.new(tmp_path / 'm', VECTOR, DISCRETE, data_format='hdf5')
  storage.update_episodes([EpisodeBuffer(**episode) for episode in episodes])
  dataset = datasets.load_dataset(tmp_path / 'm')
  assert_episodes_equal(list(dataset), episodes)
  assert dataset.metadata['total_steps'] == 5


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


def test_a_missing_path_binding_is_named():
  gin.clear_config()
  with pytest.raises(errors.MissingBindingError, match='load_dataset.path is not bound'):
    datasets.load_dataset()


def test_dataset_errors_are_the_zoos_bad_input_and_still_value_errors(tmp_path):
  for error_type in (datasets.DatasetError, datasets.IncompleteDatasetError):
    assert issubclass(error_type, errors.BadInputError) and issubclass(error_type, ValueError)
  with pytest.raises(errors.BadInputError, match='does not exist'):
    datasets.load_dataset(tmp_path / 'missing')
