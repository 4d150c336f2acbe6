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
import importlib
import importlib.util  # noqa: F401  gin needs it loaded to report a missing `include` properly
import os
import re
import sys
import tempfile
from typing import List, Sequence

import gin
import gymnasium
from absl import app
from absl import flags
from absl import logging

import gin_configs
from agents import base as agent_base
from runner import metrics
from runner import run_experiment

flags.DEFINE_string('base_dir', None, 'Directory of the run: checkpoints, logs, config.gin.')
flags.DEFINE_multi_string('gin_files', [], 'Gin files, applied in order. A path that does not '
                          'exist is also looked up in the installed gin_configs package.')
flags.DEFINE_multi_string('gin_bindings', [], 'Gin bindings applied after the files, e.g. '
                          '"Runner.num_iterations=5".')
flags.DEFINE_bool('allow_config_change', False, 'Resume even if the operative gin config differs '
                  'from the one recorded in <base_dir>/config.gin (the new one is then recorded).')

CONFIG_FILE = 'config.gin'
EXIT_BAD_INPUT = 2

# Gin resolves `include 'gin_configs/dqn/x.gin'` through the gin_configs package (each folder has an
# __init__.py for that), so includes work from any working directory.

# Modules whose configurables every gin file may reference without importing them. The optional
# domains (Atari, MuJoCo, Meta-world) import their simulators inside their factories, so listing
# them here never needs an extra on a core install: only building such an environment does.
CORE_MODULES = ('agents.dqn', 'agents.losses', 'agents.networks', 'agents.rainbow', 'agents.sac',
                'continuous_domains.metaworld', 'continuous_domains.mujoco',
                'continuous_domains.point_maze', 'continuous_domains.sfp_maze',
                'discrete_domains.atari', 'discrete_domains.classic', 'discrete_domains.minatar',
                'runner.run_experiment')


class BadInputError(Exception):
  """An error in what the user asked for, reported as a short message instead of a traceback."""


def resolve_gin_files(gin_files: Sequence[str]) -> List[str]:
  """Each file as given if it exists, else from the installed gin_configs package; else an error."""
  try:
    return [gin_configs.resolve(path) for path in gin_files]
  except FileNotFoundError as error:
    raise BadInputError(str(error)) from error


def parse_gin(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
  for module in CORE_MODULES:
    importlib.import_module(module)
  try:
    gin.parse_config_files_and_bindings(resolve_gin_files(gin_files), gin_bindings,
                                        finalize_config=False)
  except (ValueError, OSError, ImportError, SyntaxError, AttributeError) as error:
    # gin's messages name the configurable or parameter and the file and line it came from.
    raise BadInputError(f'invalid gin configuration: {error}') from error


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
  try:
    runner = run_experiment.create_runner(base_dir)
  except agent_base.IncompatibleSpaceError as error:
    raise BadInputError(str(error)) from error
  except (ValueError, ImportError, gymnasium.error.Error) as error:
    # An agent or domain rejecting its settings, an optional simulator not installed (the message
    # names the extra), or gymnasium not knowing the environment id.
    raise BadInputError(f'cannot build the run: {error}') from error
  except TypeError as error:
    if 'unexpected keyword argument' not in str(error):
      raise
    raise BadInputError(f'invalid gin configuration: {error}') from error
  except RuntimeError as error:
    if 'Required bindings' not in str(error):  # gin's only signal for a missing REQUIRED binding
      raise
    raise BadInputError(f'incomplete gin configuration: {error}') from error
  # All configurables of the run have been called by now, so the operative config is complete.
  operative_config = gin.operative_config_str()
  if runner.has_checkpoint():
    check_config_unchanged(base_dir, operative_config, allow_config_change)
  try:
    # Restored before the config is recorded: a checkpoint this config cannot restore leaves the
    # recorded config, the one that can, in place.
    runner.restore_newest_checkpoint()
    write_config(base_dir, operative_config)
    runner.run_experiment()
  except (run_experiment.NonFiniteLossError, run_experiment.NoUsableCheckpointError) as error:
    raise BadInputError(str(error)) from error


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  logging.set_verbosity(logging.INFO)
  if not flags.FLAGS.base_dir:
    raise app.UsageError('--base_dir is required')
  try:
    run(flags.FLAGS.base_dir, flags.FLAGS.gin_files, flags.FLAGS.gin_bindings,
        flags.FLAGS.allow_config_change)
  except BadInputError as error:
    print(f'runner.train: error: {error}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


if __name__ == '__main__':
  app.run(main)
