"""GOM training steps per second against the FLOP floor, and planning time per agent step.

    .venv/bin/python benchmarks/gom_speed.py                      # both sizes
    .venv/bin/python benchmarks/gom_speed.py --sizes small --repeats 5

Sizes: 'reference' (gin_configs/gom/pointmaze_umaze.gin: FiLM U-Nets of 256-512-1024 with two
blocks a level, batch 2048, 50 DDIM steps of 1000 for every TD target) and 'small'
(gin_configs/gom/pointmaze_umaze_small.gin, what the CPU benchmark trains). Data: the UMaze
dataset (datasets/pointmaze_umaze). `steps_per_call` steps run per jitted call.

The floor: a step's FLOPs at this machine's measured float32 matmul rate. XLA's cost analysis
counts a loop's body once, and a step's DDIM sampling is a scan, so the FLOPs are counted per
network call instead: one forward pass of each denoiser over the batch (XLA's count), times the
calls a step makes: `sampling_steps` outcome-model forwards for the TD targets, and a forward and
a backward (about twice a forward) for each model's loss.

Planning: OccupancyModel.act, one jitted call per agent step (plan, then sample the readout
policy's action), for guided diffusion (one outcome) and random shooting (1000), median wall time.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from offline import datasets  # noqa: E402
from offline.gom.learner import GOMLearner  # noqa: E402

SIZES = {
    'reference': dict(steps_per_call=1),
    'small': dict(outcome_dims=(128, 256), policy_dims=(128, 256), blocks_per_level=1,
                  time_embedding_dim=64, diffusion_steps=100, sampling_steps=10, batch_size=256,
                  warmup_steps=200, decay_steps=20000, steps_per_call=100),
}


def forward_flops(module, params, x, t, condition) -> float:
  compiled = jax.jit(lambda p: module.apply({'params': p}, x, t, condition)).lower(
      params).compile()
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis['flops'])


def step_flops(learner: GOMLearner, batch_size: int) -> float:
  networks, state = learner.networks, learner.state
  state_dim = learner.state_slice[1] - learner.state_slice[0]
  feature_dim = int(state.feature_low.shape[0])
  action_dim = int(np.prod(learner.action_space.shape))
  zeros = lambda size: jnp.zeros((batch_size, size), jnp.float32)  # noqa: E731
  steps = jnp.zeros((batch_size,), jnp.int32)
  outcome = forward_flops(networks.outcome, state.outcome.params, zeros(feature_dim), steps,
                          zeros(state_dim))
  policy = forward_flops(networks.policy, state.policy.params, zeros(action_dim), steps,
                         zeros(state_dim + feature_dim))
  return networks.sampling_steps * outcome + 3 * outcome + 3 * policy


def measure(size: str, data, repeats: int, seconds: float, floor_rate: float) -> dict:
  settings = SIZES[size]
  learner = GOMLearner(data.observation_space, data.action_space, seed=0, dataset=data,
                       state_slice=(0, 4), **settings)
  per_call = learner.trainer.steps_per_call
  learner.train(per_call)  # compiles
  jax.block_until_ready(learner.state)
  rates = []
  for _ in range(repeats):
    start, steps = time.perf_counter(), 0
    while steps == 0 or time.perf_counter() - start < seconds:
      learner.train(per_call)
      steps += per_call
    jax.block_until_ready(learner.state)
    rates.append(steps / (time.perf_counter() - start))
  flops = step_flops(learner, learner.trainer.batch_size)
  model = learner.export()
  observation = np.asarray(data.transitions()['observation'][0])
  weights = np.ones(model.feature_dim, np.float32) / model.feature_dim
  planning = {}
  for planner, samples in (('guided_diffusion', 1), ('random_shooting', 1000)):
    act = lambda key: model.act(observation, weights, jax.random.PRNGKey(key), planner,  # noqa: E731
                                num_samples=samples)
    jax.block_until_ready(act(0))
    times = []
    for key in range(1, 6 if size == 'reference' and planner == 'random_shooting' else 21):
      start = time.perf_counter()
      jax.block_until_ready(act(key))
      times.append(time.perf_counter() - start)
    planning[planner] = statistics.median(times)
  rate = statistics.median(rates)
  return {'size': size, 'steps_per_s': rate, 'rates': rates, 'gflop_per_step': flops / 1e9,
          'floor_steps_per_s': floor_rate / flops, 'fraction_of_floor': rate * flops / floor_rate,
          'planning_s': planning}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', nargs='+', default=['small', 'reference'], choices=list(SIZES))
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--seconds_per_repeat', type=float, default=20.0)
  parser.add_argument('--dataset', default='datasets/pointmaze_umaze')
  args = parser.parse_args()
  data = datasets.load_dataset(args.dataset)
  timer = common.matmul_timer(2048)
  floor_rate = statistics.median(timer() for _ in range(20))
  print(f'{common.machine_description()}, {jax.devices()[0].device_kind}, '
        f'{datetime.date.today()}; float32 matmul {floor_rate / 1e9:.0f} GFLOP/s\n')
  print('| size | GFLOP per step | steps/s (median) | floor steps/s | of floor | '
        'planning s/step, guided | planning s/step, shooting 1000 |')
  print('|---|---|---|---|---|---|---|')
  for size in args.sizes:
    result = measure(size, data, args.repeats, args.seconds_per_repeat, floor_rate)
    print(f'| {size} | {result["gflop_per_step"]:.1f} | {result["steps_per_s"]:.3g} | '
          f'{result["floor_steps_per_s"]:.3g} | {100 * result["fraction_of_floor"]:.0f}% | '
          f'{result["planning_s"]["guided_diffusion"]:.4f} | '
          f'{result["planning_s"]["random_shooting"]:.3f} |', flush=True)


if __name__ == '__main__':
  main()
