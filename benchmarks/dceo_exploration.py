"""Exploration with a sparse, distant reward: DCEO against Rainbow and DQN on the same step budget.

    .venv/bin/python benchmarks/dceo_exploration.py --seeds 0 1 2 3 4 --parallel 2

Each run is `runner.train` with gin_configs/{dceo,rainbow,dqn}/gridworld.gin (one-hot
observations, the same epsilon schedule, replay, optimizer and MLP torsos; DCEO and Rainbow differ
by DCEO's representation and options alone), training only, on each layout of `LAYOUTS`: Sutton's
four rooms with the goal in the far corner from the start (20 moves), and the zoo's 15 x 15 maze of
corridors (goal 48 moves from the start, 200-step episodes). What each run's metrics.jsonl says
(runner/coverage.py): the distinct cells visited so far, per iteration, and the training step of
the first reward (censored at the budget when none came).

Printed: a Markdown table of medians (and the range) over seeds per layout and agent; drawn:
benchmarks/results/dceo_exploration.png, the distinct cells visited against training steps
(median over seeds, interquartile band). Runs are kept under benchmarks/out/dceo_exploration/.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import shutil
import statistics
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from discrete_domains import gridworld  # noqa: E402
from runner import metrics  # noqa: E402

AGENTS = ('dceo', 'rainbow', 'dqn')
# name: (bindings on top of the agents' gin files, training steps)
LAYOUTS = {
    'four_rooms': ([], 20_000),
    'maze': (["LAYOUT = 'maze'", 'create_gridworld_environment.max_episode_steps = 200',
              'Runner.max_steps_per_episode = 200'], 40_000),
}
ITERATION_STEPS = 2000
COLOURS = {'dceo': 'tab:red', 'rainbow': 'tab:blue', 'dqn': 'tab:green'}


def run_one(out_dir: str, layout: str, agent: str, seed: int) -> dict:
  bindings, budget = LAYOUTS[layout]
  base_dir = os.path.join(out_dir, layout, f'{agent}_seed{seed}')
  shutil.rmtree(base_dir, ignore_errors=True)
  common.run_train(base_dir, [f'gin_configs/{agent}/gridworld.gin'], bindings + [
      "create_runner.schedule = 'continuous_train'", f'Runner.seed = {seed}',
      f'Runner.training_steps = {ITERATION_STEPS}',
      f'Runner.num_iterations = {budget // ITERATION_STEPS}'])
  records = metrics.read_metrics(base_dir)
  steps = np.cumsum([record['train/steps'] for record in records])
  first_reward = next((record['train/first_reward_step'] for record in records
                       if 'train/first_reward_step' in record), None)
  return {'layout': layout, 'agent': agent, 'seed': seed, 'steps': steps.tolist(),
          'cells_visited': [record['train/positions_visited_total'] for record in records],
          'first_reward_step': first_reward, 'budget': int(steps[-1])}


def summarise(results, layout, agent):
  runs = [run for run in results if run['layout'] == layout and run['agent'] == agent]
  cells = [run['cells_visited'][-1] for run in runs]
  # Censored at the budget: a run without a reward counts as reaching it at the end.
  first = [run['first_reward_step'] if run['first_reward_step'] is not None else run['budget']
           for run in runs]
  rewarded = sum(run['first_reward_step'] is not None for run in runs)
  return cells, first, rewarded, len(runs)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
  parser.add_argument('--layouts', nargs='+', default=list(LAYOUTS), choices=list(LAYOUTS))
  parser.add_argument('--agents', nargs='+', default=list(AGENTS), choices=list(AGENTS))
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--out_dir', default=os.path.join(common.REPO, 'benchmarks', 'out',
                                                        'dceo_exploration'))
  parser.add_argument('--figure', default=os.path.join(common.REPO, 'benchmarks', 'results',
                                                       'dceo_exploration.png'))
  args = parser.parse_args()

  jobs = [(layout, agent, seed) for layout in args.layouts for seed in args.seeds
          for agent in args.agents]
  results = []
  with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
    futures = {pool.submit(run_one, args.out_dir, *job): job for job in jobs}
    for future in concurrent.futures.as_completed(futures):
      results.append(future.result())
      run = results[-1]
      print(f'{run["layout"]} {run["agent"]} seed {run["seed"]}: {run["cells_visited"][-1]:.0f} '
            f'cells, first reward at {run["first_reward_step"]}', flush=True)
  with open(os.path.join(args.out_dir, 'results.json'), 'w') as file:
    json.dump(results, file)

  print(f'\n{datetime.date.today()}, {common.machine_description()}; medians over seeds '
        f'{args.seeds} (range in brackets)\n')
  print('| layout (free cells) | agent | distinct cells visited | steps to the first reward | '
        'runs rewarded |')
  print('|---|---|---|---|---|')
  for layout in args.layouts:
    cells_in_layout = len(gridworld.free_cells(layout))
    for agent in args.agents:
      cells, first, rewarded, total = summarise(results, layout, agent)
      print(f'| {layout} ({cells_in_layout}) | {agent} | {statistics.median(cells):.0f} '
            f'[{min(cells):.0f}-{max(cells):.0f}] | {statistics.median(first):,.0f} '
            f'[{min(first):,.0f}-{max(first):,.0f}] | {rewarded}/{total} |')

  figure, axes = plt.subplots(1, len(args.layouts), figsize=(5.5 * len(args.layouts), 4),
                              squeeze=False)
  for axis, layout in zip(axes[0], args.layouts):
    for agent in args.agents:
      runs = [run for run in results if run['layout'] == layout and run['agent'] == agent]
      common.plot_median_band(axis, runs[0]['steps'], [run['cells_visited'] for run in runs],
                              COLOURS[agent], agent)
    axis.axhline(len(gridworld.free_cells(layout)), color='grey', linestyle='--',
                 label='free cells')
    axis.set_xlabel('training steps')
    axis.set_ylabel('distinct cells visited')
    axis.set_title(f'{layout}: median of {len(args.seeds)} seeds, IQR shaded')
    axis.legend()
  figure.tight_layout()
  os.makedirs(os.path.dirname(args.figure), exist_ok=True)
  figure.savefig(args.figure, dpi=100)
  print(f'\nfigure: {args.figure}; runs: {args.out_dir}')


if __name__ == '__main__':
  main()
