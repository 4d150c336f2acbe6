"""Wall time of a sweep of short CartPole runs on Ray against the same runs one after another, and
Ray's scheduling overhead per run.

    .venv/bin/python benchmarks/sweep_overhead.py --runs 8

The runs: `gin_configs/dqn/cartpole.gin` with seeds 0..N-1, `--iterations` iterations of 1,000
training steps and 500 evaluation steps each. One after another: N `python -um runner.train`
processes in a row, each free to use every core. Swept: `runner.sweep.sweep` on a local Ray
cluster of this machine's cores, one CPU per run (so as many runs at once as cores). Overhead per
run: the sweep's wall time times its concurrency, minus the time the runs' own processes took
(measured inside the Ray tasks), divided by the number of runs; Ray's start-up is reported apart.
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from runner import sweep  # noqa: E402

CARTPOLE = 'gin_configs/dqn/cartpole.gin'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--runs', type=int, default=8)
  parser.add_argument('--iterations', type=int, default=3)
  args = parser.parse_args()
  bindings = [f'Runner.num_iterations={args.iterations}', 'Runner.training_steps=1000',
              'Runner.evaluation_steps=500']
  cores = os.cpu_count()
  with tempfile.TemporaryDirectory() as directory:
    start = time.perf_counter()
    sequential_walls = []
    for seed in range(args.runs):
      result = common.run_train(os.path.join(directory, 'sequential', f'seed{seed}'), [CARTPOLE],
                                bindings + [f'Runner.seed={seed}'])
      sequential_walls.append(result['process_wall_s'])
    sequential = time.perf_counter() - start

    import ray  # pylint: disable=import-outside-toplevel
    start = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - start
    start = time.perf_counter()
    outcomes = sweep.sweep(os.path.join(directory, 'swept'), [CARTPOLE], bindings,
                           [f'Runner.seed={list(range(args.runs))}'], progress=False)
    swept = time.perf_counter() - start
    ray.shutdown()
  failed = [name for name, outcome in outcomes.items() if outcome['state'] != 'finished']
  if failed:
    sys.exit(f'runs failed: {failed}')
  run_walls = [outcome['wall_s'] for outcome in outcomes.values()]
  concurrency = min(cores, args.runs)
  overhead = (swept * concurrency - sum(run_walls)) / args.runs

  print(f'\n{args.runs} DQN CartPole runs of {args.iterations} x 1,000 training steps, '
        f'{datetime.date.today()}, {common.machine_description()}\n')
  print('| | wall (s) | per run (s, median) |')
  print('|---|---|---|')
  print(f'| one after another (`runner.train` x {args.runs}) | {sequential:.1f} | '
        f'{statistics.median(sequential_walls):.1f} |')
  print(f'| `runner.sweep`, local Ray, {concurrency} at once | {swept:.1f} | '
        f'{statistics.median(run_walls):.1f} |')
  print(f'| **sequential / sweep** | **{sequential / swept:.2f}** | |')
  print(f'\nRay start-up (ray.init, local cluster of {cores} CPUs): {ray_start:.1f} s; scheduling '
        f'overhead per run: {overhead:.2f} s (the sweep\'s wall x {concurrency} minus its runs\' '
        'own time, per run)')


if __name__ == '__main__':
  main()
