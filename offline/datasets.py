"""Offline datasets: Minari datasets written to and read from a local directory, with the views the
offline methods train on. This module is the public face; the work is done in

  offline/dataset_format.py   what writer and reader share: file names, DatasetError, Episode, the
                              checks on spaces and arrays
  offline/dataset_writer.py   DatasetWriter, write_dataset: whole episodes, validated, written under
                              `<path>.partial/` and renamed into place only once complete
  offline/dataset_reader.py   load_dataset (gin-configurable): verifies the directory (counts, size
                              and sha256 of the data file, every episode) and builds a Dataset
  offline/dataset_views.py    Dataset: flat arrays with transitions(), windows(horizon) and
                              action_pairs()

Nothing here downloads anything or looks in Minari's global dataset root: a dataset is the
directory its path names, in Minari's own HDF5 layout, so `minari.MinariDataset(path)` opens what
`DatasetWriter` writes.

In gin, a consumer takes the dataset as `SomeLearner.dataset = @load_dataset()` with
`load_dataset.path = 'datasets/x'`; `import offline.datasets` in the gin file registers it.
"""

from offline.dataset_format import (ARRAY_SPACES, DATA_FILE, DATA_FORMAT, FORMAT_VERSION,
                                    LOCK_SUFFIX, METADATA_FILE, PARTIAL_SUFFIX, RECORD_KEY,
                                    REPLACED_SUFFIX, DatasetError, Episode,
                                    IncompleteDatasetError)
from offline.dataset_reader import load_dataset
from offline.dataset_views import Dataset
from offline.dataset_writer import DatasetWriter, write_dataset

__all__ = ['ARRAY_SPACES', 'DATA_FILE', 'DATA_FORMAT', 'FORMAT_VERSION', 'LOCK_SUFFIX',
           'METADATA_FILE', 'PARTIAL_SUFFIX', 'RECORD_KEY', 'REPLACED_SUFFIX', 'Dataset',
           'DatasetError', 'DatasetWriter', 'Episode', 'IncompleteDatasetError', 'load_dataset',
           'write_dataset']
