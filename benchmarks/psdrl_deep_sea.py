"""Deep exploration on DeepSea: PSDRL against DQN and Rainbow, episodes until the treasure.

    .venv/bin/python benchmarks/psdrl_deep_sea.py --sizes 10 20 30 --seeds 0 1 2 3 4 --parallel 2

Each run is `runner.train` (training only) with gin_configs/{psdrl,dqn,rainbow}/deep_sea.gin on
DeepSea of size N (vector observations, bsuite's action mapping of seed 42, deterministic): the
one rewarding episode is N 'right' moves in a row, which a policy that picks its moves at random
finds with probability 2^-N per episode. What each run's per-episode returns say (TensorBoard's
`episodes` run, `train/episode_return`; a return above 0.5 found the treasure): the episode that
first found it (censored at the budget when none did) and how many episodes found it; and from
its metrics.jsonl (runner/coverage.py) the distinct positions visited, of the N (N + 1) / 2 cells
an agent can reach and the N positions below the grid where episodes end.

Printed: a Markdown table per size and agent: the median first episode over seeds (range in
brackets), the runs that found the treasure within the budget, the median number of episodes
that found it, the distinct positions visited. Drawn: benchmarks/results/psdrl_deep_sea.png, per
size the fraction of seeds that have found the treasure against episodes, the median cumulative
number of rewarding episodes and the distinct positions visited.

Every finished run's summary is kept in its directory (summary.json) under
benchmarks/out/psdrl_deep_sea/; a rerun reuses it unless --force (and refuses one of another
budget), so sizes and agents can be added run by run, and --report_only draws the finished runs
whatever their budgets. --variant names a set of extra --psdrl_bindings (kept apart, in
out_dir/<variant>/), to compare PSDRL's settings on the same footing.
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

AGENTS = ('psdrl', 'dqn', 'rainbow')
COLOURS = {'psdrl': 'tab:red', 'rainbow': 'tab:blue', 'dqn': 'tab:green'}
# Episodes per size by default: at N = 10 a uniformly random policy finds the treasure within
# 1,000 episodes with probability 0.62; at N = 20 within 2,000 with probability 0.002.
DEFAULT_EPISODES = {10: 1000, 20: 2000, 30: 3000}
ITERATION_EPISODES = 100
TREASURE_RETURN = 0.5  # any episode that found it returns 1 minus its costs (at least 0.99)
SUMMARY_FILE = 'summary.json'


def reachable_positions(size: int) -> int:
  """The cells with column <= row, and the N positions below the grid an episode ends in."""
  return size * (size + 1) // 2 + size


def with_positions(summary: dict, base_dir: str) -> dict:
  """The summary and the distinct positions visited by the end of each iteration (of
  ITERATION_EPISODES episodes), from the run's metrics.jsonl (runner/coverage.py)."""
  summary['positions_visited'] = [record['train/positions_visited_total']
                                  for record in metrics.read_metrics(base_dir)]
  return summary


def run_directory(out_dir: str, variant: str, size: int, agent: str, seed: int) -> str:
  """Where a run lives: PSDRL's runs of a --variant apart from the others."""
  variant_dir = variant if agent == 'psdrl' else ''
  return os.path.join(out_dir, variant_dir, f'size{size}', f'{agent}_seed{seed}')


def load_summary(base_dir: str) -> dict:
  with open(os.path.join(base_dir, SUMMARY_FILE)) as file:
    return with_positions(json.load(file), base_dir)


