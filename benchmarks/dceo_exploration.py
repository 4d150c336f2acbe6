"""Exploration with a sparse, distant reward: DCEO against Rainbow and DQN on the same step budget.

    .venv/bin/python benchmarks/dceo_exploration.py --seeds 0 1 2 3 4 --parallel 2

Each run is `runner.train` with gin_configs/{dceo,rainbow,dqn}/gridworld.gin (one-hot
observations, the same epsilon schedule, replay, optimizer and MLP torsos; DCEO and Rainbow differ
by DCEO's representation and options alone), training only, on each layout of `LAYOUTS`: Sutton's
four rooms with the goal in the far corner from the start (20 moves), the zoo's 15 x 15 maze of
corridors (goal 48 moves from the start, 200-step episodes) and its nine rooms (goal 44 moves from
the start through seven rooms, 200-step episodes). What each run's metrics.jsonl says
(runner/coverage.py): the distinct cells visited so far, per iteration, and the training step of
the first reward (censored at the budget when none came).

Also read: how concentrated training's visits are, the share of all training steps spent in the 5
most visited cells (the run's last coverage checkpoint, runner/coverage.py): a policy that parks
the agent, or options that end where they always end, show as a high share.

Printed: a Markdown table of medians (and the range) over seeds per layout and agent, and one of
each agent against DQN seed by seed, with P(agent > DQN) (the probability that a run of the agent
covers more cells than a run of DQN, rliable's probability of improvement) and its 95% bootstrap
interval: the agent covers "clearly more" when the whole interval lies above 1/2; and the same for
the steps to the first reward, P(agent sooner than DQN), where a layout's cells saturate. Drawn:
benchmarks/results/dceo_exploration.png, the distinct cells visited against training steps
(median over seeds, interquartile band). Runs are kept under benchmarks/out/dceo_exploration/.
`--report_only` runs nothing and reports the finished runs (e.g. after rerunning one agent alone
with `--agents`); `--figure PATH` draws elsewhere (a report of some layouts only would otherwise
redraw the variant's figure with those alone). `--variant NAME --bindings ...` runs every agent
with extra gin bindings (the same for all, e.g. another epsilon schedule or observation type),
kept in benchmarks/out/dceo_exploration/NAME/ and drawn to
benchmarks/results/dceo_exploration_NAME.png;
`--dceo_gin FILE` runs DCEO from another gin file (e.g. gin_configs/dceo/gridworld_covering.gin)
and `--dceo_bindings ...` adds bindings for DCEO alone (e.g. an oracle representation: the exact
Laplacian eigenvectors, `DCEOAgent.representation_network = @ExactGridRepresentation`, or those of
the cells visited so far, `@VisitedGridRepresentation`).
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import shutil
import statistics
import sys
from typing import Optional

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from discrete_domains import gridworld  # noqa: E402
from runner import metrics  # noqa: E402
from runner.report import statistics as report_statistics  # noqa: E402

AGENTS = ('dceo', 'rainbow', 'dqn')
# name: (bindings on top of the agents' gin files, training steps)
LAYOUTS = {
    'four_rooms': ([], 20_000),
    'maze': (["LAYOUT = 'maze'", 'create_gridworld_environment.max_episode_steps = 200',
              'Runner.max_steps_per_episode = 200'], 40_000),
    'nine_rooms': (["LAYOUT = 'nine_rooms'", 'create_gridworld_environment.max_episode_steps = 200',
                    'Runner.max_steps_per_episode = 200'], 40_000),
}
MOST_VISITED = 5  # the visit concentration is the share of steps in this many cells
BASELINE = 'dqn'  # what "covers clearly more" is judged against
CONFIDENCE = 0.95
ITERATION_STEPS = 2000
DCEO_GIN = 'gin_configs/dceo/gridworld.gin'
COLOURS = {'dceo': 'tab:red', 'rainbow': 'tab:blue', 'dqn': 'tab:green'}


def visit_concentration(base_dir: str) -> float:
  """The share of the run's training steps spent in its MOST_VISITED most visited cells."""
  counts = np.sort(common.newest_coverage(base_dir)[1])[::-1]
  return float(counts[:MOST_VISITED].sum() / counts.sum())


def run_directory(out_dir: str, layout: str, agent: str, seed: int) -> str:
  return os.path.join(out_dir, layout, f'{agent}_seed{seed}')


def run_one(out_dir: str, layout: str, agent: str, seed: int, extra_bindings=(),
            steps: Optional[int] = None, dceo_bindings=(), dceo_gin: str = DCEO_GIN) -> dict:
  bindings, budget = LAYOUTS[layout]
  budget = steps or budget
  base_dir = run_directory(out_dir, layout, agent, seed)
  shutil.rmtree(base_dir, ignore_errors=True)
  agent_bindings = list(dceo_bindings) if agent == 'dceo' else []
  gin_file = dceo_gin if agent == 'dceo' else f'gin_configs/{agent}/gridworld.gin'
  common.run_train(base_dir, [gin_file], bindings + list(
      extra_bindings) + agent_bindings + [
      "create_runner.schedule = 'continuous_train'", f'Runner.seed = {seed}',
      f'Runner.training_steps = {ITERATION_STEPS}',
      f'Runner.num_iterations = {budget // ITERATION_STEPS}'])
  return read_run(out_dir, layout, agent, seed, budget)


