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

    .venv/bin/python benchmarks/value_update_time.py --floor --rated_flops 19.5e12 156e12 67e12

`--floor` adds what a cycle costs against this machine's floor: XLA's FLOP count of the cycle's
jitted calls (the update fused with its action, and the other steps' actions), the floor time at
the float32 matmul rate measured here, and the hours of this network work per `--frames` (200M
Atari frames, 4 per agent step: the reference's DCEO run) as measured and at the floor. Each
`--rated_flops` rate (say an A100's rated 19.5 TFLOP/s float32, 156 TF32) adds the hours its FLOP
count would take at that rate (an H200's 67 float32): a lower bound for a device not measured
here, not a measurement.
"""

import argparse
import datetime
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


def time_config(config: str, fill: int, warmup: int, cycles: int,
                steady_epsilon: bool = False) -> Tuple[np.ndarray, Any]:
  """(seconds per update cycle, one per cycle; the agent) for `config`'s agent; a cycle is its
  update_period agent steps. With `steady_epsilon`, the agent acts at its final epsilon, as over
  most of a long run, instead of near 1 just after the fill (so most steps act through the
  network, not at random)."""
  gin.clear_config()
  gin.parse_config_files_and_bindings([config], [])
  observation_space = gymnasium.spaces.Box(0, 255, FRAME_SHAPE, np.uint8)
  agent = factories.create_agent(observation_space, gymnasium.spaces.Discrete(NUM_ACTIONS),
                                 seed=0, summary_writer=None)
  rng = np.random.default_rng(0)
  agent.min_replay_history = fill - 100
  if steady_epsilon:
    agent.epsilon_decay_period = 1
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


def _abstract(value):
  """`value` as jit's lowering sees it: arrays by shape and dtype (a donated one is deleted once
  called), anything else as it is."""
  if isinstance(value, (jax.Array, np.ndarray)):
    return jax.ShapeDtypeStruct(value.shape, value.dtype)
  return value


def cycle_flops(agent) -> float:
  """XLA's FLOP count of one update cycle of `agent` (built by time_config): its fused update and
  action, and update_period - 1 actions. The calls' arguments are recorded over one cycle and the
  same jitted functions lowered with them."""
  recorded = {}

  def recording(name, function):
    def call(*arguments):
      recorded.setdefault(name, jax.tree.map(_abstract, arguments))
      return function(*arguments)
    return call

  update, act = agent._update_and_act, agent._act_fn
  agent._update_and_act, agent._act_fn = recording('update', update), recording('act', act)
  observation = np.zeros(FRAME_SHAPE, np.uint8)
  try:
    for _ in range(agent.update_period):
      agent.step(0.0, observation)
  finally:
    agent._update_and_act, agent._act_fn = update, act
  # An exploring step acts without the network; a step that does not is what the cost assumes.
  flops = {name: common.compiled_cost(function.lower(*recorded[name]).compile())['flops']
           for name, function in (('update', update), ('act', act)) if name in recorded}
  if 'act' not in flops:  # every step of the cycle explored: time_config(steady_epsilon=True)
    raise RuntimeError(f'{type(agent).__name__} made no acting call over a cycle; time it at its '
                       'steady epsilon')
  return flops['update'] + (agent.update_period - 1) * flops['act']


def timing_cells(milliseconds: np.ndarray) -> str:
  """'median [p25, p75]' of a config's cycle times, in ms."""
  low, median, high = np.percentile(milliseconds, [25, 50, 75])
  return f'{median:.1f} [{low:.1f}, {high:.1f}]'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--configs', nargs='+',
                      default=['gin_configs/dceo/montezuma.gin', 'gin_configs/rainbow/atari.gin'])
  parser.add_argument('--fill', type=int, default=1100, help='transitions put in replay first')
  parser.add_argument('--warmup', type=int, default=5)
  parser.add_argument('--cycles', type=int, default=35)
  parser.add_argument('--floor', action='store_true',
                      help="also each cycle's FLOPs, its floor here, and hours per --frames")
  parser.add_argument('--frames', type=float, default=200e6)
  parser.add_argument('--rated_flops', type=float, nargs='*', default=[],
                      help='FLOP/s of devices not measured here, for their FLOP-bound hours')
  parser.add_argument('--matmul_size', type=int, default=2048)
  args = parser.parse_args()
  print(f'{datetime.date.today()}, {common.machine_description()}, '
        f'JAX device: {jax.devices()[0].device_kind}')
  rows = []
  for config in args.configs:
    seconds, agent = time_config(config, args.fill, args.warmup, args.cycles, args.floor)
    rows.append((config, agent, seconds * 1000))
  if not args.floor:
    print('| config | agent | ms per update cycle, median [p25, p75] | agent steps per cycle |')
    print('|---|---|---|---|')
    for config, agent, milliseconds in rows:
      print(f'| {config} | {type(agent).__name__} | {timing_cells(milliseconds)} | '
            f'{agent.update_period} |', flush=True)
    return
  matmul = common.matmul_timer(args.matmul_size)
  matmul_rate = float(np.median([matmul() for _ in range(20)]))
  agent_steps = args.frames / common.FRAMES_PER_AGENT_STEP
  print(f'matmul rate {matmul_rate / 1e9:.1f} GFLOP/s ({args.matmul_size}x{args.matmul_size} '
        f'float32); {args.frames:.3g} frames = {agent_steps:.3g} agent steps\n')
  rated = ''.join(f' hours at {rate / 1e12:g} TFLOP/s |' for rate in args.rated_flops)
  print('| config | agent | ms per cycle, median [p25, p75] | steps per cycle | GFLOPs per cycle '
        f'| floor ms here | of the floor | hours measured here | hours at the floor here |{rated}')
  print('|---|---|---|---|---|---|---|---|---|' + '---|' * len(args.rated_flops))
  for config, agent, milliseconds in rows:
    flops = cycle_flops(agent)
    cycles = agent_steps / agent.update_period
    median = float(np.median(milliseconds))
    floor = flops / matmul_rate * 1000
    hours = ''.join(f' {cycles * flops / rate / 3600:.2f} |' for rate in args.rated_flops)
    print(f'| {config} | {type(agent).__name__} | {timing_cells(milliseconds)} | '
          f'{agent.update_period} | {flops / 1e9:.2f} | '
          f'{floor:.1f} | {floor / median:.0%} | {cycles * median / 1000 / 3600:.0f} | '
          f'{cycles * floor / 1000 / 3600:.0f} |{hours}', flush=True)


if __name__ == '__main__':
  main()