def run_one(base_dir: str, size: int, agent: str, seed: int, episodes: int,
            psdrl_bindings, force: bool) -> dict:
  summary_path = os.path.join(base_dir, SUMMARY_FILE)
  if not force and os.path.exists(summary_path):
    summary = load_summary(base_dir)
    if summary['episodes'] != episodes:
      raise ValueError(f'{base_dir} ran {summary["episodes"]} episodes, not {episodes}: rerun it '
                       'with --force, or draw what is there with --report_only')
    return summary
  shutil.rmtree(base_dir, ignore_errors=True)
  bindings = [f'create_deep_sea_environment.size = {size}',
              "create_runner.schedule = 'continuous_train'", f'Runner.seed = {seed}',
              f'Runner.training_steps = {ITERATION_EPISODES * size}',
              f'Runner.num_iterations = {episodes // ITERATION_EPISODES}']
  if agent == 'psdrl':
    # PSDRL learns from whole episodes, its sequences one episode long, and draws a new model
    # after each (updates at multiples of N stored steps fall on episode ends).
    bindings += [f'PSDRLAgent.sequence_length = {size}', f'PSDRLAgent.update_period = {size}',
                 f'PSDRLAgent.late_update_period = {size}', *psdrl_bindings]
  timing = common.run_train(base_dir, [f'gin_configs/{agent}/deep_sea.gin'], bindings)
  events = common.scalars(os.path.join(base_dir, metrics.EPISODES_SUBDIR),
                          'train/episode_return')
  found = [event.value > TREASURE_RETURN for event in events]
  summary = {'size': size, 'agent': agent, 'seed': seed, 'episodes': len(found),
             'first_episode': found.index(True) + 1 if any(found) else None,
             'treasure_episodes': np.cumsum(found).tolist(),
             'wall_s': timing['process_wall_s'],
             'bindings': list(psdrl_bindings) if agent == 'psdrl' else []}
  with open(summary_path, 'w') as file:
    json.dump(summary, file)
  return with_positions(summary, base_dir)


def stored_results(out_dir: str, variant: str, sizes, agents, seeds) -> list:
  """The summaries of the finished runs under out_dir (PSDRL's under out_dir/variant), whatever
  their budgets."""
  directories = [run_directory(out_dir, variant, size, agent, seed)
                 for size in sizes for agent in agents for seed in seeds]
  return [load_summary(base_dir) for base_dir in directories
          if os.path.exists(os.path.join(base_dir, SUMMARY_FILE))]


def table(results, sizes, agents) -> None:
  print('| N | agent | first episode with the treasure | runs that found it | '
        'episodes with the treasure | distinct positions visited (reachable) | minutes per run |')
  print('|---|---|---|---|---|---|---|')
  for size in sizes:
    for agent in agents:
      runs = [run for run in results if run['size'] == size and run['agent'] == agent]
      if not runs:
        continue
      # Censored at the budget: a run that never found it counts as finding it at the end.
      first = [run['first_episode'] or run['episodes'] for run in runs]
      solved = sum(run['first_episode'] is not None for run in runs)
      censored = '' if solved == len(runs) else ' (censored)'
      hits = [run['treasure_episodes'][-1] for run in runs]
      minutes = statistics.median(run['wall_s'] for run in runs) / 60
      positions = [run['positions_visited'][-1] for run in runs]
      print(f'| {size} | {agent} | {statistics.median(first):,.0f}{censored} '
            f'[{min(first):,}-{max(first):,}] | {solved}/{len(runs)} within '
            f'{runs[0]["episodes"]:,} | {statistics.median(hits):,.0f} '
            f'[{min(hits):,}-{max(hits):,}] | {statistics.median(positions):.0f} '
            f'[{min(positions):.0f}-{max(positions):.0f}] ({reachable_positions(size)}) | '
            f'{minutes:.1f} |')


