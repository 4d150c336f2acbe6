"""Raw environment steps per second of the continuous domains, as their factories build them.

Random actions (drawn ahead of time, so that sampling is not timed), one environment at a time, for
`--seconds` each; resets at episode ends are part of the timed loop, as they are in a run. The
numbers bound what any agent can reach on each domain and show what the factories' wrappers cost
(compare benchmarks/RESULTS.md and shared/FACTS.md's raw gymnasium figures).

    .venv/bin/python benchmarks/continuous_env_speed.py               # prints a Markdown table
    .venv/bin/python benchmarks/continuous_env_speed.py --seconds 1 --domains reach-v3
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from continuous_domains.metaworld import create_metaworld_environment  # noqa: E402
from continuous_domains.mujoco import create_mujoco_environment  # noqa: E402
from continuous_domains.point_maze import create_point_maze_environment  # noqa: E402

DOMAINS = {
    'HalfCheetah-v5': lambda: create_mujoco_environment('HalfCheetah', version='v5'),
    'Pendulum-v1': lambda: create_mujoco_environment('Pendulum-v1'),
    'PointMaze_UMaze-v3 (flattened)': lambda: create_point_maze_environment('UMaze'),
    'reach-v3': lambda: create_metaworld_environment('reach-v3'),
}
ACTION_BLOCK = 10_000  # actions drawn per refill


def measure(make_env, seconds: float, seed: int) -> dict:
  start = time.perf_counter()
  env = make_env()
  build_s = time.perf_counter() - start
  rng = np.random.default_rng(seed)
  space = env.action_space
  env.reset(seed=seed)
  steps = episodes = 0
  start = time.perf_counter()
  deadline = start + seconds
  while time.perf_counter() < deadline:
    actions = rng.uniform(space.low, space.high, (ACTION_BLOCK,) + space.shape).astype(space.dtype)
    for action in actions:
      _, _, terminated, truncated, _ = env.step(action)
      steps += 1
      if terminated or truncated:
        env.reset()
        episodes += 1
      # Checking the clock every step would cost as much as a Pendulum step.
      if steps % 256 == 0 and time.perf_counter() >= deadline:
        break
  elapsed = time.perf_counter() - start
  env.close()
  return {'steps_per_s': steps / elapsed, 'steps': steps, 'episodes': episodes,
          'build_s': build_s, 'observation_shape': env.observation_space.shape}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--seconds', type=float, default=5.0, help='timed stepping per domain')
  parser.add_argument('--domains', nargs='+', default=list(DOMAINS), choices=list(DOMAINS),
                      metavar='DOMAIN', help=f'a subset of {list(DOMAINS)}')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()

  rows = [(name, measure(DOMAINS[name], args.seconds, args.seed)) for name in args.domains]
  print(f'Raw env steps/s, random actions, {args.seconds:g} s each, one at a time; '
        f'{common.machine_description()}\n')
  print('| domain | observation | env steps/s | episodes ended | build (s) |')
  print('|---|---|---|---|---|')
  for name, row in rows:
    print(f'| {name} | {row["observation_shape"]} | {row["steps_per_s"]:,.0f} | '
          f'{row["episodes"]} | {row["build_s"]:.2f} |')


if __name__ == '__main__':
  main()
