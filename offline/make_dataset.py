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

import json
from typing import Sequence

import gin
from absl import app
from absl import flags
from absl import logging

from offline import collection
from runner import command_line
from runner import errors


def make_dataset(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> dict:
  """Everything the command does, callable from Python; raises errors.BadInputError on bad input
  (CollectionError and DatasetError are its subclasses)."""
  command_line.parse_gin(gin_files, gin_bindings)
  # The bindings as written go into the dataset's metadata (the operative config is only complete
  # after the run, and the dataset is written by then).
  config_text = gin.config_str()
  with errors.bad_input_from(context='cannot collect'):
    return collection.collect(config_text=config_text)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  logging.set_verbosity(logging.INFO)
  summary = errors.run_command('offline.make_dataset', lambda: make_dataset(
      flags.FLAGS.gin_files, flags.FLAGS.gin_bindings))
  print(json.dumps(summary))


if __name__ == '__main__':
  command_line.define_gin_flags()
  app.run(main)
