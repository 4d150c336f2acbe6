"""Agent steps per second of SAC on HalfCheetah-v5 (CPU, one update per step, batch 256), with peak
memory, beside SBX's SAC measured in the same run.

The zoo's SAC runs through its full stack (`runner.train` with gin_configs/sac/mujoco.gin: Runner,
agent, replay, a checkpoint and metrics per iteration) for `--warmup` random steps and then
`--measure_steps` learning steps in iterations of `--iteration_steps`; the steady-state rate is the
median of the learning iterations' rates. SBX (`sbx-rl`, the fastest JAX SAC we know) runs the
same protocol in its own venv (`bash benchmarks/peers/setup_sbx.sh`):
benchmarks/peers/run_sbx_sac.py, which times the same window from inside SBX's training loop.

    .venv/bin/python benchmarks/sac_speed.py                 # zoo and SBX
    .venv/bin/python benchmarks/sac_speed.py --peers none    # the zoo only (e.g. on a GPU)
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402

SBX_VENV = '.venv-sbx'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--peers', nargs='+', default=['sbx'], help="'sbx' or 'none'")
  parser.add_argument('--warmup', type=int, default=5000)
  parser.add_argument('--measure_steps', type=int, default=20000)
  parser.add_argument('--iteration_steps', type=int, default=2500)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  with_sbx = args.peers == ['sbx']
  if with_sbx and not os.path.exists(os.path.join(common.REPO, SBX_VENV)):
    sys.exit('SBX is not installed: run bash benchmarks/peers/setup_sbx.sh first, or --peers none')

  total = args.warmup + args.measure_steps
  bindings = [f'Runner.training_steps={args.iteration_steps}',
              f'Runner.num_iterations={-(-total // args.iteration_steps)}',
              "create_runner.schedule='continuous_train'",
              f'SACAgent.min_replay_history={args.warmup}', f'Runner.seed={args.seed}']
  results = {}
  with tempfile.TemporaryDirectory() as directory:
    results['zoo sac'] = common.zoo_steady_rate(directory, ['gin_configs/sac/mujoco.gin'],
                                                bindings, args.measure_steps // args.iteration_steps)
  print(f'zoo sac: {results["zoo sac"]}', flush=True)
  if with_sbx:
    # A little past warm-up + window: SBX's window starts after its first update has compiled.
    results['sbx sac'] = common.run_peer('run_sbx_sac.py', [
        '--steps', str(total + 1000), '--warmup', str(args.warmup),
        '--measure-steps', str(args.measure_steps), '--seed', str(args.seed)])
    print(f'sbx sac: {results["sbx sac"]}', flush=True)
  common.print_speed_table(
      f'HalfCheetah-v5, {args.warmup} warm-up + {args.measure_steps} learning steps, batch 256, '
      '1 update per step', results, [('sbx sac', 'zoo sac')])


if __name__ == '__main__':
  main()
