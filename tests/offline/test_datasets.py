"""offline/datasets.py, the public face of the dataset modules: every public name is importable
from it, and a gin file's `import offline.datasets` registers `load_dataset`. The writer, the
reader and the views are tested in test_dataset_{writer,reader,views}.py."""

import subprocess
import sys
import textwrap

from offline import dataset_format
from offline import dataset_reader
from offline import dataset_views
from offline import dataset_writer
from offline import datasets
from tests.offline.dataset_examples import REPO, write_numbered


def test_every_public_name_is_the_one_its_module_defines():
  modules = (dataset_format, dataset_reader, dataset_views, dataset_writer)
  for name in datasets.__all__:
    defining = [module for module in modules if name in vars(module)
                and getattr(module, name) is getattr(datasets, name)]
    assert defining, name
  for name in ('Dataset', 'DatasetError', 'DatasetWriter', 'Episode', 'IncompleteDatasetError',
               'load_dataset', 'write_dataset', 'PARTIAL_SUFFIX', 'RECORD_KEY', 'DATA_FILE',
               'METADATA_FILE'):
    assert name in datasets.__all__, name


def test_a_gin_files_import_line_registers_load_dataset(tmp_path):
  # In a fresh interpreter, where nothing has imported the dataset modules yet.
  write_numbered(tmp_path / 'd', [3, 2])
  code = textwrap.dedent(f'''
      import gin
      gin.parse_config("""
          import offline.datasets
          load_dataset.path = {str(tmp_path / 'd')!r}
          """)
      from offline import datasets
      assert datasets.load_dataset().num_steps == 5
      # The qualified name is the public module's, as before the split.
      assert gin.query_parameter('offline.datasets.load_dataset.path').endswith('d')
      print('ok')
      ''')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 0 and result.stdout.strip() == 'ok', result.stderr
