"""SFP against plain SAC on SFP's tasks: success rate over training, prior training time, and SFP's
agent steps per second against SAC's in the same runs.

    .venv/bin/python benchmarks/sfp_learning.py --tasks room maze --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/sfp_learning.py --tasks metaworld_reach metaworld_window_open

The whole pipeline is the zoo's own commands: `offline.make_dataset` with the prior's dataset config
(gin_configs/datasets/sfp_room.gin for the point-mass tasks, metaworld_reach.gin for Meta-world's;
skipped when the dataset exists), `runner.train` with gin_configs/sfp/prior_*.gin for the prior
(`--prior_epochs` epochs; skipped when its run has finished), then `runner.train` with
gin_configs/sfp/<task>.gin per task and seed, once with the prior and once with
`SFPAgent.prior = None` (SAC with the same networks, returns, update schedule and budget; its
warm-up is uniform). `--budget` training steps per run, in iterations of `--iteration_steps`, each
followed by `--evaluation_steps` of the deterministic policy.

Printed: a Markdown table per task and agent of the final evaluation success rate and the
training success rate over the last quarter of the budget (medians over seeds, range in brackets),
the mean of lambda over the last iteration, and the training steps per second (medians); the
priors' training time and best held-out NLL. Drawn:
benchmarks/results/sfp_learning_<pointmass|metaworld>.png, success rate against training steps
(median over seeds, interquartile band). Runs are kept under benchmarks/out/sfp_learning/.
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
from runner import metrics  # noqa: E402

AGENTS = {'sfp': [], 'sac': ['SFPAgent.prior = None']}
# task: the prior it loads; prior: (its dataset config, its offline config)
TASKS = {'room': 'room', 'corridor': 'room', 'maze': 'room',
         **{f'metaworld_{name}': 'metaworld_reach'
            for name in ('reach', 'window_open', 'door_open', 'drawer_open')}}
PRIORS = {'room': ('gin_configs/datasets/sfp_room.gin', 'gin_configs/sfp/prior_room.gin'),
          'metaworld_reach': ('gin_configs/datasets/metaworld_reach.gin',
                              'gin_configs/sfp/prior_metaworld_reach.gin')}
COLOURS = {'sfp': 'tab:red', 'sac': 'tab:blue'}


def prepare_prior(out_dir: str, name: str, epochs: int, episodes=None) -> dict:
  """The prior's dataset (its config's own size, or `episodes`) and the prior trained on it for
  `epochs` epochs, each made once; the prior's wall time and best held-out NLL."""
  dataset_config, prior_config = PRIORS[name]
  dataset_dir = os.path.join(out_dir, 'datasets', name + (f'_{episodes}' if episodes else ''))
  if not os.path.exists(dataset_dir):
    size = [] if episodes is None else ['--gin_bindings', f'collect.num_episodes = {episodes}']
    result = common.run_measured([
        sys.executable, '-um', 'offline.make_dataset', '--gin_files', dataset_config,
        '--gin_bindings', f"collect.output_dir = '{dataset_dir}'", '--gin_bindings',
        'collect.progress_bar = False', *size])
    if result['returncode'] != 0:
      raise RuntimeError(result['stderr'][-3000:])
  prior_dir = os.path.join(out_dir, f'prior_{os.path.basename(dataset_dir)}_{epochs}_epochs')
  summary_path = os.path.join(prior_dir, 'benchmark.json')
  if not os.path.exists(summary_path):
    shutil.rmtree(prior_dir, ignore_errors=True)
    timing = common.run_train(prior_dir, [prior_config], [
        f"load_dataset.path = '{dataset_dir}'", f'Runner.num_iterations = {epochs}'])
    records = metrics.read_metrics(prior_dir)
    with open(summary_path, 'w') as file:
      json.dump({'wall_s': timing['process_wall_s'], 'epochs': len(records),
                 'best_validation_nll': records[-1]['eval/best_validation_nll'],
                 'gradient_steps': records[-1]['train/gradient_steps']},  # cumulative
                file)
  with open(summary_path) as file:
    return {**json.load(file), 'dir': prior_dir, 'name': name}


def run_one(out_dir: str, prior_dir: str, task: str, agent: str, seed: int, args) -> dict:
  base_dir = os.path.join(out_dir, task, f'{agent}_seed{seed}')
  iterations = args.budget // args.iteration_steps
  finished = (args.reuse and os.path.exists(os.path.join(base_dir, 'metrics.jsonl'))
              and len(metrics.read_metrics(base_dir)) == iterations)
  if not finished:
    shutil.rmtree(base_dir, ignore_errors=True)
    common.run_train(base_dir, [f'gin_configs/sfp/{task}.gin'], AGENTS[agent] + [
        f"load_component.base_dir = '{prior_dir}'", f'Runner.seed = {seed}',
        f'Runner.training_steps = {args.iteration_steps}',
        f'Runner.num_iterations = {iterations}',
        f'Runner.evaluation_steps = {args.evaluation_steps}'])
  records = metrics.read_metrics(base_dir)
  return {'task': task, 'agent': agent, 'seed': seed,
          'steps': np.cumsum([record['train/steps'] for record in records]).tolist(),
          'train_success': [record.get('train/success_rate', 0.0) for record in records],
          'eval_success': [record.get('eval/success_rate', 0.0) for record in records],
          'lambda': records[-1].get('agent/lambda'),
          # From TensorBoard (timings stay out of metrics.jsonl), over the iterations that learn:
          # the warm-up's acting-only steps are another cost.
          'steps_per_second': statistics.median(
              event.value for event in common.scalars(base_dir, 'train/steps_per_second')
              if 'agent/updates' in records[event.step])}


