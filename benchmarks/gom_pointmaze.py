"""GOM against goal-conditioned BC on the PointMaze mazes' goals, zero-shot, through the zoo's own
commands (issue 20, point 5).

    .venv/bin/python benchmarks/gom_pointmaze.py --mazes umaze --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/gom_pointmaze.py --mazes medium large --seeds 0

Needs the datasets of gin_configs/datasets/pointmaze_<maze>.gin in datasets/. Per maze and seed:

  - GOM: `runner.train` with gin_configs/gom/pointmaze_umaze_small.gin (`--size reference`:
    pointmaze_umaze.gin) on the maze's data
    (`--gom_steps` gradient steps, the cosine decay ending there), then for each goal one
    `runner.train` of gin_configs/gom/eval_pointmaze_<maze>.gin with `GOAL_CELL` bound: the agent
    relabels the data with that goal's reward, fits its weights and plans (`--planner`; a run with
    the other planner reuses the trained GOM and GCBC and adds its rows); no retraining;
  - GCBC: `runner.train` with gin_configs/bc/pointmaze_<maze>.gin on the same data, then
    gin_configs/bc/eval_pointmaze_<maze>.gin on the same environment as GOM's evaluation (the goal
    cell and start fixed, the reward exp(-distance / 20), the episode running to the time limit).

Goals: the maze's default (D4RL's maze2d goal) and three others (GOALS). Per method, maze and
seed: the success rate and return averaged over the goals, default and held-out apart. Writes
results.json, success.png (medians and seeds) and trajectories_<maze>.png (every goal, the first
seed) under --out, and prints a table; --plot_only redraws them from results.json.
"""

import argparse
import datetime
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402

# (row, column) cells: the default goal first (eval_pointmaze_<maze>.gin's GOAL_CELL).
GOALS = {'umaze': [(1, 1), (1, 3), (3, 3), (2, 3)],
         'medium': [(6, 6), (1, 6), (4, 1), (6, 1)],
         'large': [(7, 9), (1, 10), (7, 1), (5, 4)]}
# The start cell of each maze's evaluation (eval_pointmaze_<maze>.gin's RESET_CELL).
GOALS_START = {'umaze': (3, 1), 'medium': (1, 1), 'large': (1, 1)}
TIME_LIMITS = {'umaze': 300, 'medium': 600, 'large': 800}


def _train(base_dir, gin_files, bindings):
  command = [sys.executable, '-um', 'runner.train', '--base_dir', base_dir]
  command += sum((['--gin_files', path] for path in gin_files), [])
  command += sum((['--gin_bindings', binding] for binding in ['Runner.progress_bar=False']
                  + list(bindings)), [])
  result = common.run_measured(command)
  if result['returncode'] != 0:
    raise RuntimeError(f'{base_dir} failed:\n{result["stderr"][-3000:]}')
  with open(os.path.join(base_dir, 'metrics.jsonl')) as file:
    return json.loads(file.readlines()[-1]), result['process_wall_s']


def _same_environment(maze, goal):
  """GOM's evaluation environment, for GCBC's config."""
  return [f'create_point_maze_environment.goal_cell = {goal}',
          f"create_point_maze_environment.reset_cell = {GOALS_START[maze]}",
          "create_point_maze_environment.reward_type = 'dense'",
          'create_point_maze_environment.distance_scale = 20.0',
          'create_point_maze_environment.continuing_task = True',
          'create_point_maze_environment.reset_target = False']