def read_run(out_dir: str, layout: str, agent: str, seed: int, budget: Optional[int] = None
             ) -> dict:
  """What a finished run says: cells visited per iteration, the first reward, the concentration."""
  base_dir = run_directory(out_dir, layout, agent, seed)
  budget = budget or LAYOUTS[layout][1]
  records = metrics.read_metrics(base_dir)
  steps = np.cumsum([record['train/steps'] for record in records])
  if not len(steps) or steps[-1] < budget:
    raise SystemExit(f'{base_dir} has not run its {budget:,} steps: run it first (without '
                     '--report_only)')
  first_reward = next((record['train/first_reward_step'] for record in records
                       if 'train/first_reward_step' in record), None)
  return {'layout': layout, 'agent': agent, 'seed': seed, 'steps': steps.tolist(),
          'cells_visited': [record['train/positions_visited_total'] for record in records],
          'first_reward_step': first_reward, 'budget': int(steps[-1]),
          'visit_concentration': visit_concentration(base_dir)}


def summarise(results, layout, agent):
  runs = [run for run in results if run['layout'] == layout and run['agent'] == agent]
  cells = [run['cells_visited'][-1] for run in runs]
  # Censored at the budget: a run without a reward counts as reaching it at the end.
  first = [run['first_reward_step'] if run['first_reward_step'] is not None else run['budget']
           for run in runs]
  rewarded = sum(run['first_reward_step'] is not None for run in runs)
  concentration = [run['visit_concentration'] for run in runs]
  return cells, first, rewarded, len(runs), concentration


# What each agent is compared with DQN on: (a name, summarise's index of the per-run values, +1
# where more is better and -1 where fewer is, the verdict's words for above and below 1/2).
MEASURES = (
    ('distinct cells', 0, 1, ('clearly more', 'clearly less')),
    ('steps to the first reward (censored at the budget)', 1, -1, ('clearly sooner',
                                                                   'clearly later')),
)


def verdict(estimate, words) -> str:
  """words[0] when P(X better than the baseline)'s whole interval lies above 1/2, words[1] when
  below, else 'not clearly different'."""
  if estimate.low > 0.5:
    return words[0]
  return words[1] if estimate.high < 0.5 else 'not clearly different'


def estimate_cells(estimate, words) -> str:
  """A Markdown row's last two cells: P(X better than the baseline) with its interval, and
  `verdict`."""
  return (f'{estimate.value:.2f} [{estimate.low:.2f}-{estimate.high:.2f}] | '
          f'{verdict(estimate, words)} |')


def against_baseline(agent_values, baseline_values, sign: int, words) -> str:
  """A Markdown row's cells comparing an agent's runs with the baseline's, run by run: the seeds
  where it does better, as well and worse (the same seed on both sides; better is more for `sign`
  +1, fewer for -1), and P(agent better than baseline), the probability that a run of the agent
  does better than a run of the baseline (ties 1/2), with its bootstrap interval and `verdict`."""
  differences = sign * (np.asarray(agent_values) - np.asarray(baseline_values))
  estimate = report_statistics.probability_of_improvement_estimate(
      [sign * np.asarray(agent_values, float)], [sign * np.asarray(baseline_values, float)],
      CONFIDENCE)
  values = ', '.join(f'{value:,.0f}' for value in agent_values)
  return (f'{values} | {np.sum(differences > 0)} / {np.sum(differences == 0)} / '
          f'{np.sum(differences < 0)} of {len(differences)} | ' + estimate_cells(estimate, words))


