"""Agent steps per second of Rainbow, DQN and DCEO on Pong (CPU), with peak memory, beside their peers.

Each agent runs through the zoo's full stack (`runner.train` with its gin file, `ZOO_CONFIGS`:
Runner, agent, prioritized or uniform replay, a checkpoint and metrics per iteration) for a warm-up
of `--warmup` random steps and then `--measure_steps` learning steps, in iterations of
`--iteration_steps`; the steady-state rate is the median of the learning iterations' rates. The
peers run the same protocol (sticky actions, batch 32, an update every 4 steps, replay of 100k) in
their own venvs, one process at a time:

  Dopamine full Rainbow  benchmarks/peers/run_dopamine_rainbow.py  (bash benchmarks/peers/setup_dopamine.sh)
  CleanRL dqn_atari_jax  benchmarks/peers/run_cleanrl_dqn_atari.py (bash benchmarks/peers/setup_cleanrl.sh)

    .venv/bin/python benchmarks/atari_speed.py                  # zoo and every installed peer
    .venv/bin/python benchmarks/atari_speed.py --peers none     # the zoo only (e.g. on a GPU)
    .venv/bin/python benchmarks/atari_speed.py --agents dceo rainbow --peers dopamine_rainbow
    python benchmarks/atari_speed.py --agents dceo --peers none --game MontezumaRevenge \
        --steady_epsilon                                        # hours per 200M frames on a GPU

`--steady_epsilon` makes the epsilon-greedy agents (DQN, DCEO) act at their final epsilon (0.01)
as soon as the warm-up ends, as over nearly all of a 200M-frame run, instead of near 1 (where
most steps act at random, without the network). Each zoo run's hours per `--frames` (200M Atari
frames, 4 per agent step) at its steady rate follow the table.

DCEO runs its own configuration (gin_configs/dceo/montezuma.gin: Rainbow without noisy nets, a
Laplacian representation and 5 options) on Pong; its peer is Dopamine's full Rainbow, as Rainbow's.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402

# The zoo agents: the gin files each runs, with Pong bound where the file names another game.
ZOO_CONFIGS = {
    'rainbow': ['gin_configs/rainbow/atari.gin'],
    'dqn': ['gin_configs/dqn/atari.gin'],
    'dceo': ['gin_configs/dceo/montezuma.gin'],
}

PEERS = {
    # name: (the zoo agent it is compared with, runner script, venv it needs, warm-up flag)
    'dopamine_rainbow': ('rainbow', 'run_dopamine_rainbow.py', '.venv-dopamine', '--warmup'),
    'cleanrl_dqn': ('dqn', 'run_cleanrl_dqn_atari.py', '.venv-cleanrl', '--learning-starts'),
}


def run_zoo(agent: str, args, directory: str) -> dict:
  total = args.warmup + args.measure_steps
  bindings = [
      f'Runner.training_steps={args.iteration_steps}',
      f'Runner.num_iterations={-(-total // args.iteration_steps)}',
      "create_runner.schedule='continuous_train'",
      f'DQNAgent.min_replay_history={args.warmup}',
      f'DQNAgent.replay_capacity={args.replay_capacity}',
      f'Runner.seed={args.seed}',
      f"create_atari_environment.game_name='{args.game}'",
  ]
  if args.steady_epsilon:
    # linearly_decaying_epsilon reaches epsilon_train one step after the warm-up.
    bindings.append('DQNAgent.epsilon_decay_period=1')
  return common.zoo_steady_rate(os.path.join(directory, agent), ZOO_CONFIGS[agent],
                                bindings, args.measure_steps // args.iteration_steps)


def run_peer(name: str, args) -> dict:
  _, script, _, warmup_flag = PEERS[name]
  # A little past warm-up + window: the peers start their window after the first update has
  # compiled.
  return common.run_peer(script, ['--steps', str(args.warmup + args.measure_steps + 1000),
                                  warmup_flag, str(args.warmup),
                                  '--measure-steps', str(args.measure_steps)])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--agents', nargs='+', default=['rainbow', 'dqn'], choices=list(ZOO_CONFIGS))
  parser.add_argument('--peers', nargs='+', default=list(PEERS), help="names, or 'none'")
  parser.add_argument('--warmup', type=int, default=5000)
  parser.add_argument('--measure_steps', type=int, default=20000)
  parser.add_argument('--iteration_steps', type=int, default=2500)
  parser.add_argument('--replay_capacity', type=int, default=100000)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--game', default='Pong', help="the zoo agents' game (the peers run Pong)")
  parser.add_argument('--steady_epsilon', action='store_true',
                      help='act at the final epsilon right after the warm-up')
  parser.add_argument('--frames', type=float, default=200e6,
                      help='Atari frames (4 per agent step) to give hours for at each zoo rate')
  args = parser.parse_args()
  peers = [] if args.peers == ['none'] else args.peers
  for name in peers:
    if not os.path.exists(os.path.join(common.REPO, PEERS[name][2])):
      sys.exit(f'{name} is not installed: run benchmarks/peers/setup_*.sh first, or --peers none')

  results = {}
  with tempfile.TemporaryDirectory() as directory:
    for agent in args.agents:
      results[f'zoo {agent}'] = run_zoo(agent, args, directory)
      print(f'zoo {agent}: {results[f"zoo {agent}"]}', flush=True)
    for name in peers:
      results[name] = run_peer(name, args)
      print(f'{name}: {results[name]}', flush=True)
  comparisons = [(name, f'zoo {PEERS[name][0]}') for name in peers]
  if 'dceo' in args.agents:
    comparisons += [(name, 'zoo dceo') for name in peers if PEERS[name][0] == 'rainbow']
  common.print_speed_table(
      f'{args.game}, {args.warmup} warm-up + {args.measure_steps} learning steps, replay '
      f'{args.replay_capacity}' + (', steady epsilon' if args.steady_epsilon else ''),
      results, comparisons)
  for name, result in results.items():
    if name.startswith('zoo '):
      hours = args.frames / common.FRAMES_PER_AGENT_STEP / result['steady_steps_per_s'] / 3600
      print(f'{name}: {hours:.1f} hours ({hours / 24:.2f} days) per {args.frames:.3g} frames '
            'at its steady rate')


if __name__ == '__main__':
  main()
