"""Checkpoint cost at full size: a 1M-row Atari replay (prioritized, 84x84 frames stored once,
7.1 GB) checkpointed by runner/checkpoints.py with its sha256 manifest, kept three deep, as a
Dopamine-protocol run does after every iteration.

    .venv/bin/python benchmarks/checkpoint_cost.py --dir /path/on/the/run/disk

Fills the buffer, saves checkpoint 0, then `--iterations` times adds `--rows_per_iteration` rows
(250k: one Dopamine iteration) and saves again; then verifies and restores the newest checkpoint
into a fresh buffer. Prints each save's time (and the time `sync` then takes to put the written
data on disk), the disk use of the checkpoint directory (hard-linked files counted once, as
`du` does), the verify and restore times, and the save time as a share of a Dopamine iteration
at the agent speeds measured in benchmarks/RESULTS.md.
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agents.replay import PrioritizedReplayBuffer  # noqa: E402
from benchmarks import common  # noqa: E402
from runner import checkpoints  # noqa: E402

# Agent steps/s on Pong measured in benchmarks/RESULTS.md (Rainbow, DQN), whole-loop figures.
AGENT_STEPS_PER_SECOND = {'Rainbow': 135.0, 'DQN': 151.6}
DOPAMINE_ITERATION_STEPS = 250_000
BUDGET = 0.02  # of an iteration


def make_buffer(capacity: int) -> PrioritizedReplayBuffer:
  return PrioritizedReplayBuffer(capacity, observation_shape=(4, 84, 84), stack_size=4,
                                 update_horizon=3, gamma=0.99)


def fill(buffer: PrioritizedReplayBuffer, rows: int, rng: np.random.Generator) -> None:
  """`rows` agent steps of 2,000-step episodes, frames drawn from a small random pool (the
  content does not change the cost of an uncompressed checkpoint)."""
  frames = rng.integers(0, 256, (64, 4, 84, 84), dtype=np.uint8)
  start = buffer.add_count
  for row in range(start, start + rows):
    step = row % 2000
    if step == 1999:
      buffer.add_final(frames[row % 64])
    else:
      buffer.add(frames[row % 64], row % 6, 0.0, False, step == 0)


def disk_bytes(path: str) -> int:
  output = subprocess.run(['du', '-sb', path], capture_output=True, text=True, check=True)
  return int(output.stdout.split()[0])


def timed(function):
  start = time.perf_counter()
  result = function()
  return result, time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--dir', default=os.path.join(common.REPO, 'benchmarks', 'out',
                                                    'checkpoint_cost'))
  parser.add_argument('--capacity', type=int, default=1_000_000)
  parser.add_argument('--rows_per_iteration', type=int, default=DOPAMINE_ITERATION_STEPS)
  parser.add_argument('--iterations', type=int, default=3)
  parser.add_argument('--keep', type=int, default=3)
  args = parser.parse_args()
  shutil.rmtree(args.dir, ignore_errors=True)
  rng = np.random.default_rng(0)
  buffer = make_buffer(args.capacity)
  _, fill_seconds = timed(lambda: fill(buffer, args.capacity, rng))
  replay_bytes = buffer.memory_bytes()
  print(f'{datetime.date.today()}, {common.machine_description()}')
  print(f'replay: {args.capacity:,} rows, {replay_bytes / 1e9:.2f} GB of arrays, filled in '
        f'{fill_seconds:.0f} s')
  checkpointer = checkpoints.Checkpointer(args.dir, keep=args.keep)
  save_seconds = []
  for iteration in range(args.iterations + 1):
    if iteration:
      fill(buffer, args.rows_per_iteration, rng)
    bundle = {'replay': buffer.state_dict(), 'add_count': np.int64(buffer.add_count)}
    _, seconds = timed(lambda: checkpointer.save(  # pylint: disable=cell-var-from-loop
        iteration, {'total_training_steps': buffer.add_count}, lambda directory: bundle))
    _, sync_seconds = timed(lambda: subprocess.run(['sync'], check=True))
    save_seconds.append(seconds)
    print(f'save {iteration}: {seconds:.1f} s (then sync {sync_seconds:.1f} s); checkpoint '
          f'directory {disk_bytes(args.dir) / 1e9:.2f} GB on disk '
          f'({disk_bytes(args.dir) / replay_bytes:.2f} replay sizes), '
          f'{len(checkpointer.iterations())} kept')
  # A sample of rows to check the restore against, so the saved buffer can go before it: the
  # restore holds the read bundle and the fresh buffer at once, and both are replay-sized.
  probe = rng.choice(args.capacity, 1000, replace=False)
  expected = {name: array[probe].copy() for name, array in buffer._rows().items()}  # pylint: disable=protected-access
  add_count = buffer.add_count
  del bundle, buffer
  newest = checkpointer.iterations()[-1]
  (directory, _, loaded), load_seconds = timed(lambda: checkpointer.load(newest))
  restored = make_buffer(args.capacity)
  _, restore_seconds = timed(lambda: restored.load_state_dict(loaded['replay']))
  assert restored.add_count == add_count
  for name, array in restored._rows().items():  # pylint: disable=protected-access
    np.testing.assert_array_equal(array[probe], expected[name], err_msg=name)
  print(f'verify and read {directory}: {load_seconds:.1f} s; restore into a fresh buffer: '
        f'{restore_seconds:.1f} s; restored buffer equal to the saved one')
  steady = float(np.median(save_seconds[1:])) if len(save_seconds) > 1 else save_seconds[0]
  for agent, rate in AGENT_STEPS_PER_SECOND.items():
    iteration_seconds = DOPAMINE_ITERATION_STEPS / rate
    print(f'{agent} at {rate:g} steps/s: an iteration takes {iteration_seconds:.0f} s; the median '
          f'save after the first ({steady:.1f} s) is {100 * steady / iteration_seconds:.2f}% of '
          f'it (budget {100 * BUDGET:g}%: {BUDGET * iteration_seconds:.0f} s)')
  shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == '__main__':
  main()
