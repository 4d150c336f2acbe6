"""In-process time of a value-based agent's update cycle on Atari shapes, without the environment.

    .venv/bin/python benchmarks/value_update_time.py                       # DCEO and Rainbow
    .venv/bin/python benchmarks/value_update_time.py --configs gin_configs/dceo/montezuma.gin

Each gin file's agent (DQNAgent and what builds on its shell) is built for Atari observations
(4 stacked 84 x 84 uint8 frames, 6 actions), its replay filled with `--fill` random transitions,
and then timed over `update_period` agent steps at a time: one update, fused with its action in
the one jitted call, and the acting steps between updates. Printed per config: the median and
quartiles, in ms, over `--cycles` cycles after `--warmup` untimed ones. What atari_speed.py's
agent steps per second are made of, minus the emulator and the Runner; for comparing code
changes of the shell and its extensions (DCEO's options) on a quiet machine.
"""

import argparse
import os
import sys
import time
from typing import Any, Tuple

import gin
import gymnasium
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from runner import train  # noqa: E402,F401  (registers the configurables the gin files name)
from runner import factories  # noqa: E402

FRAME_SHAPE = (4, 84, 84)
NUM_ACTIONS = 6


def time_config(config: str, fill: int, warmup: int, cycles: int) -> Tuple[np.ndarray, Any]:
  """(seconds per update cycle, one per cycle; the agent) for `config`'s agent; a cycle is its
  update_period agent steps."""
  gin.clear_config()
  gin.parse_config_files_and_bindings([config], [])
  observation_space = gymnasium.spaces.Box(0, 255, FRAME_SHAPE, np.uint8)
  agent = factories.create_agent(observation_space, gymnasium.spaces.Discrete(NUM_ACTIONS),
                                 seed=0, summary_writer=None)
  rng = np.random.default_rng(0)
  agent.min_replay_history = fill - 100
  agent.begin_episode(rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8))
  for _ in range(fill):
    agent.step(float(rng.random()), rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8))
  observation = rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8)

  def cycle() -> float:
    start = time.perf_counter()
    for _ in range(agent.update_period):
      agent.step(0.0, observation)
    jax.block_until_ready(agent.state)
    return time.perf_counter() - start

  for _ in range(warmup):
    cycle()
  return np.array([cycle() for _ in range(cycles)]), agent


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--configs', nargs='+',
                      default=['gin_configs/dceo/montezuma.gin', 'gin_configs/rainbow/atari.gin'])
  parser.add_argument('--fill', type=int, default=1100, help='transitions put in replay first')
  parser.add_argument('--warmup', type=int, default=5)
  parser.add_argument('--cycles', type=int, default=35)
  args = parser.parse_args()
  print(f'{common.machine_description()}, JAX device: {jax.devices()[0].platform}')
  print('| config | agent | ms per update cycle, median [p25, p75] | agent steps per cycle |')
  print('|---|---|---|---|')
  for config in args.configs:
    seconds, agent = time_config(config, args.fill, args.warmup, args.cycles)
    milliseconds = seconds * 1000
    print(f'| {config} | {type(agent).__name__} | {np.median(milliseconds):.1f} '
          f'[{np.percentile(milliseconds, 25):.1f}, {np.percentile(milliseconds, 75):.1f}] | '
          f'{agent.update_period} |', flush=True)


if __name__ == '__main__':
  main()
