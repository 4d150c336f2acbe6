r"""Entry point of every run: `python -um runner.train --base_dir D --gin_files F [--gin_bindings B]`.

    python -um runner.train --base_dir runs/x --gin_files gin_configs/dqn/cartpole.gin \
        --gin_bindings 'Runner.num_iterations=5'

Writes the operative gin config to `<base_dir>/config.gin`, then trains; rerunning the same
command resumes from the newest checkpoint. Resuming with a different operative config stops with
the difference unless `--allow_config_change` is given. Bad input (missing gin file, unknown
configurable or parameter, a budget that is not a whole number, an unknown environment or one whose
simulator is not installed, an agent that cannot handle the environment's spaces, an unwritable
base_dir, no usable checkpoint, a NaN loss) ends with a one-paragraph message and exit status 2.
"""

import difflib
import os
import re
import tempfile
from typing import Sequence

import gin
from absl import app
from absl import flags
from absl import logging

from runner import command_line
from runner import errors
from runner import metrics
from runner import run_directory
from runner import run_experiment

CONFIG_FILE = run_directory.CONFIG_FILE
# Under their names of old here: the zoo's one bad-input type, and the gin parsing all commands use.
EXIT_BAD_INPUT = errors.EXIT_BAD_INPUT
BadInputError = errors.BadInputError
parse_gin = command_line.parse_gin


def define_flags() -> None:
  """runner.train's flags, defined by its main (importing the module defines none)."""
  flags.DEFINE_string('base_dir', None, 'Directory of the run: checkpoints, logs, config.gin.')
  command_line.define_gin_flags()
  flags.DEFINE_bool('allow_config_change', False, 'Resume even if the operative gin config '
                    'differs from the one recorded in <base_dir>/config.gin (the new one is then '
                    'recorded).')


def check_base_dir_writable(base_dir: str) -> None:
  try:
    os.makedirs(base_dir, exist_ok=True)
    with tempfile.TemporaryFile(dir=base_dir):
      pass
  except OSError as error:
    raise BadInputError(f'cannot write to --base_dir {base_dir}: {error.strerror or error}') from error


def _without_display_parameters(config: str) -> str:
  """A gin config without the bindings of metrics.DISPLAY_ONLY_PARAMETERS (e.g. the progress
  bar, which sweeps turn off)."""
  patterns = [re.compile(rf'^([\w.]+\.)?{configurable}\.{parameter}\s*=')
              for configurable, parameter in metrics.DISPLAY_ONLY_PARAMETERS]
  return ''.join(line for line in config.splitlines(keepends=True)
                 if not any(pattern.match(line) for pattern in patterns))


def check_config_unchanged(base_dir: str, operative_config: str, allow_change: bool) -> None:
  """Stops a resume whose operative config differs from the recorded one, showing the diff;
  display-only parameters may change."""
  path = os.path.join(base_dir, CONFIG_FILE)
  if not os.path.exists(path):
    return
  with open(path) as file:
    recorded = file.read()
  if _without_display_parameters(recorded) == _without_display_parameters(operative_config):
    return
  difference = ''.join(difflib.unified_diff(
      recorded.splitlines(keepends=True), operative_config.splitlines(keepends=True),
      fromfile=f'{path} (recorded)', tofile='this command'))
  if allow_change:
    logging.warning('Resuming with a changed config (--allow_config_change):\n%s', difference)
    return
  raise BadInputError(
      f'{base_dir} holds a run with a different operative config; resuming it would mix two '
      f'experiments. Use another --base_dir, or pass --allow_config_change to resume anyway.\n'
      f'{difference}')


def write_config(base_dir: str, operative_config: str) -> None:
  path = os.path.join(base_dir, CONFIG_FILE)
  temporary = path + '.tmp'
  with open(temporary, 'w') as file:
    file.write(operative_config)
  os.replace(temporary, path)


def run(base_dir: str, gin_files: Sequence[str], gin_bindings: Sequence[str],
        allow_config_change: bool = False) -> None:
  """Everything `runner.train` does, callable from Python; raises BadInputError on bad input."""
  check_base_dir_writable(base_dir)
  parse_gin(gin_files, gin_bindings)
  with errors.bad_input_from(context='cannot build the run'):
    runner = run_experiment.create_runner(base_dir)
  # All configurables of the run have been called by now, so the operative config is complete.
  operative_config = gin.operative_config_str()
  if runner.has_checkpoint():
    check_config_unchanged(base_dir, operative_config, allow_config_change)
  # Restored before the config is recorded: a checkpoint this config cannot restore leaves the
  # recorded config, the one that can, in place.
  runner.restore_newest_checkpoint()
  write_config(base_dir, operative_config)
  runner.run_experiment()


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  logging.set_verbosity(logging.INFO)
  if not flags.FLAGS.base_dir:
    raise app.UsageError('--base_dir is required')
  errors.run_command('runner.train', lambda: run(
      flags.FLAGS.base_dir, flags.FLAGS.gin_files, flags.FLAGS.gin_bindings,
      flags.FLAGS.allow_config_change))


if __name__ == '__main__':
  define_flags()
  app.run(main)
