r"""Many runs at once: one `runner.train` run per combination of a grid of gin bindings, as Ray tasks.

    python -um runner.sweep --base_dir runs/sweep1 --gin_files gin_configs/dqn/atari.gin \
        --grid 'Runner.seed=[0,1,2]' --grid "create_atari_environment.game_name=['Pong','Breakout']"

Each `--grid 'Selector.parameter=[v1, v2, ...]'` gives the values one binding takes (written as in a
gin file: `[0, 1]`, `['Pong', 'Breakout']`, `[@DQNAgent, @RainbowAgent]`); the sweep runs the
Cartesian product, each combination in its own run directory `<base_dir>/<name>` whose name lists
its values, sorted (`game_name=Pong,seed=0`), with the `--gin_files` and `--gin_bindings` shared
by all and the combination's bindings last.

Every run is a `python -um runner.train` subprocess inside a Ray task that holds `--cpus_per_run`
CPUs and `--gpus_per_run` GPUs, so a run that crashes takes nothing else down and Ray never starts
more runs than the resources allow. Ray is a local cluster sized to this machine, started for the
sweep, unless `--ray_address` names an existing one (whose workers must see the same paths: a
shared filesystem and the same installation).

Rerunning the same sweep skips the runs it finished before (each leaves `sweep_run.json` with its
command and exit status) and resumes interrupted ones from their own newest checkpoints. A run that
fails is reported with its log, `<run dir>/train.log`, and does not stop the others; the sweep
then exits with status 1. `<base_dir>/sweep.json` lists the runs and their states.
"""

import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags
import tqdm

from runner import command_line
from runner import errors

EXIT_BAD_INPUT = errors.EXIT_BAD_INPUT
EXIT_RUN_FAILED = 1
RUN_RECORD = 'sweep_run.json'
SWEEP_RECORD = 'sweep.json'
LOG_FILE = 'train.log'


# Something wrong with the sweep's arguments: the zoo's one bad-input type, under its old name here.
SweepInputError = errors.BadInputError


@dataclasses.dataclass
class Run:
  """One combination of the grid: its name, run directory and the bindings that define it."""
  name: str
  directory: str
  bindings: Tuple[str, ...]


def _backslashes_before(text: str, index: int) -> int:
  """How many backslashes directly precede text[index] (an even number escapes nothing)."""
  count = 0
  while index - count - 1 >= 0 and text[index - count - 1] == '\\':
    count += 1
  return count


def split_top_level(text: str, separator: str = ',') -> List[str]:
  """Splits `text` at `separator` where it is outside quotes and brackets."""
  parts, depth, quote, start = [], 0, None, 0
  for index, char in enumerate(text):
    if quote:
      if char == quote and _backslashes_before(text, index) % 2 == 0:
        quote = None
    elif char in '\'"':
      quote = char
    elif char in '([{':
      depth += 1
    elif char in ')]}':
      depth -= 1
    elif char == separator and depth == 0:
      parts.append(text[start:index])
      start = index + 1
  parts.append(text[start:])
  return [part.strip() for part in parts]


def parse_grid_axis(text: str) -> Tuple[str, List[str]]:
  """'Selector.parameter=[v1, v2]' -> ('Selector.parameter', ['v1', 'v2']); each value is kept as
  gin text, so strings keep their quotes and references their @."""
  if '=' not in text:
    raise SweepInputError(f"--grid {text!r}: expected 'Selector.parameter=[value, ...]'")
  parameter, values = (part.strip() for part in text.split('=', 1))
  if not re.fullmatch(r'[\w./]+\.\w+', parameter):
    raise SweepInputError(f'--grid {text!r}: {parameter!r} is not a gin parameter '
                          '(Selector.parameter)')
  if not (values.startswith('[') and values.endswith(']')):
    raise SweepInputError(f'--grid {text!r}: the values must be a bracketed list, e.g. [0, 1, 2]')
  values = [value for value in split_top_level(values[1:-1]) if value]
  if not values:
    raise SweepInputError(f'--grid {text!r}: no values')
  if len(set(values)) != len(values):
    raise SweepInputError(f'--grid {text!r}: a value is repeated')
  return parameter, values


MAX_NAME_BYTES = 255  # of one path component, on the usual file systems


