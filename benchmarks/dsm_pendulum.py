"""DSM on Pendulum-v1, the whole pipeline through the zoo's own commands, and its distances.

SAC trained by gin_configs/sac/pendulum.gin, 500k steps of its stochastic policy recorded by
gin_configs/datasets/pendulum_sac.gin, a delta-model trained on them by
gin_configs/dsm/pendulum.gin; then its Cramer-von Mises, Wasserstein-1 and Kolmogorov-Smirnov
distances to Monte Carlo returns (5000 rollouts of 200 steps from each of the reference's nine
source states) per reward function, after each evaluation of a recorded budget, with the figures.

The reference trains 2.5M steps of about a TFLOP each (the adversarial discriminator is most of
it; benchmarks/dsm_speed.py): weeks on this machine's CPU. So by default the model here is the
reference's generator (51 atoms of 3 x 256) trained with the energy-distance variant (no
discriminator), 16 samples per atom, batch 16 and a learning rate of 1e-3 for a budget of a few
thousand steps; every setting is an argument, and `--reference` keeps the reference's own.

    .venv/bin/python benchmarks/dsm_pendulum.py --steps 8000 --iteration_steps 2000
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from runner import metrics  # noqa: E402

DISTANCES = ('cramer_von_mises', 'wasserstein', 'kolmogorov_smirnov')


def prepare(out_dir: str, dataset_steps: int) -> dict:
  """The SAC run and its dataset, each made once."""
  sac_dir = os.path.join(out_dir, 'sac_pendulum')
  if not os.path.exists(os.path.join(sac_dir, 'metrics.jsonl')) or len(
      metrics.read_metrics(sac_dir)) < 20:
    shutil.rmtree(sac_dir, ignore_errors=True)
    common.run_train(sac_dir, ['gin_configs/sac/pendulum.gin'], [])
  dataset_dir = os.path.join(out_dir, f'dataset_{dataset_steps}')
  if not os.path.exists(dataset_dir):
    result = common.run_measured([
        sys.executable, '-um', 'offline.make_dataset', '--gin_files',
        'gin_configs/datasets/pendulum_sac.gin', '--gin_bindings',
        f"collect.output_dir = '{dataset_dir}'", '--gin_bindings',
        f"AgentPolicy.run_dir = '{sac_dir}'", '--gin_bindings', 'collect.progress_bar = False',
        '--gin_bindings', f'collect.num_steps = {dataset_steps}'])
    if result['returncode'] != 0:
      raise RuntimeError(result['stderr'][-3000:])
  returns = [record['eval/average_return'] for record in metrics.read_metrics(sac_dir)]
  return {'sac_dir': sac_dir, 'dataset_dir': dataset_dir, 'sac_final_return': returns[-1]}


def rescore(run_dir: str) -> dict:
  """The distances of the run's newest checkpoint to its cached Monte Carlo returns, recomputed
  by the current distance code (for a run whose metrics an older version computed): the learner
  and its evaluation rebuilt from the run directory, scored as its `evaluate` would."""
  import jax  # pylint: disable=import-outside-toplevel
  from offline import components  # pylint: disable=import-outside-toplevel

  learner = components.restore_trained(run_dir, 'learner')
  key = jax.random.fold_in(learner._figure_key, learner.training_steps)  # as its evaluate
  with np.load(os.path.join(run_dir, learner.evaluation.cache_file)) as cache:
    reference = {'source_observations': cache['source_observations'],
                 'returns': {name: cache[f'returns/{name}']
                             for name in learner.evaluation.reward_fns}}
  statistics, _ = learner.evaluation.score(learner.export(), reference, key)
  return statistics


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=8000)
  parser.add_argument('--iteration_steps', type=int, default=2000)
  parser.add_argument('--dataset_steps', type=int, default=500_000)
  parser.add_argument('--num_samples', type=int, default=16)
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--learning_rate', type=float, default=1e-3)
  parser.add_argument('--reference', action='store_true',
                      help="the reference's adversarial model and settings (gin_configs/dsm/"
                      'pendulum.gin unchanged but for the budget)')
  parser.add_argument('--num_rollouts', type=int, default=5000)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out_dir', default=os.path.join(common.REPO, 'benchmarks', 'out',
                                                        'dsm_pendulum'))
  parser.add_argument('--results_dir', default=os.path.join(common.REPO, 'benchmarks',
                                                            'results'))
  parser.add_argument('--rescore', default=None,
                      help='only print the distances of this finished run, recomputed now')
  args = parser.parse_args()
  if args.rescore:
    statistics = rescore(args.rescore)
    print('| reward | ' + ' | '.join(DISTANCES) + ' |')
    print('|---|' + '---|' * len(DISTANCES))
    for reward in sorted({key.split('/')[0] for key in statistics}):
      print(f'| {reward} | ' + ' | '.join(f'{statistics[f"{reward}/{name}"]:.3f}'
                                         for name in DISTANCES) + ' |')
    return
  os.makedirs(args.out_dir, exist_ok=True)
  prepared = prepare(args.out_dir, args.dataset_steps)
  print(f"SAC's final evaluation return: {prepared['sac_final_return']:.1f}", flush=True)

  bindings = [f"load_dataset.path = '{prepared['dataset_dir']}'",
              f"AgentPolicy.run_dir = '{prepared['sac_dir']}'",
              f'Runner.num_iterations = {args.steps // args.iteration_steps}',
              f'OfflineRunner.training_steps = {args.iteration_steps}',
              f'Runner.seed = {args.seed}',
              f'ReturnDistributionEvaluation.num_rollouts = {args.num_rollouts}',
              'ReturnDistributionEvaluation.progress_bar = False']
  if not args.reference:
    bindings += ['DeltaModelLearner.adversarial = False',
                 'DeltaModelLearner.inner_kernel = @EnergyDistanceKernel()',
                 f'DeltaModelLearner.num_samples = {args.num_samples}',
                 f'DeltaModelLearner.batch_size = {args.batch_size}',
                 f'DeltaModelLearner.generator_learning_rate = {args.learning_rate}']
  label = 'reference' if args.reference else 'energy'
  run_dir = os.path.join(args.out_dir, f'dsm_{label}_{args.steps}')
  shutil.rmtree(run_dir, ignore_errors=True)
  timing = common.run_train(run_dir, ['gin_configs/dsm/pendulum.gin'], bindings)
  records = metrics.read_metrics(run_dir)
  rewards = sorted({key.split('/')[1] for key in records[0]
                    if key.startswith('eval/') and key.endswith('/wasserstein')})
  steps = np.cumsum([record['train/gradient_steps'] if i == 0 else
                     record['train/gradient_steps'] - records[i - 1]['train/gradient_steps']
                     for i, record in enumerate(records)])

  print(f'\nDSM on Pendulum-v1 ({label}: {" ".join(bindings[4:])}), '
        f'{common.machine_description()}; {timing["process_wall_s"] / 60:.1f} min in all\n')
  print('| reward | ' + ' | '.join(f'{name} at {int(step):,}' for step in steps
                                    for name in ('W1',)) + ' | CvM (last) | KS (last) |')
  print('|---|' + '---|' * (len(steps) + 2))
  for reward in rewards:
    wasserstein = [record[f'eval/{reward}/wasserstein'] for record in records]
    last = records[-1]
    print(f'| {reward} | ' + ' | '.join(f'{value:.2f}' for value in wasserstein)
          + f' | {last[f"eval/{reward}/cramer_von_mises"]:.3f} | '
          f'{last[f"eval/{reward}/kolmogorov_smirnov"]:.3f} |')

  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  figure = Figure(figsize=(4.0 * len(DISTANCES), 3.2), dpi=90)
  axes = figure.subplots(1, len(DISTANCES))
  for axis, distance in zip(axes, DISTANCES):
    for index, reward in enumerate(rewards):
      axis.plot(steps, [record[f'eval/{reward}/{distance}'] for record in records],
                marker='o', color=f'C{index}', label=reward)
    axis.set_xlabel('gradient steps')
    axis.set_title(f'{distance} (mean over the 9 sources)', fontsize=9)
  axes[0].legend(fontsize=7)
  figure.tight_layout()
  os.makedirs(args.results_dir, exist_ok=True)
  figure.savefig(os.path.join(args.results_dir, f'dsm_pendulum_{label}_distances.png'))
  shutil.copy(os.path.join(run_dir, 'return_distributions.png'),
              os.path.join(args.results_dir, f'dsm_pendulum_{label}_return_distributions.png'))
  with open(os.path.join(args.out_dir, f'results_{label}.json'), 'w') as file:
    json.dump({'records': records, 'bindings': bindings, 'wall_s': timing['process_wall_s']},
              file)
  print(f'\nfigures: {args.results_dir}/dsm_pendulum_{label}_*.png; run: {run_dir}')


if __name__ == '__main__':
  main()