def figure(results, sizes, agents, path: str) -> None:
  fig, axes = plt.subplots(3, len(sizes), figsize=(5 * len(sizes), 10), squeeze=False)
  for column, size in enumerate(sizes):
    for agent in agents:
      runs = [run for run in results if run['size'] == size and run['agent'] == agent]
      if not runs:
        continue
      episodes = np.arange(1, min(run['episodes'] for run in runs) + 1)
      solved = np.mean([[run['first_episode'] is not None and run['first_episode'] <= episode
                         for episode in episodes] for run in runs], axis=0)
      axes[0, column].step(episodes, solved, where='post', color=COLOURS[agent],
                           label=f'{agent} ({len(runs)} seeds)')
      cumulative = [run['treasure_episodes'][:len(episodes)] for run in runs]
      common.plot_median_band(axes[1, column], episodes, cumulative, COLOURS[agent], agent)
      iterations = min(len(run['positions_visited']) for run in runs)
      common.plot_median_band(axes[2, column],
                              ITERATION_EPISODES * np.arange(1, iterations + 1),
                              [run['positions_visited'][:iterations] for run in runs],
                              COLOURS[agent], agent)
    random_policy = 1 - (1 - 2.0 ** -size) ** np.arange(1, axes[0, column].get_xlim()[1])
    axes[0, column].plot(np.arange(1, len(random_policy) + 1), random_policy, color='grey',
                         linestyle='--', label='uniformly random moves')
    axes[0, column].set_title(f'DeepSea N = {size}')
    axes[0, column].set_ylabel('fraction of seeds that found the treasure')
    axes[0, column].set_ylim(-0.02, 1.02)
    axes[0, column].legend()
    axes[1, column].set_ylabel('episodes with the treasure (median, IQR)')
    axes[1, column].legend()
    axes[2, column].axhline(reachable_positions(size), color='grey', linestyle='--',
                            label='reachable')
    axes[2, column].set_xlabel('episodes')
    axes[2, column].set_ylabel('distinct positions visited (median, IQR)')
    axes[2, column].legend()
  fig.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=100)
  print(f'\nfigure: {path}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=[10, 20, 30])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
  parser.add_argument('--agents', nargs='+', default=list(AGENTS), choices=list(AGENTS))
  parser.add_argument('--episodes', type=int, default=None,
                      help='episodes per run (a multiple of 100); default by size: '
                      f'{DEFAULT_EPISODES}')
  parser.add_argument('--psdrl_bindings', nargs='*', default=[],
                      help="extra gin bindings for PSDRL's runs (name them with --variant)")
  parser.add_argument('--variant', default='',
                      help="a name for --psdrl_bindings' runs: kept in out_dir/<variant>")
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--force', action='store_true', help='rerun runs that have a summary')
  parser.add_argument('--report_only', action='store_true',
                      help='run nothing: the table and figure of the finished runs as they are')
  parser.add_argument('--out_dir', default=os.path.join(common.REPO, 'benchmarks', 'out',
                                                        'psdrl_deep_sea'))
  parser.add_argument('--figure', default=os.path.join(common.REPO, 'benchmarks', 'results',
                                                       'psdrl_deep_sea.png'))
  args = parser.parse_args()
  if args.psdrl_bindings and not args.variant:
    parser.error('--psdrl_bindings needs a --variant to keep its runs apart')
  episodes_for = lambda size: args.episodes or DEFAULT_EPISODES.get(size, 100 * size)
  if any(episodes_for(size) % ITERATION_EPISODES for size in args.sizes):
    parser.error(f'--episodes must be a multiple of {ITERATION_EPISODES}')

  if args.report_only:
    results = stored_results(args.out_dir, args.variant, args.sizes, args.agents, args.seeds)
  else:
    jobs = [(run_directory(args.out_dir, args.variant, size, agent, seed), size, agent, seed,
             episodes_for(size), args.psdrl_bindings, args.force)
            for size in args.sizes for seed in args.seeds for agent in args.agents]
    # The largest runs first, so the pool's last minutes are not one long run alone.
    jobs.sort(key=lambda job: -job[1] * job[4] * (10 if job[2] == 'psdrl' else 1))
    results = []
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
      for future in concurrent.futures.as_completed([pool.submit(run_one, *job)
                                                     for job in jobs]):
        run = future.result()
        results.append(run)
        print(f'N={run["size"]} {run["agent"]} seed {run["seed"]}: first treasure at episode '
              f'{run["first_episode"]}, {run["treasure_episodes"][-1]} of {run["episodes"]} '
              f'episodes ({run["wall_s"] / 60:.1f} min)', flush=True)
  variant = f'; PSDRL variant {args.variant}' if args.variant else ''
  print(f'\n{datetime.date.today()}, {common.machine_description()}; medians over seeds '
        f'{args.seeds} (range in brackets){variant}\n')
  table(results, args.sizes, args.agents)
  figure(results, args.sizes, args.agents, args.figure)
  os.makedirs(args.out_dir, exist_ok=True)
  with open(os.path.join(args.out_dir, f'results{"_" + args.variant if args.variant else ""}'
                         '.json'), 'w') as file:
    json.dump(results, file)


if __name__ == '__main__':
  main()
