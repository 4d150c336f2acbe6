"""SAC learning within a CPU budget: Pendulum-v1 (gin_configs/sac/pendulum.gin, several seeds,
target: a median evaluation return of at least -200 within 20k environment steps) and
HalfCheetah-v5 (gin_configs/sac/mujoco.gin, Dopamine's protocol cut to 100k steps: return and wall
time recorded).

    .venv/bin/python benchmarks/sac_learning.py --task pendulum --seeds 0 1 2 --parallel 2
    .venv/bin/python benchmarks/sac_learning.py --task halfcheetah --seeds 0 --iterations 100

Each run is `runner.train` with 1,000-step training iterations and an evaluation phase after each
(deterministic policy, `--eval_steps` agent steps); the curve is the evaluation average return per
iteration (seeds as thin lines, their median thick), drawn to
benchmarks/results/sac_<task>_learning.png. Runs are kept under benchmarks/out/ for TensorBoard.
"""

import argparse
import concurrent.futures
import datetime
import os
import statistics
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from runner import metrics  # noqa: E402

TASKS = {
    # task: (gin file, default iterations, default evaluation steps, target return or None)
    'pendulum': ('gin_configs/sac/pendulum.gin', 20, 1000, -200.0),
    'halfcheetah': ('gin_configs/sac/mujoco.gin', 100, 1000, None),
}
STEPS_PER_ITERATION = 1000


def run(task: str, seed: int, args) -> dict:
  gin_file = TASKS[task][0]
  base_dir = os.path.join(args.out, f'{task}_seed{seed}')
  result = common.run_train(base_dir, [gin_file], [
      f'Runner.seed={seed}', f'Runner.num_iterations={args.iterations}',
      f'Runner.training_steps={STEPS_PER_ITERATION}', f'Runner.evaluation_steps={args.eval_steps}'])
  records = metrics.read_metrics(base_dir)
  result['eval_returns'] = [record['eval/average_return'] for record in records]
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--task', choices=sorted(TASKS), default='pendulum')
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
  parser.add_argument('--iterations', type=int, default=None)
  parser.add_argument('--eval_steps', type=int, default=None)
  parser.add_argument('--parallel', type=int, default=1)
  parser.add_argument('--out', default=os.path.join(common.REPO, 'benchmarks', 'out', 'sac'))
  args = parser.parse_args()
  gin_file, default_iterations, default_eval_steps, target = TASKS[args.task]
  args.iterations = args.iterations or default_iterations
  args.eval_steps = args.eval_steps or default_eval_steps

  with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
    runs = list(pool.map(lambda seed: run(args.task, seed, args), args.seeds))
  curves = np.array([r['eval_returns'] for r in runs])
  steps = np.arange(1, curves.shape[1] + 1) * STEPS_PER_ITERATION
  median_curve = np.median(curves, axis=0)

  print(f'\nSAC {args.task} ({gin_file}), {args.iterations} x {STEPS_PER_ITERATION} training '
        f'steps, {args.eval_steps} evaluation steps per iteration, seeds {args.seeds}, '
        f'{datetime.date.today()}, {common.machine_description()}'
        f'{", runs in parallel: " + str(args.parallel) if args.parallel > 1 else ""}\n')
  print('| seed | final eval return | best eval return | training steps/s (run) | '
        'process wall (s) |')
  print('|---|---|---|---|---|')
  for seed, result, curve in zip(args.seeds, runs, curves):
    print(f'| {seed} | {curve[-1]:.1f} | {curve.max():.1f} | {result["run_steps_per_s"]:.0f} | '
          f'{result["process_wall_s"]:.0f} |')
  print(f'| median | {np.median(curves[:, -1]):.1f} | {np.median(curves.max(axis=1)):.1f} | '
        f'{statistics.median(r["run_steps_per_s"] for r in runs):.0f} | '
        f'{statistics.median(r["process_wall_s"] for r in runs):.0f} |')
  if target is not None:
    reached = np.flatnonzero(median_curve >= target)
    print(f'\nmedian over seeds first at or above {target:g}: '
          + (f'after {steps[reached[0]]} training steps' if reached.size else 'never'))
  print('median curve:', ', '.join(f'{value:.0f}' for value in median_curve))

  plot = os.path.join(common.REPO, 'benchmarks', 'results', f'sac_{args.task}_learning.png')
  figure, axis = plt.subplots(figsize=(7, 4))
  for curve in curves:
    axis.plot(steps, curve, color='tab:blue', alpha=0.3, linewidth=1)
  axis.plot(steps, median_curve, color='tab:blue', linewidth=2,
            label=f'SAC, median of {len(args.seeds)} seeds')
  if target is not None:
    axis.axhline(target, color='gray', linestyle='--', linewidth=1, label=f'target {target:g}')
  common.save_learning_plot(figure, axis, f'SAC on {args.task}: {gin_file}', plot, args.out)


if __name__ == '__main__':
  main()
