"""Behaviour-cloning gradient steps per second on a 1M-transition dataset: K = 1 against K = 100
steps per jitted call (BCLearner.steps_per_call) in the same run, and against this machine's
matmul-bound limit (the update's FLOPs at the measured float32 matmul rate).

The dataset is synthetic and held in memory (PointMaze-sized: 6-D observations, 2-D actions,
1,000 episodes of 1,000 steps), trained through the real path: BCLearner, DeviceDataset,
ScannedTrainer. Network 256-256, batch 256.

    .venv/bin/python benchmarks/offline_bc_speed.py
    .venv/bin/python benchmarks/offline_bc_speed.py --repeats 7 --seconds_per_repeat 3
"""

import argparse
import datetime
import os
import statistics
import sys
import time

import gymnasium
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from offline.bc.learner import BCLearner  # noqa: E402
from offline.dataset_format import Episode  # noqa: E402
from offline.dataset_views import Dataset  # noqa: E402


def synthetic_dataset(num_episodes: int, episode_length: int, seed: int = 0) -> Dataset:
  """PointMaze-shaped episodes: random 6-D states, a noisy linear expert's 2-D actions."""
  rng = np.random.default_rng(seed)
  observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (6,), np.float32)
  action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
  weights = rng.normal(0.0, 0.5, (6, 2))
  episodes = []
  for _ in range(num_episodes):
    observations = rng.normal(size=(episode_length + 1, 6)).astype(np.float32)
    actions = np.clip(observations[:-1] @ weights + rng.normal(0, 0.1, (episode_length, 2)),
                      -1, 1).astype(np.float32)
    episodes.append(Episode(observations, actions, np.zeros(episode_length),
                            np.zeros(episode_length, bool),
                            np.arange(episode_length) == episode_length - 1, {}))
  return Dataset('synthetic', observation_space, action_space, {}, episodes)


def matmul_flops(batch_size: int, sizes) -> float:
  """The update's matmul FLOPs by hand: 2 m n per layer and sample forward, about twice that
  backward (the gradients of the inputs and of the weights)."""
  return 3 * 2 * batch_size * sum(m * n for m, n in zip(sizes[:-1], sizes[1:]))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--episodes', type=int, default=1000)
  parser.add_argument('--episode_length', type=int, default=1000)
  parser.add_argument('--batch_size', type=int, default=256)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--seconds_per_repeat', type=float, default=2.0)
  parser.add_argument('--matmul_size', type=int, default=2048)
  args = parser.parse_args()

  dataset = synthetic_dataset(args.episodes, args.episode_length)
  learners = {k: BCLearner(dataset.observation_space, dataset.action_space, seed=0,
                           dataset=dataset, batch_size=args.batch_size, steps_per_call=k,
                           hidden_sizes=(256, 256)) for k in (1, 100)}
  steps_per_repeat = {}
  for k, learner in learners.items():  # compile, then size a repeat to about the time asked
    learner.train(k)
    start = time.perf_counter()
    learner.train(100)
    rate = 100 / (time.perf_counter() - start)
    steps_per_repeat[k] = max(k, int(rate * args.seconds_per_repeat) // k * k)
  matmul = common.matmul_timer(args.matmul_size)
  rates, matmul_rates = {k: [] for k in learners}, []
  for _ in range(args.repeats):  # interleaved, so all three see the same load
    for k, learner in learners.items():
      start = time.perf_counter()
      learner.train(steps_per_repeat[k])  # returns once the statistics are on the host
      rates[k].append(steps_per_repeat[k] / (time.perf_counter() - start))
    matmul_rates.append(matmul())

  flops = common.update_flops(learners[1])
  by_hand = matmul_flops(args.batch_size, (6, 256, 256, 4))
  rate = statistics.median(matmul_rates)
  limit = rate / flops
  print(f'\nBC, {dataset.num_steps:,} transitions (6-D observations, 2-D actions), MLP 256-256, '
        f'batch {args.batch_size}, {datetime.date.today()}, {common.machine_description()}, '
        f'JAX device: {jax.devices()[0].device_kind}\n')
  print('| | gradient steps/s (median) | all repeats | of the matmul-bound limit |')
  print('|---|---|---|---|')
  for k, values in rates.items():
    median = statistics.median(values)
    print(f'| K = {k} | {median:,.0f} | {", ".join(f"{v:,.0f}" for v in values)} | '
          f'{median / limit:.0%} |')
  print(f'| matmul-bound limit | {limit:,.0f} | | |')
  print(f'\nK = 100 is {statistics.median(rates[100]) / statistics.median(rates[1]):.1f}x as fast '
        f'as K = 1')
  print(f'update FLOPs: {flops / 1e6:.1f} M (XLA cost analysis), {by_hand / 1e6:.1f} M '
        f'(matmuls by hand); matmul rate {rate / 1e9:.1f} GFLOP/s '
        f'({args.matmul_size}x{args.matmul_size} float32)')


if __name__ == '__main__':
  main()
