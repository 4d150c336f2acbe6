"""DQN on CartPole-v1 with gin_configs/dqn/cartpole.gin: environment steps until the average
training return over 10 consecutive episodes first reaches 475, per seed, and the median.

    .venv/bin/python benchmarks/dqn_cartpole_learning.py --seeds 0 1 2 --max_steps 100000

Runs the seeds two at a time (learning, not speed, is measured) and draws the learning curves
(training episode returns against environment steps, 10-episode moving average) to
benchmarks/results/dqn_cartpole_learning.png.
"""

import argparse
import concurrent.futures
import datetime
import math
import os
import statistics
import sys
import tempfile

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from runner import metrics  # noqa: E402

TARGET_RETURN = 475.0
WINDOW = 10


def steps_to_target(steps: np.ndarray, returns: np.ndarray):
  """First environment step at which the mean of the last WINDOW episode returns >= target."""
  for end in range(WINDOW, len(returns) + 1):
    if returns[end - WINDOW:end].mean() >= TARGET_RETURN:
      return int(steps[end - 1])
  return None


def run_seed(seed: int, max_steps: int, directory: str, bindings=()):
  base_dir = os.path.join(directory, f'seed{seed}')
  common.run_train(base_dir, ['gin_configs/dqn/cartpole.gin'], [
      f'Runner.seed={seed}', f'Runner.num_iterations={max_steps // 1000}',
      "create_runner.schedule='continuous_train'", *bindings])
  events = common.scalars(os.path.join(base_dir, metrics.EPISODES_SUBDIR), 'train/episode_return')
  return np.array([e.step for e in events]), np.array([e.value for e in events])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
  parser.add_argument('--max_steps', type=int, default=100000)
  parser.add_argument('--gin_bindings', nargs='*', default=[],
                      help='extra bindings, e.g. "DQNAgent.loss_type=\'mse\'"')
  parser.add_argument('--plot', default=os.path.join(common.REPO, 'benchmarks', 'results',
                                                     'dqn_cartpole_learning.png'))
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as directory, \
      concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    curves = dict(zip(args.seeds, pool.map(lambda s: run_seed(s, args.max_steps, directory, args.gin_bindings),
                                           args.seeds)))
  reached = {seed: steps_to_target(*curve) for seed, curve in curves.items()}

  os.makedirs(os.path.dirname(args.plot), exist_ok=True)
  figure, axis = plt.subplots(figsize=(7, 4))
  for seed, (steps, returns) in curves.items():
    smoothed = np.convolve(returns, np.ones(WINDOW) / WINDOW, mode='valid')
    axis.plot(steps[WINDOW - 1:], smoothed, label=f'seed {seed}')
  axis.axhline(TARGET_RETURN, color='gray', linestyle='--', linewidth=1)
  axis.set_xlabel('environment steps')
  axis.set_ylabel(f'training return ({WINDOW}-episode mean)')
  axis.set_title('DQN, CartPole-v1, gin_configs/dqn/cartpole.gin')
  axis.legend()
  figure.tight_layout()
  figure.savefig(args.plot, dpi=100)

  print(f'DQN CartPole-v1, {datetime.date.today()}, {common.machine_description()}')
  for seed, steps in reached.items():
    print(f'seed {seed}: {steps if steps is not None else "not reached"} steps to a '
          f'{WINDOW}-episode average of {TARGET_RETURN:.0f}')
  # A seed that never reaches the target counts as infinitely slow, so the median stays defined
  # while most seeds succeed.
  median = statistics.median(math.inf if steps is None else steps for steps in reached.values())
  print(f'median: {median:.0f} steps' if math.isfinite(median) else
        f'median: not reached within {args.max_steps} steps')
  print(f'plot: {args.plot}')


if __name__ == '__main__':
  main()