def run_one(maze, seed, args):
  root = os.path.join(args.out, f'{maze}_seed{seed}')
  data = [f"load_dataset.path = 'datasets/pointmaze_{maze}'", f'Runner.seed = {seed}']
  gom_dir, bc_dir = os.path.join(root, 'gom'), os.path.join(root, 'gcbc')
  rows = []
  gom_config = ('gin_configs/gom/pointmaze_umaze.gin' if args.size == 'reference'
                else 'gin_configs/gom/pointmaze_umaze_small.gin')
  gom_final, gom_seconds = _train(gom_dir, [gom_config], data + [
      'Runner.num_iterations = 1', f'OfflineRunner.training_steps = {args.gom_steps}',
      f'GOMLearner.decay_steps = {args.gom_steps}'])
  bc_final, bc_seconds = _train(bc_dir, [f'gin_configs/bc/pointmaze_{maze}.gin'], data)
  steps = args.episodes * TIME_LIMITS[maze]
  for index, goal in enumerate(GOALS[maze]):
    common_bindings = [f'Runner.seed = {seed}', f'Runner.evaluation_steps = {steps}']
    record, _ = _train(os.path.join(root, f'gom_{args.planner}_goal{index}'),
                       [f'gin_configs/gom/eval_pointmaze_{maze}.gin'], common_bindings + [
                           f"load_component.base_dir = '{gom_dir}'", f'GOAL_CELL = {goal}',
                           f"load_dataset.path = 'datasets/pointmaze_{maze}'",
                           f"GOMAgent.planner = '{args.planner}'",
                           f'GOMAgent.num_samples = {args.num_samples}'])
    rows.append(dict(method=gom_label(args.planner), maze=maze, seed=seed, goal=list(goal),
                     default=index == 0,
                     success=record['eval/success_rate'], ret=record['eval/average_return'],
                     reward_fit_r2=record['agent/reward_fit_r2'],
                     train_s=gom_seconds, constant_cumulant_error=gom_final.get(
                         'eval/constant_cumulant_error')))
    record, _ = _train(os.path.join(root, f'gcbc_goal{index}'),
                       [f'gin_configs/bc/eval_pointmaze_{maze}.gin'], common_bindings + [
                           f"load_component.base_dir = '{bc_dir}'"]
                       + _same_environment(maze, goal))
    rows.append(dict(method='GCBC', maze=maze, seed=seed, goal=list(goal), default=index == 0,
                     success=record['eval/success_rate'], ret=record['eval/average_return'],
                     train_s=bc_seconds, validation_nll=bc_final.get('eval/validation_nll')))
  return rows


def gom_label(planner):
  return f'GOM, {planner.replace("_", " ")}'


def summarise(rows):
  """{(method, maze, 'default' | 'held-out'): per seed mean success and return over the goals}."""
  table = {}
  for row in rows:
    kind = 'default' if row['default'] else 'held-out'
    table.setdefault((row['method'], row['maze'], kind), {}).setdefault(row['seed'], []).append(
        (row['success'], row['ret']))
  return {key: {seed: tuple(np.mean(values, axis=0)) for seed, values in seeds.items()}
          for key, seeds in table.items()}


