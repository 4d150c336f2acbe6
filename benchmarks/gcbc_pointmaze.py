"""Goal-conditioned BC on the PointMaze datasets: success rate and return on the mazes' goals, per
maze and seed, through the zoo's own commands (issue 15, point 6; GOM's baseline).

    .venv/bin/python benchmarks/gcbc_pointmaze.py --seeds 0 1 2 3 4 --parallel 2

Needs the datasets of gin_configs/datasets/pointmaze_{umaze,medium,large}.gin in datasets/ (made by
`python -um offline.make_dataset`). For every maze and seed: `runner.train` with
gin_configs/bc/pointmaze_<maze>.gin (offline schedule, Runner.seed = seed), then `runner.train`
with gin_configs/bc/eval_pointmaze_<maze>.gin (eval schedule, PolicyAgent with that run loaded by
load_component, goals and starts drawn at every reset, an episode ending at the goal). Prints a
table (median and each seed) and writes success.png next to the runs.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402

MAZES = ('umaze', 'medium', 'large')


def train_and_evaluate(maze: str, seed: int, out_dir: str) -> dict:
  run_dir = os.path.join(out_dir, f'{maze}_seed{seed}')
  eval_dir = run_dir + '_eval'
  quiet = ['Runner.progress_bar=False', f'Runner.seed={seed}']
  trained = common.run_measured([
      sys.executable, '-um', 'runner.train', '--base_dir', run_dir, '--gin_files',
      f'gin_configs/bc/pointmaze_{maze}.gin'] + sum((['--gin_bindings', b] for b in quiet), []))
  if trained['returncode'] != 0:
    raise RuntimeError(f'training {run_dir} failed:\n{trained["stderr"][-2000:]}')
  evaluated = common.run_measured([
      sys.executable, '-um', 'runner.train', '--base_dir', eval_dir, '--gin_files',
      f'gin_configs/bc/eval_pointmaze_{maze}.gin'] + sum(
          (['--gin_bindings', b] for b in quiet + [f"load_component.base_dir='{run_dir}'"]), []))
  if evaluated['returncode'] != 0:
    raise RuntimeError(f'evaluating {eval_dir} failed:\n{evaluated["stderr"][-2000:]}')
  with open(os.path.join(eval_dir, 'metrics.jsonl')) as file:
    record = json.loads(file.readlines()[-1])
  with open(os.path.join(run_dir, 'metrics.jsonl')) as file:
    final = json.loads(file.readlines()[-1])
  return {'maze': maze, 'seed': seed, 'success_rate': record['eval/success_rate'],
          'return': record['eval/average_return'], 'episodes': record['eval/num_episodes'],
          'validation_nll': final.get('eval/validation_nll'), 'train_s': trained['process_wall_s']}


def plot(results, path):
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  figure = Figure(figsize=(5.5, 3.5), dpi=100)
  FigureCanvasAgg(figure)
  axes = figure.add_subplot()
  for index, maze in enumerate(MAZES):
    rates = [r['success_rate'] for r in results if r['maze'] == maze]
    if not rates:
      continue
    axes.bar(index, np.median(rates), color='tab:blue', alpha=0.5)
    axes.scatter(np.full(len(rates), index), rates, color='black', s=12, zorder=3)
  axes.set_xticks(range(len(MAZES)), [maze.title() for maze in MAZES])
  axes.set_ylim(0, 1.05)
  axes.set_ylabel('success rate (median bar, seeds as dots)')
  axes.set_title('GCBC on PointMaze: goals drawn at every reset')
  figure.tight_layout()
  figure.savefig(path)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
  parser.add_argument('--mazes', nargs='+', default=list(MAZES), choices=MAZES)
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--out', default=os.path.join(common.REPO, 'benchmarks', 'out', 'gcbc'))
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  jobs = [(maze, seed) for maze in args.mazes for seed in args.seeds]
  with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
    results = list(pool.map(lambda job: train_and_evaluate(*job, args.out), jobs))
  print(f'{datetime.date.today()}, {common.machine_description()}')
  print('| maze | success rate, median [seeds] | return, median | episodes per seed | '
        'validation NLL, median |')
  print('|---|---|---|---|---|')
  for maze in args.mazes:
    rows = [r for r in results if r['maze'] == maze]
    rates = ', '.join(f'{r["success_rate"]:.2f}' for r in rows)
    print(f'| {maze} | {np.median([r["success_rate"] for r in rows]):.2f} [{rates}] | '
          f'{np.median([r["return"] for r in rows]):.2f} | '
          f'{int(np.median([r["episodes"] for r in rows]))} | '
          f'{np.median([r["validation_nll"] for r in rows]):.2f} |')
  print(f'training wall time per run, median: {np.median([r["train_s"] for r in results]):.0f} s '
        f'({args.parallel} runs at a time)')
  plot(results, os.path.join(args.out, 'success.png'))
  with open(os.path.join(args.out, 'results.json'), 'w') as file:
    json.dump(results, file, indent=1)


if __name__ == '__main__':
  main()
