"""Many SAC updates per agent step: one jitted call for all of them (what SACAgent does) against one
call per update (what it did before), in one process, alternating, medians.

SFP's downstream SAC runs 50 updates every 50 steps at batch 100 (METHODS.md); the agent now draws
all 50 batches from the replay at once and runs them in one `lax.scan`. Both variants below run
the same updates on the same batches; only the number of calls differs.

    .venv/bin/python benchmarks/sac_updates_per_call.py
    .venv/bin/python benchmarks/sac_updates_per_call.py --updates 20 --batch_size 256
"""

import argparse
import os
import statistics
import sys
import time

import gymnasium
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agents import sac  # noqa: E402
from benchmarks import common  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--updates', type=int, default=50)
  parser.add_argument('--batch_size', type=int, default=100)
  parser.add_argument('--observation_dim', type=int, default=17)  # HalfCheetah's
  parser.add_argument('--action_dim', type=int, default=6)
  parser.add_argument('--rounds', type=int, default=7)
  parser.add_argument('--blocks_per_round', type=int, default=10)
  args = parser.parse_args()

  observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (args.observation_dim,), np.float32)
  action_space = gymnasium.spaces.Box(-1, 1, (args.action_dim,), np.float32)
  agents = {name: sac.SACAgent(observation_space, action_space, seed=0, batch_size=args.batch_size,
                               updates_per_step=updates, update_period=args.updates)
            for name, updates in [('one call', args.updates), ('one call per update', 1)]}
  rng = np.random.default_rng(0)
  shape = (args.updates, args.batch_size)
  batches = {'observation': rng.normal(size=(*shape, args.observation_dim)),
             'action': rng.uniform(-1, 1, (*shape, args.action_dim)),
             'reward': rng.normal(size=shape), 'discount': np.full(shape, 0.99),
             'next_observation': rng.normal(size=(*shape, args.observation_dim))}
  batches = {name: value.astype(np.float32) for name, value in batches.items()}
  single_batches = [{name: value[i:i + 1] for name, value in batches.items()}
                    for i in range(args.updates)]
  observation = np.zeros(args.observation_dim, np.float32)

  def one_call(agent, counter):
    agent.state, _, _, action = agent._updates_and_act(agent.state, batches, observation,
                                                       agent.acting_context(), agent._base_key,
                                                       counter)
    return action

  def one_call_per_update(agent, counter):
    for batch in single_batches:
      agent.state, _, _, action = agent._updates_and_act(agent.state, batch, observation,
                                                         agent.acting_context(), agent._base_key,
                                                         counter)
    return action

  variants = {'one call': one_call, 'one call per update': one_call_per_update}
  for name, run in variants.items():  # compile
    np.asarray(run(agents[name], 0))
  times = {name: [] for name in variants}
  for round_index in range(args.rounds):
    for name, run in variants.items():
      start = time.perf_counter()
      for block in range(args.blocks_per_round):
        np.asarray(run(agents[name], round_index * args.blocks_per_round + block))
      times[name].append((time.perf_counter() - start) / args.blocks_per_round * 1e3)

  print(f'{args.updates} updates at batch {args.batch_size} (observation {args.observation_dim}, '
        f'action {args.action_dim}), {common.machine_description()}, JAX device: '
        f'{jax.devices()[0].platform}\n')
  print('| variant | ms per block of updates (median) | all rounds |')
  print('|---|---|---|')
  for name, values in times.items():
    print(f'| {name} | {statistics.median(values):.1f} | '
          f'{", ".join(f"{value:.1f}" for value in values)} |')
  ratio = statistics.median(times['one call per update']) / statistics.median(times['one call'])
  print(f'\none call is {ratio:.2f}x as fast')


if __name__ == '__main__':
  main()
