r"""Entry point for making offline datasets:
`python -um offline.make_dataset --gin_files F [--gin_bindings B]`.

    python -um offline.make_dataset --gin_files gin_configs/datasets/pointmaze_umaze.gin \
        --gin_bindings "collect.output_dir='datasets/umaze_small'" --gin_bindings 'collect.num_steps=10000'

The gin files name the environment (`create_environment.fn`), the source (`collect.policy`: a
scripted controller of offline/controllers.py, `@AgentPolicy()` for an agent checkpointed by this
zoo, or `@UniformRandomPolicy()`), the size (`collect.num_steps` or `collect.num_episodes`), the
seed and `collect.output_dir`; see offline/collection.py and gin_configs/datasets/. The dataset is
a Minari dataset in that directory, with the operative gin config in its metadata. Bad input ends
with a one-paragraph message and exit status 2, as `runner.train`.
"""

import importlib
import json
import sys
from typing import Sequence

import gin
import gymnasium
from absl import app
from absl import flags
from absl import logging

from runner import train

# --gin_files and --gin_bindings are runner.train's flags (defined when it is imported).
# Configurables the dataset gin files use, besides runner.train's (agents and domains).
OFFLINE_MODULES = ('offline.collection', 'offline.controllers', 'offline.datasets')


def make_dataset(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> dict:
  """Everything the command does, callable from Python; raises train.BadInputError on bad input."""
  for module in OFFLINE_MODULES:
    importlib.import_module(module)
  train.parse_gin(gin_files, gin_bindings)
  collection = sys.modules['offline.collection']
  datasets = sys.modules['offline.datasets']
  # The bindings as written go into the dataset's metadata (the operative config is only complete
  # after the run, and the dataset is written by then).
  config_text = gin.config_str()
  try:
    return collection.collect(config_text=config_text)
  except (collection.CollectionError, datasets.DatasetError) as error:
    raise train.BadInputError(str(error)) from error
  except (ValueError, ImportError, gymnasium.error.Error) as error:
    # A domain, agent or controller rejecting its settings or environment, a simulator not
    # installed, or an unknown environment id: the message names the problem.
    raise train.BadInputError(f'cannot collect: {error}') from error
  except RuntimeError as error:
    if 'Required bindings' not in str(error):
      raise
    raise train.BadInputError(f'incomplete gin configuration: {error}') from error


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  logging.set_verbosity(logging.INFO)
  try:
    summary = make_dataset(flags.FLAGS.gin_files, flags.FLAGS.gin_bindings)
  except train.BadInputError as error:
    print(f'offline.make_dataset: error: {error}', file=sys.stderr)
    sys.exit(train.EXIT_BAD_INPUT)
  print(json.dumps(summary))


if __name__ == '__main__':
  app.run(main)