def plot(summary, mazes, path):
  """Success rate and return per maze, default and held-out goals: medians as bars, seeds as
  dots."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  figure = Figure(figsize=(7.0, 5.6), dpi=100)
  FigureCanvasAgg(figure)
  axes = figure.subplots(2, 2, sharey='row')
  for column, kind in enumerate(('default', 'held-out')):
    for row, (measure, label) in enumerate(((0, 'success rate'), (1, 'return'))):
      axis = axes[row, column]
      methods = sorted({key[0] for key in summary})
      width = 0.8 / len(methods)
      for offset, method in enumerate(methods):
        colour = f'C{offset}'
        for index, maze in enumerate(mazes):
          values = [value[measure] for value in summary.get((method, maze, kind), {}).values()]
          if not values:
            continue
          x = index + (offset - (len(methods) - 1) / 2) * width
          axis.bar(x, np.median(values), width * 0.95, color=colour, alpha=0.6,
                   label=method if index == 0 else None)
          axis.scatter(np.full(len(values), x), values, color=colour, s=10, zorder=3)
      axis.set_xticks(range(len(mazes)))
      axis.set_xticklabels(mazes)
      if row == 0:
        axis.set_title(f'{kind} goal' + ('s' if kind == 'held-out' else ''), fontsize=10)
      if column == 0:
        axis.set_ylabel(f'{label} (median, seeds as dots)', fontsize=8)
  axes[0, 0].set_ylim(0, 1.05)
  axes[0, 0].legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path)


def stitch_trajectories(out, maze, seed, planner):
  """The trajectory figures of every goal of one maze and seed, side by side."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  from matplotlib.image import imread  # pylint: disable=import-outside-toplevel
  paths = [os.path.join(out, f'{maze}_seed{seed}', f'gom_{planner}_goal{index}',
                        'trajectories.png') for index in range(len(GOALS[maze]))]
  images = [imread(path) for path in paths if os.path.exists(path)]
  if not images:
    return
  figure = Figure(figsize=(3.2 * len(images), 3.4), dpi=100)
  FigureCanvasAgg(figure)
  for axis, image, goal in zip(figure.subplots(1, len(images), squeeze=False)[0], images,
                               GOALS[maze]):
    axis.imshow(image)
    axis.set_axis_off()
    axis.set_title(f'goal cell {goal}', fontsize=9)
  figure.tight_layout()
  figure.savefig(os.path.join(out, f'trajectories_{maze}_{planner}.png'))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--mazes', nargs='+', default=['umaze'], choices=sorted(GOALS))
  parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2, 3, 4])
  parser.add_argument('--gom_steps', type=int, default=5000)
  parser.add_argument('--size', default='small', choices=['small', 'reference'],
                      help="GOM's networks and batch: pointmaze_umaze_small.gin's or the "
                      "reference's (pointmaze_umaze.gin, a GPU's run)")
  parser.add_argument('--episodes', type=int, default=5, help='evaluation episodes per goal')
  parser.add_argument('--planner', default='guided_diffusion',
                      choices=['guided_diffusion', 'random_shooting'])
  parser.add_argument('--num_samples', type=int, default=1000,
                      help="random shooting's sampled outcomes per step")
  parser.add_argument('--out', default=os.path.join(common.REPO, 'benchmarks', 'out', 'gom'))
  parser.add_argument('--plot_only', action='store_true',
                      help='redraw the figures and the table from results.json, running nothing')
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  results_path = os.path.join(args.out, 'results.json')
  rows = []
  if os.path.exists(results_path):  # seeds already run are kept; a rerun adds to them
    with open(results_path) as file:
      rows = json.load(file)['rows']
    for row in rows:  # the first runs, guided diffusion only, labelled GOM
      row['method'] = gom_label('guided_diffusion') if row['method'] == 'GOM' else row['method']
  for maze in [] if args.plot_only else args.mazes:
    for seed in args.seeds:
      # This seed's rows of GCBC and of this planner are replaced; the other planner's kept.
      rows = [row for row in rows if (row['maze'], row['seed']) != (maze, seed)
              or row['method'] not in ('GCBC', gom_label(args.planner))]
      rows += run_one(maze, seed, args)
      with open(results_path, 'w') as file:
        json.dump({'machine': common.machine_description(),
                   'date': datetime.date.today().isoformat(), 'gom_steps': args.gom_steps,
                   'rows': rows}, file, indent=1)
  summary = summarise(rows)
  mazes = [maze for maze in GOALS if any(row['maze'] == maze for row in rows)]
  for maze in mazes:
    for planner in ('guided_diffusion', 'random_shooting'):
      stitch_trajectories(args.out, maze, min(row['seed'] for row in rows if row['maze'] == maze),
                          planner)
  plot(summary, mazes, os.path.join(args.out, 'success.png'))
  print(f'\n{common.machine_description()}, {datetime.date.today()}, GOM {args.gom_steps} '
        'steps\n')
  print('| method | maze | goals | success (median [min, max]) | return (median) | seeds |')
  print('|---|---|---|---|---|---|')
  for (method, maze, kind), seeds in sorted(summary.items(), key=lambda item: (
      item[0][1], item[0][2], item[0][0])):
    successes = [value[0] for value in seeds.values()]
    returns = [value[1] for value in seeds.values()]
    print(f'| {method} | {maze} | {kind} | {np.median(successes):.2f} [{min(successes):.2f}, '
          f'{max(successes):.2f}] | {np.median(returns):.1f} | {len(seeds)} |')


if __name__ == '__main__':
  main()
