"""Helpers shared by the benchmarks: running `runner.train` in a subprocess and reading its run."""

import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Dict, List, Sequence, Tuple

import numpy as np
from tensorboard.backend.event_processing import event_accumulator

from runner import checkpoints
from runner import coverage
from runner import run_directory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVERALL_RATE = re.compile(r'([\d.]+) training steps/s overall')
FRAMES_PER_AGENT_STEP = 4  # Atari's frame skip: 200M frames are 50M agent steps


def machine_description() -> str:
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as file:
      cpu = next(line.split(':', 1)[1].strip() for line in file if line.startswith('model name'))
  except (OSError, StopIteration):
    pass
  return f'{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}'


def run_measured(command: Sequence[str], cwd: str = REPO) -> Dict:
  """Runs `command` to completion; returns its exit code, output, wall time and peak resident
  memory (the child's own, from wait4, so runs measured one after another do not mix)."""
  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    start = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=cwd, stdout=out, stderr=err)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return {'returncode': process.returncode, 'stdout': out.read().decode(errors='replace'),
            'stderr': err.read().decode(errors='replace'), 'process_wall_s': wall,
            'peak_rss_mb': usage.ru_maxrss / 1024}


def run_train(base_dir: str, gin_files: Sequence[str], bindings: Sequence[str]) -> Dict[str, float]:
  """Runs `python -um runner.train` to completion; returns wall time, peak memory and the run's
  overall training rate."""
  command = [sys.executable, '-um', 'runner.train', '--base_dir', base_dir]
  for gin_file in gin_files:
    command += ['--gin_files', gin_file]
  for binding in list(bindings) + ['Runner.progress_bar=False']:
    command += ['--gin_bindings', binding]
  result = run_measured(command)
  if result['returncode'] != 0:
    raise RuntimeError(f'{" ".join(command)} failed:\n{result["stderr"][-3000:]}')
  match = OVERALL_RATE.search(result['stderr'])
  return {'process_wall_s': result['process_wall_s'], 'peak_rss_mb': result['peak_rss_mb'],
          'run_steps_per_s': float(match.group(1))}


def newest_coverage(base_dir: str) -> Tuple[np.ndarray, np.ndarray]:
  """(positions, visit counts) of a run's training so far, from its newest checkpoint's coverage
  record (runner/coverage.py): positions (n, k) ints, counts (n,)."""
  checkpointer = checkpoints.Checkpointer(os.path.join(base_dir, run_directory.CHECKPOINTS_DIR))
  if not checkpointer.iterations():
    raise FileNotFoundError(f'{base_dir} has no checkpoint to read its coverage from')
  newest = checkpointer.path(checkpointer.iterations()[-1])
  with np.load(os.path.join(newest, coverage.CHECKPOINT_FILE)) as stored:
    return np.asarray(stored['positions']), np.asarray(stored['counts'])


def scalars(base_dir: str, tag: str) -> List[event_accumulator.ScalarEvent]:
  accumulator = event_accumulator.EventAccumulator(
      base_dir, size_guidance={event_accumulator.SCALARS: 0})
  accumulator.Reload()
  return accumulator.Scalars(tag)


def zoo_steady_rate(base_dir: str, gin_files: Sequence[str], bindings: Sequence[str],
                    measured_iterations: int) -> Dict:
  """Runs `runner.train`; adds to run_train's figures the steady-state rate: the median of the
  last `measured_iterations` iterations' training rates (train/steps_per_second)."""
  result = run_train(base_dir, gin_files, bindings)
  rates = [event.value for event in scalars(base_dir, 'train/steps_per_second')]
  result['steady_steps_per_s'] = statistics.median(rates[-measured_iterations:])
  result['iteration_rates'] = [round(rate, 1) for rate in rates]
  return result


def run_peer(script: str, arguments: Sequence[str]) -> Dict:
  """Runs a peer launcher from benchmarks/peers (standard library only; it starts the peer in its
  own venv and prints one JSON line with at least loop_steps_per_s, peak_rss_mb, process_wall_s)."""
  result = run_measured([sys.executable, os.path.join(REPO, 'benchmarks', 'peers', script),
                         *arguments])
  if result['returncode'] != 0:
    raise RuntimeError(f'{script} failed:\n{result["stderr"][-3000:]}')
  record = json.loads(result['stdout'].strip().splitlines()[-1])
  return {'steady_steps_per_s': record['loop_steps_per_s'], 'peak_rss_mb': record['peak_rss_mb'],
          'process_wall_s': record['process_wall_s']}