def describe(values) -> str:
  return f'{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
  parser.add_argument('--tasks', nargs='+', default=['room', 'maze'], choices=list(TASKS))
  parser.add_argument('--agents', nargs='+', default=list(AGENTS), choices=list(AGENTS))
  parser.add_argument('--budget', type=int, default=100_000)
  parser.add_argument('--iteration_steps', type=int, default=5000)
  parser.add_argument('--evaluation_steps', type=int, default=2000)
  parser.add_argument('--prior_epochs', type=int, default=100)
  parser.add_argument('--prior_episodes', type=int, default=None,
                      help="the priors' dataset size (default: their dataset configs' own)")
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--reuse', action='store_true',
                      help='keep runs that finished with the same budget instead of rerunning them')
  parser.add_argument('--out_dir', default=os.path.join(common.REPO, 'benchmarks', 'out',
                                                        'sfp_learning'))
  parser.add_argument('--figure', default=None,
                      help='default: benchmarks/results/sfp_learning_<pointmass|metaworld>.png')
  args = parser.parse_args()
  families = {'pointmass' if TASKS[task] == 'room' else 'metaworld' for task in args.tasks}
  family = families.pop() if len(families) == 1 else 'mixed'
  if args.figure is None:
    args.figure = os.path.join(common.REPO, 'benchmarks', 'results', f'sfp_learning_{family}.png')

  priors = {name: prepare_prior(args.out_dir, name, args.prior_epochs, args.prior_episodes)
            for name in sorted({TASKS[task] for task in args.tasks})}
  for prior in priors.values():
    print(f"prior {prior['name']}: {prior['epochs']} epochs ({prior['gradient_steps']:,} steps) "
          f"in {prior['wall_s'] / 60:.1f} min, best held-out NLL "
          f"{prior['best_validation_nll']:.3f} nats per action", flush=True)
  jobs = [(task, agent, seed) for task in args.tasks for seed in args.seeds
          for agent in args.agents]
  results = []
  with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
    futures = [pool.submit(run_one, args.out_dir, priors[TASKS[job[0]]]['dir'], *job, args)
               for job in jobs]
    for future in concurrent.futures.as_completed(futures):
      results.append(future.result())
      run = results[-1]
      print(f"{run['task']} {run['agent']} seed {run['seed']}: eval success "
            f"{run['eval_success'][-1]:.2f}, {run['steps_per_second']:.0f} steps/s", flush=True)
  with open(os.path.join(args.out_dir, f'results_{family}.json'), 'w') as file:
    json.dump({'priors': priors, 'runs': results}, file)

  print(f'\n{datetime.date.today()}, {common.machine_description()}; {args.budget:,} training '
        f'steps per run, medians over seeds {args.seeds} (range in brackets)\n')
  print('| task | agent | final eval success rate | train success rate, last quarter | '
        'lambda (last iteration) | training steps/s |')
  print('|---|---|---|---|---|---|')
  for task in args.tasks:
    for agent in args.agents:
      runs = [run for run in results if run['task'] == task and run['agent'] == agent]
      quarter = max(1, len(runs[0]['train_success']) // 4)
      lambdas = [run['lambda'] for run in runs if run['lambda'] is not None]
      print(f"| {task} | {agent} | {describe([run['eval_success'][-1] for run in runs])} | "
            f"{describe([float(np.mean(run['train_success'][-quarter:])) for run in runs])} | "
            f"{describe(lambdas) if lambdas else '-'} | "
            f"{statistics.median(run['steps_per_second'] for run in runs):.0f} |")
  if set(args.agents) == set(AGENTS):
    ratios = [statistics.median(run['steps_per_second'] for run in results
                                if run['agent'] == 'sfp' and run['task'] == task)
              / statistics.median(run['steps_per_second'] for run in results
                                  if run['agent'] == 'sac' and run['task'] == task)
              for task in args.tasks]
    print(f"\nSFP's training steps/s over SAC's: "
          + ', '.join(f'{task} {ratio:.2f}' for task, ratio in zip(args.tasks, ratios)))

  figure, axes = plt.subplots(2, len(args.tasks), figsize=(5.5 * len(args.tasks), 7),
                              squeeze=False)
  for column, task in enumerate(args.tasks):
    for row, (key, name) in enumerate((('eval_success', 'evaluation'),
                                       ('train_success', 'training'))):
      axis = axes[row][column]
      for agent in args.agents:
        runs = [run for run in results if run['task'] == task and run['agent'] == agent]
        common.plot_median_band(axis, runs[0]['steps'], [run[key] for run in runs],
                                COLOURS[agent], agent)
      axis.set_xlabel('training steps')
      axis.set_ylabel(f'{name} success rate')
      axis.set_ylim(-0.05, 1.05)
      axis.set_title(f'{task}: median of {len(args.seeds)} seeds, IQR shaded')
      axis.legend()
  figure.tight_layout()
  os.makedirs(os.path.dirname(args.figure), exist_ok=True)
  figure.savefig(args.figure, dpi=100)
  print(f'\nfigure: {args.figure}; runs: {args.out_dir}')


if __name__ == '__main__':
  main()