def run_name(assignment: Sequence[Tuple[str, str]]) -> str:
  """A directory name listing the combination's values, e.g. 'game_name=Pong,seed=0': each
  parameter by its last name component unless two share it, in alphabetical order (so the order
  of the --grid flags does not rename the runs), values with quotes and characters that do not
  belong in a file name dropped."""
  short = [parameter.rsplit('.', 1)[-1] for parameter, _ in assignment]
  names = [s if short.count(s) == 1 else parameter.replace('/', '.')
           for s, (parameter, _) in zip(short, assignment)]
  clean = lambda value: re.sub(r'[^A-Za-z0-9_.+-]+', '_', value.strip('\'"@')).strip('_')
  return ','.join(sorted(f'{name}={clean(value)}' for name, (_, value) in zip(names, assignment)))


def expand_grid(base_dir: str, grid: Sequence[str]) -> List[Run]:
  """The runs of a sweep: the Cartesian product of the grid's axes, in the order given."""
  axes = [parse_grid_axis(text) for text in grid]
  parameters = [parameter for parameter, _ in axes]
  if len(set(parameters)) != len(parameters):
    raise SweepInputError('a parameter appears in two --grid flags')
  runs = []
  for values in itertools.product(*(values for _, values in axes)):
    assignment = list(zip(parameters, values))
    name = run_name(assignment) if assignment else 'run'
    runs.append(Run(name, os.path.join(base_dir, name),
                    tuple(f'{parameter}={value}' for parameter, value in assignment)))
  names = [run.name for run in runs]
  too_long = [name for name in names if len(name.encode()) > MAX_NAME_BYTES]
  if too_long:
    raise SweepInputError(f'the run directory name {too_long[0][:60]}... is longer than '
                          f'{MAX_NAME_BYTES} bytes; use shorter grid values')
  if len(set(names)) != len(names):
    raise SweepInputError('two combinations map to the same run directory name; use values that '
                          'differ in letters or digits')
  return runs


def train_command(run: Run, gin_files: Sequence[str], gin_bindings: Sequence[str]) -> List[str]:
  command = [sys.executable, '-um', 'runner.train', '--base_dir', run.directory]
  for gin_file in gin_files:
    command += ['--gin_files', gin_file]
  for binding in list(gin_bindings) + list(run.bindings) + ['Runner.progress_bar=False']:
    command += ['--gin_bindings', binding]
  return command


def run_state(run: Run, command: Sequence[str]) -> str:
  """'finished' (this very command completed before), 'failed' (it ended with an error before; it
  is run again), 'interrupted' (a checkpoint or metrics exist but no outcome), or 'new'."""
  record_path = os.path.join(run.directory, RUN_RECORD)
  if os.path.exists(record_path):
    try:
      with open(record_path) as file:
        record = json.load(file)
      if record.get('command') == list(command[1:]):
        return 'finished' if record.get('returncode') == 0 else 'failed'
    except (OSError, ValueError):
      pass  # an unreadable record proves nothing: run it again (the run resumes itself)
  if os.path.exists(os.path.join(run.directory, 'checkpoints')) or os.path.exists(
      os.path.join(run.directory, 'metrics.jsonl')):
    return 'interrupted'
  return 'new'


def execute_run(command: Sequence[str], directory: str, cwd: str,
                environment: Dict[str, str]) -> Dict:
  """Runs one `runner.train` command to completion, its output appended to <directory>/train.log;
  records the outcome in <directory>/sweep_run.json. Runs inside a Ray task."""
  os.makedirs(directory, exist_ok=True)
  log_path = os.path.join(directory, LOG_FILE)
  start = time.time()
  with open(log_path, 'a') as log:
    log.write(f'\n==== {time.strftime("%Y-%m-%d %H:%M:%S")} {" ".join(command)}\n')
    log.flush()
    returncode = subprocess.call(list(command), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                 env={**os.environ, **environment})
  result = {'command': list(command[1:]), 'returncode': returncode, 'log': log_path,
            'wall_s': time.time() - start, 'host': os.uname().nodename}
  temporary = os.path.join(directory, RUN_RECORD + '.tmp')
  with open(temporary, 'w') as file:
    json.dump(result, file, indent=1)
  os.replace(temporary, os.path.join(directory, RUN_RECORD))
  return result


