"""Memory of the Atari replay at full size: a prioritized buffer of `--capacity` rows of 84x84
frames (4-frame stacks stored as single frames), filled completely, measured as the process's peak
resident memory, plus the time to fill it and to sample a batch of 32 stacked 3-step transitions.

    .venv/bin/python benchmarks/atari_replay_memory.py --capacity 1000000
"""

import argparse
import datetime
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agents.replay import PrioritizedReplayBuffer  # noqa: E402
from benchmarks import common  # noqa: E402


def peak_rss_gb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--capacity', type=int, default=1_000_000)
  parser.add_argument('--episode_length', type=int, default=2000)
  args = parser.parse_args()
  before = peak_rss_gb()
  buffer = PrioritizedReplayBuffer(args.capacity, observation_shape=(4, 84, 84), stack_size=4,
                                   update_horizon=3, gamma=0.99)
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (64, 4, 84, 84), dtype=np.uint8)  # content does not matter
  start = time.perf_counter()
  for row in range(args.capacity):
    step = row % args.episode_length
    if step == args.episode_length - 1:
      buffer.add_final(frames[row % 64])
    else:
      buffer.add(frames[row % 64], row % 6, 0.0, False, step == 0)
  fill_seconds = time.perf_counter() - start
  times = []
  for _ in range(200):
    start = time.perf_counter()
    buffer.sample(32, rng)
    times.append(time.perf_counter() - start)
  print(f'{datetime.date.today()}, {common.machine_description()}')
  print(f'capacity {args.capacity}: arrays {buffer.memory_bytes() / 1e9:.2f} GB, process peak RSS '
        f'{peak_rss_gb():.2f} GiB ({before:.2f} GiB before the buffer), filled in '
        f'{fill_seconds:.0f} s ({args.capacity / fill_seconds:.0f} rows/s); sample of 32: '
        f'{1e3 * np.median(times):.2f} ms median')


if __name__ == '__main__':
  main()
