"""DSM delta-model gradient steps per second at the reference's size, against the FLOP floor.

The reference's size: 51 atoms of 3 x 256, 32 samples per atom, batch 64, the adversarial
discriminator. Measured against this machine's matmul-bound limit (one step's FLOPs, XLA's
count, at the measured float32 matmul rate), for K steps per jitted call (`--steps_per_call`; at
about a TFLOP per step a Python dispatch costs nothing, so K = 1 is the default), and for the
energy-distance variant without a discriminator.

A step is the reference's pair of updates (discriminator, then generator, each on its own batch of
windows); its cost is the generator's forward and backward passes over batch x atoms x samples
= 104k states (and the target generator's forward at the windows' ends), the discriminator's over
twice that, and the pairwise kernels between the atoms' samples. The dataset is synthetic,
Pendulum-shaped (3-D observations, 200-step episodes), and trained through the real path.

    .venv/bin/python benchmarks/dsm_speed.py
    .venv/bin/python benchmarks/dsm_speed.py --repeats 5 --seconds_per_repeat 20
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
from offline.dataset_format import Episode  # noqa: E402
from offline.dataset_views import Dataset  # noqa: E402
from offline.dsm import kernels  # noqa: E402
from offline.dsm.learner import DeltaModelLearner  # noqa: E402

VARIANTS = {
    'adversarial (reference)': {},
    'no discriminator, energy distance': dict(adversarial=False,
                                              inner_kernel=kernels.EnergyDistanceKernel()),
}


def pendulum_shaped_dataset(num_episodes: int, seed: int = 0) -> Dataset:
  """Random walks in (cos, sin, theta_dot) space, 200 steps each, truncated."""
  rng = np.random.default_rng(seed)
  episodes = []
  for _ in range(num_episodes):
    theta = np.cumsum(rng.normal(0.0, 0.2, 201))
    velocity = np.clip(np.gradient(theta) * 20, -8, 8)
    observations = np.stack([np.cos(theta), np.sin(theta), velocity], 1).astype(np.float32)
    episodes.append(Episode(observations, rng.uniform(-2, 2, (200, 1)).astype(np.float32),
                            np.zeros(200), np.zeros(200, bool), np.arange(200) == 199, {}))
  return Dataset('synthetic', gymnasium.spaces.Box(-8.0, 8.0, (3,), np.float32),
                 gymnasium.spaces.Box(-2.0, 2.0, (1,), np.float32), {}, episodes)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--episodes', type=int, default=500)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--seconds_per_repeat', type=float, default=15.0)
  parser.add_argument('--matmul_size', type=int, default=2048)
  parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
  parser.add_argument('--steps_per_call', type=int, nargs='+', default=[1])
  args = parser.parse_args()

  dataset = pendulum_shaped_dataset(args.episodes)
  learners, steps_per_repeat = {}, {}
  for variant in args.variants:
    for k in args.steps_per_call:
      learner = DeltaModelLearner(dataset.observation_space, dataset.action_space, seed=0,
                                  dataset=dataset, steps_per_call=k, **VARIANTS[variant])
      learner.train(k)  # compiles
      start = time.perf_counter()
      learner.train(k)
      rate = k / (time.perf_counter() - start)
      steps_per_repeat[variant, k] = max(k, int(rate * args.seconds_per_repeat) // k * k)
      learners[variant, k] = learner
      print(f'{variant}, K = {k}: about {rate:.3f} steps/s', flush=True)
  matmul = common.matmul_timer(args.matmul_size)
  rates = {key: [] for key in learners}
  matmul_rates = []
  for _ in range(args.repeats):  # interleaved, so all see the same load
    for key, learner in learners.items():
      start = time.perf_counter()
      learner.train(steps_per_repeat[key])
      rates[key].append(steps_per_repeat[key] / (time.perf_counter() - start))
    matmul_rates.append(matmul())
  matmul_rate = statistics.median(matmul_rates)

  print(f'\nDSM delta-model at the reference size, {datetime.date.today()}, '
        f'{common.machine_description()}, JAX device: {jax.devices()[0].device_kind}; '
        f'matmul rate {matmul_rate / 1e9:.1f} GFLOP/s ({args.matmul_size}x{args.matmul_size} '
        'float32)\n')
  print('| variant | K | gradient steps/s (median) | all repeats | step GFLOPs (XLA) | '
        'step transcendentals (G) | matmul-bound limit | of the limit |')
  print('|---|---|---|---|---|---|---|---|')
  for (variant, k), values in rates.items():
    cost = common.update_cost(learners[variant, k])
    limit = matmul_rate / cost['flops']
    median = statistics.median(values)
    print(f'| {variant} | {k} | {median:.3f} | {", ".join(f"{v:.3f}" for v in values)} | '
          f'{cost["flops"] / 1e9:.1f} | {cost.get("transcendentals", 0.0) / 1e9:.2f} | '
          f'{limit:.3f} | {median / limit:.0%} |')


if __name__ == '__main__':
  main()