def run_environment(cpus_per_run: float, gpus_per_run: float = 0) -> Dict[str, str]:
  """Environment variables for a run's process (those the user set win): with one CPU per run,
  XLA's intra-op thread pool is turned off so that N concurrent runs do not fight over N cores with
  N x N threads; with a fraction of a GPU per run, JAX allocates GPU memory as needed instead of
  taking 75% of it up front, which would leave the runs sharing the GPU out of memory."""
  environment = {}
  if cpus_per_run <= 1:
    environment['XLA_FLAGS'] = '--xla_cpu_multi_thread_eigen=false'
  if 0 < gpus_per_run < 1:
    environment['XLA_PYTHON_CLIENT_PREALLOCATE'] = 'false'
  return {name: value for name, value in environment.items() if name not in os.environ}


def failure_excerpt(path: str, max_lines: int = 40) -> str:
  """What the last attempt in a run's log says about its failure: its last `runner.train: error:`
  message and what follows (gin's context lines), else its traceback from the first one on
  (chained exceptions included; the last `max_lines` lines if longer), else its last lines."""
  try:
    with open(path, errors='replace') as file:
      lines = file.readlines()
  except OSError:
    return ''
  attempt = max((i for i, line in enumerate(lines) if line.startswith('==== ')), default=-1) + 1
  lines = lines[attempt:]
  messages = [i for i, line in enumerate(lines) if line.startswith('runner.train: error:')]
  if messages:
    return ''.join(lines[messages[-1]:messages[-1] + max_lines])
  tracebacks = [i for i, line in enumerate(lines) if line.startswith('Traceback')]
  if tracebacks:
    return ''.join(lines[tracebacks[0]:][-max_lines:])
  return ''.join(lines[-5:])


def check_resources(cluster: Dict[str, float], cpus_per_run: float, gpus_per_run: float) -> None:
  """Refuses a run size the Ray cluster cannot hold at all: Ray would wait for it forever."""
  for name, wanted, flag in [('CPU', cpus_per_run, '--cpus_per_run'),
                             ('GPU', gpus_per_run, '--gpus_per_run')]:
    if wanted > cluster.get(name, 0):
      raise SweepInputError(f'{flag} {wanted:g}: the Ray cluster has {cluster.get(name, 0):g} '
                            f'{name}s in all, so no run could ever start')


def import_ray():
  try:
    import ray  # pylint: disable=import-outside-toplevel
  except ImportError as error:
    raise SweepInputError("runner.sweep needs Ray: pip install -e '.[sweep]'") from error
  return ray


