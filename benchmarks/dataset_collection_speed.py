"""Collection throughput of every dataset source (offline.make_dataset), in environment steps per
second, with the gin_configs/datasets configs cut to `--steps` steps each.

    .venv/bin/python benchmarks/dataset_collection_speed.py --steps 20000

Sources: the uniform random policy (Pendulum-v1), the PointMaze waypoint controller (UMaze,
Medium, Large), the SFP room controller, the Meta-world reach P-controller, and a SAC agent
restored from a run directory (gin_configs/datasets/pendulum_sac.gin; the run is a fresh
1-iteration `runner.train` of gin_configs/sac/pendulum.gin, which is enough: acting costs the same
trained or not). Each collection runs in its own process, one at a time, and is timed from its own
summary (the collection loop and the dataset write, not the interpreter start).
"""

import argparse
import datetime
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402

SOURCES = {
    # name: (gin file, extra bindings)
    'uniform random, Pendulum-v1': ([], [
        'create_environment.fn = @create_mujoco_environment',
        "create_mujoco_environment.environment_name = 'Pendulum-v1'",
        'collect.policy = @UniformRandomPolicy()']),
    'waypoint controller, PointMaze UMaze': (['datasets/pointmaze_umaze.gin'], []),
    'waypoint controller, PointMaze Medium': (['datasets/pointmaze_medium.gin'], []),
    'waypoint controller, PointMaze Large': (['datasets/pointmaze_large.gin'], []),
    'SFP room controller': (['datasets/sfp_room.gin'], []),
    'Meta-world reach P-controller': (['datasets/metaworld_reach.gin'], []),
    'SAC agent (stochastic), Pendulum-v1': (['datasets/pendulum_sac.gin'], []),
}


def collect(gin_files, bindings) -> dict:
  command = [sys.executable, '-um', 'offline.make_dataset']
  for gin_file in gin_files:
    command += ['--gin_files', gin_file]
  for binding in bindings:
    command += ['--gin_bindings', binding]
  result = common.run_measured(command)
  if result['returncode'] != 0:
    raise RuntimeError(f'{" ".join(command)} failed:\n{result["stderr"][-3000:]}')
  return json.loads(result['stdout'].strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=20000)
  args = parser.parse_args()
  rows = {}
  with tempfile.TemporaryDirectory() as directory:
    sac_run = os.path.join(directory, 'sac_pendulum')
    common.run_train(sac_run, ['gin_configs/sac/pendulum.gin'],
                     ['Runner.num_iterations=1', 'Runner.evaluation_steps=0'])
    for name, (gin_files, bindings) in SOURCES.items():
      bindings = bindings + [
          f"collect.output_dir = '{os.path.join(directory, str(len(rows)))}'",
          'collect.num_episodes = None', f'collect.num_steps = {args.steps}',
          'collect.progress_bar = False', f"AgentPolicy.run_dir = '{sac_run}'"]
      rows[name] = collect(gin_files, bindings)
      print(name, rows[name], flush=True)
  print(f'\n{args.steps} steps per source, {datetime.date.today()}, '
        f'{common.machine_description()}\n')
  print('| source | steps/s | episodes | wall (s) |')
  print('|---|---|---|---|')
  for name, summary in rows.items():
    print(f'| {name} | {summary["steps_per_second"]:,.0f} | {summary["episodes"]} | '
          f'{summary["wall_s"]:.1f} |')


if __name__ == '__main__':
  main()