def print_speed_table(title: str, results: Dict[str, Dict],
                      comparisons: Sequence[Tuple[str, str]]) -> None:
  """A Markdown table of steady-state rates and memory, then `zoo / peer` ratios for each
  (peer, zoo result name) pair in `comparisons` present in `results`, then the raw results as
  JSON."""
  import jax  # pylint: disable=import-outside-toplevel
  print(f'\n{title}, {datetime.date.today()}, {machine_description()}, '
        f'JAX device: {jax.devices()[0].device_kind}\n')
  print('| run | steady state (agent steps/s) | peak memory (MB) | process wall (s) |')
  print('|---|---|---|---|')
  for name, result in results.items():
    print(f'| {name} | {result["steady_steps_per_s"]:.1f} | {result["peak_rss_mb"]:.0f} | '
          f'{result["process_wall_s"]:.0f} |')
  for peer, zoo in comparisons:
    if peer in results and zoo in results:
      ratio = results[zoo]['steady_steps_per_s'] / results[peer]['steady_steps_per_s']
      print(f'| ratio {zoo} / {peer} | {ratio:.2f} | | |')
  print('\nraw:', json.dumps(results))


def plot_median_band(axis, steps, curves, colour: str, label: str) -> None:
  """The median over runs (rows of `curves`) against `steps`, the interquartile band shaded."""
  curves = np.asarray(curves, np.float64)
  axis.plot(steps, np.median(curves, axis=0), color=colour, label=label)
  axis.fill_between(steps, np.percentile(curves, 25, axis=0), np.percentile(curves, 75, axis=0),
                    color=colour, alpha=0.2)


def save_learning_plot(figure, axis, title: str, path: str, runs_dir: str) -> None:
  """Labels a learning-curve figure (training steps against evaluation average return), saves it
  to `path` and says where it and the runs are."""
  axis.set_xlabel('training steps')
  axis.set_ylabel('evaluation average return')
  axis.set_title(title)
  axis.legend()
  save_figure(figure, path)
  print(f'\nplot: {path}; runs: {runs_dir}')


def save_figure(figure, path: str) -> None:
  """Lays out `figure` and saves it to `path` (a PNG at 100 dpi), making its folder."""
  figure.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  figure.savefig(path, dpi=100)


def matmul_timer(size: int):
  """A function timing one jitted size x size float32 matmul (2 size^3 FLOPs): returns FLOP/s."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.float32)
  multiply = jax.jit(jnp.matmul)
  multiply(a, b).block_until_ready()

  def rate():
    start = time.perf_counter()
    multiply(a, b).block_until_ready()
    return 2 * size ** 3 / (time.perf_counter() - start)

  return rate


def update_cost(learner) -> Dict[str, float]:
  """XLA's cost analysis of one step of an offline learner (a one-step call of its
  ScannedTrainer: sampling, forward, backward, optimizer): 'flops', 'transcendentals', ..."""
  data, num_rows = learner._training_data.chunk(0)
  return compiled_cost(learner.trainer.call(1).lower(learner.state, data, num_rows,
                                                     learner._base_key, 0).compile())


def compiled_cost(compiled) -> Dict[str, float]:
  """XLA's cost analysis of a compiled computation ('flops', 'transcendentals', ...); XLA counts
  a loop's body once, whatever its trip count. On a GPU it also leaves out what runs as library
  calls (cuDNN's convolutions, some of cuBLAS's products): on an H200 it counted 1.88 GFLOPs for
  DCEO's update cycle where the CPU's count of the same program is 9.04, and 142 for DSM's step
  against 944. Take FLOPs from a CPU run of the same script there (benchmarks/RESULTS.md, GPU)."""
  import jax  # pylint: disable=import-outside-toplevel
  if jax.default_backend() != 'cpu':
    warnings.warn(f"XLA's cost analysis on {jax.default_backend()} leaves out library calls "
                  '(convolutions, some matmuls): the FLOP counts and floors printed here are too '
                  'low; take the FLOPs from a CPU run of the same script', stacklevel=2)
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return {name: float(value) for name, value in analysis.items()}


def update_flops(learner) -> float:
  """XLA's count of the FLOPs of one step of an offline learner (update_cost)."""
  return update_cost(learner)['flops']
