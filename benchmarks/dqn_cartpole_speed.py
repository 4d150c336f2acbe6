"""DQN on CartPole-v1: agent steps per second of the zoo against CleanRL's dqn_jax.py, side by side.

Both use Dopamine's CartPole settings (update every 4 steps, batch 128, warm-up 500, target sync
every 100 steps) and CleanRL's 120-84 MLP. The zoo runs through its full stack (`runner.train`:
Runner, Agent, replay, a checkpoint and metrics every 1,000-step iteration); the two alternate, one
process at a time, and medians are reported.

    bash benchmarks/peers/setup_cleanrl.sh          # once: CleanRL in .venv-cleanrl
    .venv/bin/python benchmarks/dqn_cartpole_speed.py --steps 50000 --repeats 3

Rates reported:
  whole run     training steps / time of the whole training loop, warm-up, JIT compilation,
                checkpoints and logging included (CleanRL: its own final SPS, same definition)
  steady state  after warm-up and compilation: the zoo's median per-iteration training rate
                (iterations 1+), CleanRL's rate between its first and last SPS print
  process wall  the whole process, interpreter start and imports included
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402

ZOO_BINDINGS = ['MLP.hidden_sizes=(120, 84)', "create_runner.schedule='continuous_train'",
                'Runner.training_steps=1000']
CLEANRL_RUNNER = os.path.join(common.REPO, 'benchmarks', 'peers', 'run_cleanrl_dqn.py')


def run_zoo(steps: int, seed: int, directory: str) -> dict:
  base_dir = os.path.join(directory, f'zoo_seed{seed}')
  bindings = ZOO_BINDINGS + [f'Runner.num_iterations={steps // 1000}', f'Runner.seed={seed}']
  result = common.run_train(base_dir, ['gin_configs/dqn/cartpole.gin'], bindings)
  per_iteration = [event.value for event in common.scalars(base_dir, 'train/steps_per_second')]
  result['steady_steps_per_s'] = statistics.median(per_iteration[1:])
  return result


def run_cleanrl(steps: int, seed: int) -> dict:
  output = subprocess.run([sys.executable, CLEANRL_RUNNER, '--steps', str(steps), '--seed',
                           str(seed)], capture_output=True, text=True, check=True).stdout
  record = json.loads(output.strip().splitlines()[-1])
  return {'process_wall_s': record['process_wall_s'], 'run_steps_per_s': record['sps_reported'],
          'steady_steps_per_s': record['loop_steps_per_s']}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=50000)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()
  if not os.path.exists(os.path.join(common.REPO, '.venv-cleanrl')):
    sys.exit('CleanRL is not installed: run `bash benchmarks/peers/setup_cleanrl.sh` first')

  results = {'zoo': [], 'cleanrl': []}
  with tempfile.TemporaryDirectory() as directory:
    for repeat in range(args.repeats):
      results['zoo'].append(run_zoo(args.steps, repeat, directory))
      results['cleanrl'].append(run_cleanrl(args.steps, repeat))
      print(f'repeat {repeat}: zoo {results["zoo"][-1]}, cleanrl {results["cleanrl"][-1]}',
            flush=True)

  def median(name, key):
    return statistics.median(run[key] for run in results[name])

  print(f'\nDQN CartPole-v1, {args.steps} steps, {args.repeats} repeats, '
        f'{datetime.date.today()}, {common.machine_description()}\n')
  print('| | whole run (steps/s) | steady state (steps/s) | process wall (s) |')
  print('|---|---|---|---|')
  for name, label in [('zoo', 'zoo (runner.train)'), ('cleanrl', "CleanRL dqn_jax.py")]:
    print(f'| {label} | {median(name, "run_steps_per_s"):.0f} | '
          f'{median(name, "steady_steps_per_s"):.0f} | {median(name, "process_wall_s"):.1f} |')
  print(f'| ratio zoo / CleanRL | '
        f'{median("zoo", "run_steps_per_s") / median("cleanrl", "run_steps_per_s"):.2f} | '
        f'{median("zoo", "steady_steps_per_s") / median("cleanrl", "steady_steps_per_s"):.2f} | '
        f'{median("zoo", "process_wall_s") / median("cleanrl", "process_wall_s"):.2f} |')
  print('\nraw:', json.dumps(results))


if __name__ == '__main__':
  main()
