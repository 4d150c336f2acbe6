"""Learning on a small pixel task within a CPU budget: DQN and Rainbow on MinAtar (default
Breakout) with gin_configs/{dqn,rainbow}/minatar.gin, several seeds, against a uniform random policy.

    .venv/bin/python benchmarks/minatar_learning.py --agents dqn rainbow --seeds 0 1 2 \
        --iterations 10 --parallel 2

Each run is `runner.train` with training iterations of 25k steps and a 5k-step evaluation phase
after each; the curve is the evaluation average return per iteration (mean over seeds, seeds as
thin lines), drawn to benchmarks/results/minatar_<game>_learning.png with the random policy's
average return as a dashed line. Runs are kept under benchmarks/out/ for TensorBoard.
"""

import argparse
import concurrent.futures
import datetime
import os
import statistics
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from discrete_domains import minatar  # noqa: E402
from runner import metrics  # noqa: E402


def random_policy_return(game: str, episodes: int, seed: int = 0) -> float:
  env = minatar.create_minatar_environment(game)
  rng = np.random.default_rng(seed)
  returns = []
  for episode in range(episodes):
    env.reset(seed=seed * 10_000 + episode)
    total, done = 0.0, False
    while not done:
      _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
      total += reward
      done = terminated or truncated
    returns.append(total)
  return float(np.mean(returns))


def run(agent: str, seed: int, args) -> dict:
  base_dir = os.path.join(args.out, f'{args.game}_{agent}_seed{seed}')
  result = common.run_train(base_dir, [f'gin_configs/{agent}/minatar.gin'], [
      f'Runner.seed={seed}', f'Runner.num_iterations={args.iterations}',
      f"create_minatar_environment.game_name='{args.game}'"])
  records = metrics.read_metrics(base_dir)
  result['eval_returns'] = [record['eval/average_return'] for record in records]
  result['steps'] = [record['iteration'] + 1 for record in records]
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--agents', nargs='+', default=['dqn', 'rainbow'])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
  parser.add_argument('--game', default='breakout', choices=minatar.GAMES)
  parser.add_argument('--iterations', type=int, default=10)
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--out', default=os.path.join(common.REPO, 'benchmarks', 'out', 'minatar'))
  args = parser.parse_args()

  jobs = [(agent, seed) for agent in args.agents for seed in args.seeds]
  with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
    results = dict(zip(jobs, pool.map(lambda job: run(*job, args), jobs)))
  random_return = random_policy_return(args.game, episodes=200)

  plot = os.path.join(common.REPO, 'benchmarks', 'results', f'minatar_{args.game}_learning.png')
  figure, axis = plt.subplots(figsize=(7, 4))
  steps_per_iteration = 25_000
  print(f'MinAtar {args.game}, {args.iterations} x 25k training steps, seeds {args.seeds}, '
        f'{datetime.date.today()}, {common.machine_description()}\n')
  print('| agent | final eval return, median over seeds (per seed) | best iteration, median | '
        'training steps/s, median |')
  print('|---|---|---|---|')
  for color, agent in zip(('tab:blue', 'tab:orange', 'tab:green'), args.agents):
    runs = [results[(agent, seed)] for seed in args.seeds]
    curves = np.array([r['eval_returns'] for r in runs])
    steps = np.array(runs[0]['steps']) * steps_per_iteration
    for curve in curves:
      axis.plot(steps, curve, color=color, alpha=0.3, linewidth=1)
    axis.plot(steps, curves.mean(axis=0), color=color, linewidth=2, label=f'{agent} (mean)')
    finals = curves[:, -1]
    print(f'| {agent} | {np.median(finals):.2f} ({", ".join(f"{v:.2f}" for v in finals)}) | '
          f'{np.median(curves.max(axis=1)):.2f} | '
          f'{statistics.median(r["run_steps_per_s"] for r in runs):.0f} |')
  print(f'| uniform random policy | {random_return:.2f} (200 episodes) | | |')
  axis.axhline(random_return, color='gray', linestyle='--', linewidth=1, label='random policy')
  common.save_learning_plot(figure, axis, f'MinAtar {args.game}: gin_configs/{{dqn,rainbow}}/minatar.gin', plot, args.out)


if __name__ == '__main__':
  main()