def sweep(base_dir: str, gin_files: Sequence[str], gin_bindings: Sequence[str],
          grid: Sequence[str], ray_address: Optional[str] = None, cpus_per_run: float = 1,
          gpus_per_run: float = 0, num_cpus: Optional[int] = None, dry_run: bool = False,
          progress: bool = True) -> Dict[str, Dict]:
  """Runs the sweep (see the module docstring); returns {run name: outcome}, where an outcome has
  'state' ('skipped', 'finished', 'failed' or, in a dry run, the state found) and for runs that
  ran 'returncode', 'log' and 'wall_s'."""
  if not gin_files:
    raise SweepInputError('--gin_files is required')
  if cpus_per_run <= 0 or gpus_per_run < 0:
    raise SweepInputError('--cpus_per_run must be positive and --gpus_per_run not negative')
  base_dir = os.path.abspath(base_dir)
  # Resolved here, where the user's working directory is known: Ray workers may start elsewhere.
  gin_files = [os.path.abspath(path) for path in command_line.resolve_gin_files(gin_files)]
  runs = expand_grid(base_dir, grid)
  commands = {run.name: train_command(run, gin_files, gin_bindings) for run in runs}
  states = {run.name: run_state(run, commands[run.name]) for run in runs}
  if dry_run:
    return {name: {'state': state} for name, state in states.items()}
  os.makedirs(base_dir, exist_ok=True)
  outcomes = {name: {'state': 'skipped' if state == 'finished' else state}
              for name, state in states.items()}

  pending = [run for run in runs if states[run.name] != 'finished']
  if pending:
    ray = import_ray()
    if not ray.is_initialized():
      if ray_address:
        ray.init(address=ray_address, log_to_driver=False)
      else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False)
    if not ray_address:  # an existing cluster may grow to fit (autoscaling): Ray's call
      check_resources(ray.cluster_resources(), cpus_per_run, gpus_per_run)
    remote = ray.remote(execute_run).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                                             max_retries=0)
    environment = run_environment(cpus_per_run, gpus_per_run)
    futures = {remote.remote(commands[run.name], run.directory, os.getcwd(), environment): run
               for run in pending}
    bar = tqdm.tqdm(total=len(futures), desc='runs', unit='run', disable=not progress)
    while futures:
      done, _ = ray.wait(list(futures), num_returns=1)
      run = futures.pop(done[0])
      try:
        result = ray.get(done[0])
      except Exception as error:  # pylint: disable=broad-except  # Ray lost the task itself
        result = {'returncode': None, 'log': os.path.join(run.directory, LOG_FILE),
                  'wall_s': None, 'error': str(error)}
      result['state'] = 'finished' if result['returncode'] == 0 else 'failed'
      outcomes[run.name] = result
      bar.update(1)
      if result['state'] == 'failed':
        cause = (f'Ray could not run it: {result["error"]}\n' if result.get('error')
                 else failure_excerpt(result['log']))
        bar.write(f'run {run.name} failed (exit status {result["returncode"]}); log: '
                  f'{result["log"]}\n{cause}')
    bar.close()

  record = {'gin_files': list(gin_files), 'gin_bindings': list(gin_bindings), 'grid': list(grid),
            'runs': {run.name: {'directory': run.directory, 'bindings': list(run.bindings),
                                **outcomes[run.name]} for run in runs}}
  temporary = os.path.join(base_dir, SWEEP_RECORD + '.tmp')
  with open(temporary, 'w') as file:
    json.dump(record, file, indent=1, default=str)
  os.replace(temporary, os.path.join(base_dir, SWEEP_RECORD))
  return outcomes


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  options = flags.FLAGS
  if not options.base_dir:
    raise app.UsageError('--base_dir is required')
  outcomes = errors.run_command('runner.sweep', lambda: sweep(
      options.base_dir, options.gin_files, options.gin_bindings, options.grid, options.ray_address,
      options.cpus_per_run, options.gpus_per_run, options.num_cpus, options.dry_run))
  width = max(len(name) for name in outcomes)
  for name, outcome in outcomes.items():
    shows_log = outcome['state'] == 'failed' and outcome.get('log')
    detail = f'  log: {outcome["log"]}' if shows_log else ''
    print(f'{name:<{width}}  {outcome["state"]}{detail}')
  failed = [name for name, outcome in outcomes.items() if outcome['state'] == 'failed']
  if failed and not options.dry_run:  # a dry run only lists what failed before
    print(f'{len(failed)} of {len(outcomes)} runs failed.', file=sys.stderr)
    sys.exit(EXIT_RUN_FAILED)


def define_flags() -> None:
  """The command's flags, defined by the command itself when it runs (as every command's are), so
  importing this module defines no flags."""
  flags.DEFINE_string('base_dir', None, 'Directory of the sweep; each run gets a subdirectory.')
  command_line.define_gin_flags('Gin files shared by every run, applied in order.',
                                'Gin bindings shared by every run, after the files.')
  flags.DEFINE_multi_string('grid', [], "A swept binding: 'Selector.parameter=[value, ...]'.")
  flags.DEFINE_string('ray_address', None, 'Address of an existing Ray cluster (e.g. "auto" or '
                      '"ray://host:10001"); by default a local cluster is started for the sweep.')
  flags.DEFINE_float('cpus_per_run', 1, 'CPUs a run holds (Ray resource).')
  flags.DEFINE_float('gpus_per_run', 0, 'GPUs a run holds (Ray resource; fractions share a GPU).')
  flags.DEFINE_integer('num_cpus', None, 'CPUs of the local cluster (default: all of this machine).')
  flags.DEFINE_bool('dry_run', False, 'List the runs and their states, and run nothing.')


if __name__ == '__main__':
  define_flags()
  app.run(main)