def print_comparisons(results, layouts, agents, seeds) -> None:
  """Each agent against the baseline on each layout and measure of MEASURES (see
  `against_baseline`) and, over several layouts, P(agent better than baseline) averaged over them
  (stratified bootstrap, layouts as tasks)."""
  if BASELINE not in agents or len(agents) < 2:
    return
  summaries = {(layout, agent): summarise(results, layout, agent)
               for layout in layouts for agent in agents}
  for measure, index, sign, words in MEASURES:
    better = 'X > ' if sign > 0 else 'X sooner than '
    print(f'\n{measure.capitalize()}, against {BASELINE} seed by seed (seeds {seeds}); '
          f'P({better}{BASELINE}) with its {CONFIDENCE:.0%} bootstrap interval '
          '(runner/report/statistics.py):\n')
    print(f'| layout | agent | {measure}, seed by seed | seeds better / as good / worse than '
          f'{BASELINE} | P({better}{BASELINE}) | verdict |')
    print('|---|---|---|---|---|---|')
    values = {key: np.asarray(summary[index], float) for key, summary in summaries.items()}
    for layout in layouts:
      print(f'| {layout} | {BASELINE} | '
            f'{", ".join(f"{value:,.0f}" for value in values[layout, BASELINE])} | | | |')
      for agent in agents:
        if agent != BASELINE:
          print(f'| {layout} | {agent} | ' + against_baseline(
              values[layout, agent], values[layout, BASELINE], sign, words))
    if len(layouts) > 1:
      for agent in agents:
        if agent != BASELINE:
          estimate = report_statistics.probability_of_improvement_estimate(
              [sign * values[layout, agent] for layout in layouts],
              [sign * values[layout, BASELINE] for layout in layouts], CONFIDENCE)
          print(f'| all {len(layouts)} layouts | {agent} | | | ' + estimate_cells(estimate, words))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
  parser.add_argument('--layouts', nargs='+', default=list(LAYOUTS), choices=list(LAYOUTS))
  parser.add_argument('--agents', nargs='+', default=list(AGENTS), choices=list(AGENTS))
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--bindings', nargs='+', default=[],
                      help='extra gin bindings for every agent (name them with --variant)')
  parser.add_argument('--dceo_bindings', nargs='+', default=[],
                      help='extra gin bindings for DCEO alone, e.g. the exact Laplacian as its '
                           'representation (name them with --variant)')
  parser.add_argument('--dceo_gin', default=DCEO_GIN,
                      help="DCEO's gin file (name its runs with --variant)")
  parser.add_argument('--variant', default='',
                      help="a name for --bindings' runs: kept in out_dir/<variant>, drawn to "
                           'results/dceo_exploration_<variant>.png')
  parser.add_argument('--out_dir', default=os.path.join(common.REPO, 'benchmarks', 'out',
                                                        'dceo_exploration'))
  parser.add_argument('--steps', type=int, default=None,
                      help="training steps per run for every layout, instead of each layout's own")
  parser.add_argument('--report_only', action='store_true',
                      help='run nothing: report the finished runs of these layouts, agents, seeds')
  parser.add_argument('--figure', default=None,
                      help='draw to this PNG instead of results/dceo_exploration[_<variant>].png '
                           '(e.g. to keep the variant\'s figure of other layouts)')
  args = parser.parse_args()
  if (args.bindings or args.dceo_bindings or args.dceo_gin != DCEO_GIN) and not args.variant:
    parser.error('--bindings, --dceo_bindings and --dceo_gin need a --variant to keep their runs '
                 'apart')
  out_dir = os.path.join(args.out_dir, args.variant)
  figure_path = args.figure or os.path.join(
      common.REPO, 'benchmarks', 'results',
      'dceo_exploration' + (f'_{args.variant}' if args.variant else '') + '.png')

  jobs = [(layout, agent, seed) for layout in args.layouts for seed in args.seeds
          for agent in args.agents]
  if args.report_only:
    results = [read_run(out_dir, *job, args.steps) for job in jobs]
  else:
    results = []
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
      futures = {pool.submit(run_one, out_dir, *job, args.bindings, args.steps,
                             args.dceo_bindings, args.dceo_gin): job
                 for job in jobs}
      for future in concurrent.futures.as_completed(futures):
        results.append(future.result())
        run = results[-1]
        print(f'{run["layout"]} {run["agent"]} seed {run["seed"]}: '
              f'{run["cells_visited"][-1]:.0f} cells, first reward at {run["first_reward_step"]}',
              flush=True)
  with open(os.path.join(out_dir, 'results.json'), 'w') as file:
    json.dump(results, file)

  dceo_only = (f'; DCEO alone: {" ".join([args.dceo_gin] + args.dceo_bindings)}'
               if args.dceo_bindings or args.dceo_gin != DCEO_GIN else '')
  # A report of finished runs is not told their bindings; their config.gin files hold them.
  bindings = ("bindings as in each run's config.gin" if args.report_only
              else f'{" ".join(args.bindings)}{dceo_only}')
  variant = f'; variant {args.variant}: {bindings}' if args.variant else ''
  print(f'\n{datetime.date.today()}, {common.machine_description()}; medians over seeds '
        f'{args.seeds} (range in brackets){variant}\n')
  print('| layout (free cells) | agent | distinct cells visited | steps to the first reward | '
        f'runs rewarded | share of steps in the {MOST_VISITED} most visited cells |')
  print('|---|---|---|---|---|---|')
  for layout in args.layouts:
    cells_in_layout = len(gridworld.free_cells(layout))
    for agent in args.agents:
      cells, first, rewarded, total, concentration = summarise(results, layout, agent)
      print(f'| {layout} ({cells_in_layout}) | {agent} | {statistics.median(cells):.0f} '
            f'[{min(cells):.0f}-{max(cells):.0f}] | {statistics.median(first):,.0f} '
            f'[{min(first):,.0f}-{max(first):,.0f}] | {rewarded}/{total} | '
            f'{statistics.median(concentration):.2f} [{min(concentration):.2f}-'
            f'{max(concentration):.2f}] |')
  print_comparisons(results, args.layouts, args.agents, args.seeds)

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
  common.save_figure(figure, figure_path)
  print(f'\nfigure: {figure_path}; runs: {out_dir}')


if __name__ == '__main__':
  main()
