"""PSDRL's cost on Atari settings: seconds per posterior and per value update against their FLOP
floors on this machine, and what they make of the agent's steps per second.

    .venv/bin/python benchmarks/psdrl_speed.py --replay 10000 --repeats 3

The agent is gin_configs/psdrl/atari.gin's (the reference's sizes: the 64x64 autoencoder onto
1,536 latents, the GRU of 756, the MLPs of 2,292, B = 125 sequences of L = 250, 3 iterations per
update, 6 actions as Pong's), on a replay filled with `--replay` transitions of random frames in
episodes of 1,000 steps (timing does not depend on what the frames show). Each stage of an update
is timed through the agent's own jitted calls, on the agent's own batches:

- posterior: the features of every stored transition (the GRU along each episode, the MLP, the
  sums X^T X and X^T Y in chunks) and the posterior and draw; measured over the whole replay and
  projected linearly to the reference's 100k transitions;
- value: the value network's training through the sampled model; measured on `--value_steps`
  sequence steps of one iteration (a scan over steps, so its time is linear in them) and
  projected to 3 iterations x 250 steps;
- autoencoder and transition (with the terminal network): the other two stages, likewise (the
  autoencoder's steps through `PSDRLAgent.train_autoencoder`, from the host on a CPU);
- acting: one step's greedy look-ahead (one jitted call).

The floor of a stage is its FLOPs at the measured float32 2048 x 2048 matmul rate (timed
between the repeats, so it sees the same load). XLA counts a loop's body once, so each stage's
FLOPs are counted on a call whose loops run once (one transition; one sequence step with the
target copied every step; one sequence of one window) and multiplied by how many the update
runs. Printed: a Markdown table and the overall agent steps per second of the schedule's two
update periods (250 and 1,000 steps) at these projections.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

import gin
import gymnasium
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from agents import psdrl  # noqa: E402
from runner import factories, run_experiment  # noqa: E402,F401  (gin's create_* names)

REFERENCE_REPLAY = 100_000
EPISODE_LENGTH = 1000
NUM_ACTIONS = 6  # Pong's minimal action set


def build_agent(replay: int, seed: int = 0) -> psdrl.PSDRLAgent:
  gin.parse_config_files_and_bindings([os.path.join(common.REPO, 'gin_configs', 'psdrl',
                                                    'atari.gin')], [])
  observation_space = gymnasium.spaces.Box(0, 255, (64, 64), np.uint8)
  agent = psdrl.PSDRLAgent(observation_space, gymnasium.spaces.Discrete(NUM_ACTIONS), seed=seed,
                           replay_capacity=max(replay + EPISODE_LENGTH, 1000))
  rng = np.random.default_rng(seed)
  for step in range(replay):
    first = step % EPISODE_LENGTH == 0
    agent.replay.add(rng.integers(0, 256, (64, 64), np.uint8), int(rng.integers(NUM_ACTIONS)),
                     float(np.tanh(rng.normal())), False, first)
    if step % EPISODE_LENGTH == EPISODE_LENGTH - 1 or step == replay - 1:
      agent.replay.add_final(rng.integers(0, 256, (64, 64), np.uint8))
  return agent


def flops(function, num_static: int, *arguments) -> float:
  """XLA's FLOP count of jax.jit(function), its first num_static arguments static (the Spec and
  an optimizer)."""
  return common.compiled_cost(jax.jit(function, static_argnums=tuple(range(num_static))).lower(
      *arguments).compile())['flops']


def sequences(agent, fields, batch_size, length):
  agent.batch_size, agent.sequence_length, agent.training_iterations = batch_size, length, 1
  return agent._sequences(fields)


def stage_flops(agent) -> dict:
  """FLOPs of one unit of each stage (see the module docstring) and how many units the
  reference's update runs."""
  spec, state = agent.spec, agent.state
  optimizers = {name: getattr(agent, f'_train_{name}').args[1]
                for name in ('autoencoder', 'transition', 'value')}
  one_step = spec._replace(target_update_period=1, transition_window=1)
  chunk = {field: value[:1] for field, value in next(
      psdrl.EpisodeView(agent.replay).chunks(1)).items()
      if field in ('observation', 'next_observation', 'action', 'reward', 'first', 'mask')}
  gram = np.zeros((agent._statistics_shape[0],) * 2, np.float32)
  cross = np.zeros(agent._statistics_shape, np.float32)
  units = {}
  units['posterior'] = (flops(psdrl.accumulate_statistics, 1, spec, state.autoencoder,
                              state.transition, chunk, agent._zero_hidden, gram, cross),
                        REFERENCE_REPLAY)
  units['posterior draw'] = (flops(psdrl.posterior_and_draw, 1, spec, gram, cross,
                                   jax.random.PRNGKey(0), state.posterior_mean,
                                   state.last_layer), 1)
  batch = sequences(agent, ('observation', 'action', 'mask'), 125, 1)
  units['value'] = (flops(psdrl.train_value, 2, one_step, optimizers['value'], state.value,
                          state.value_target, state.value_optimizer, state.autoencoder,
                          state.transition, state.terminal, state.last_layer, batch), 3 * 250)
  batch = sequences(agent, ('observation', 'mask'), 1, 250)
  units['autoencoder'] = (flops(psdrl.train_autoencoder, 2, spec, optimizers['autoencoder'],
                                state.autoencoder, state.autoencoder_optimizer, batch), 3 * 125)
  batch = sequences(agent, ('observation', 'next_observation', 'action', 'reward', 'terminated',
                            'mask'), 125, 1)
  units['transition'] = (flops(psdrl.train_transition, 2, one_step, optimizers['transition'],
                               state.autoencoder, state.transition, state.transition_optimizer,
                               state.terminal, state.terminal_optimizer, batch), 3 * 250)
  return units


def time_call(function) -> float:
  start = time.perf_counter()
  jax.block_until_ready(function())
  return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--replay', type=int, default=10_000, help='stored transitions')
  parser.add_argument('--value_steps', type=int, default=8,
                      help='sequence steps of the timed value and transition calls')
  parser.add_argument('--autoencoder_sequences', type=int, default=8)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()

  agent = build_agent(args.replay)
  state = agent.state
  units = stage_flops(agent)
  matmul_rate = common.matmul_timer(2048)
  fields = {'value': ('observation', 'action', 'mask'),
            'transition': ('observation', 'next_observation', 'action', 'reward', 'terminated',
                           'mask'),
            'autoencoder': ('observation', 'mask')}

  def posterior():
    gram, cross, _ = agent.posterior_statistics(state.autoencoder, state.transition)
    return agent._posterior_and_draw(gram, cross, jax.random.PRNGKey(1), state.posterior_mean,
                                     state.last_layer)

  value_batch = sequences(agent, fields['value'], 125, args.value_steps)
  transition_batch = sequences(agent, fields['transition'], 125, args.value_steps)
  autoencoder_batch = sequences(agent, fields['autoencoder'], args.autoencoder_sequences, 250)
  calls = {
      'posterior': (posterior, REFERENCE_REPLAY / args.replay),
      'value': (lambda: agent._train_value(
          state.value, state.value_target, state.value_optimizer, state.autoencoder,
          state.transition, state.terminal, state.last_layer, value_batch),
                3 * 250 / args.value_steps),
      'transition': (lambda: agent._train_transition(
          state.autoencoder, state.transition, state.transition_optimizer, state.terminal,
          state.terminal_optimizer, transition_batch), 3 * 250 / args.value_steps),
      'autoencoder': (lambda: agent.train_autoencoder(
          state.autoencoder, state.autoencoder_optimizer, autoencoder_batch),
                      3 * 125 / args.autoencoder_sequences),
      'acting': (lambda: agent._act_fn(
          state.autoencoder, state.transition, state.terminal, state.value, state.last_layer,
          value_batch['observation'][0, 0, 0], agent._zero_hidden, agent._base_key, 0, False, 0),
                 1),
  }
  seconds = {name: [] for name in calls}
  rates = []
  for name, (call, _) in calls.items():
    print(f'compiling and warming up: {name}: {time_call(call):.1f} s', file=sys.stderr,
          flush=True)
  for repeat in range(args.repeats):
    for name, (call, _) in calls.items():
      repeats = 50 if name == 'acting' else 1
      seconds[name].append(sum(time_call(call) for _ in range(repeats)) / repeats)
      rates.append(matmul_rate())
      print(f'repeat {repeat + 1}/{args.repeats}: {name}: {seconds[name][-1]:.3g} s',
            file=sys.stderr, flush=True)
  rate = statistics.median(rates)

  print(f'\nPSDRL on Atari settings, {datetime.date.today()}, {common.machine_description()}, '
        f'JAX device: {jax.devices()[0].device_kind}; matmul rate {rate / 1e9:.1f} GFLOP/s '
        f'(median); medians of {args.repeats}; replay of {args.replay:,} transitions\n')
  print('| stage | measured (s) | at the reference size (s) | TFLOP at the reference size | '
        'floor (s) | of the floor |')
  print('|---|---|---|---|---|---|')
  projected = {}
  floors = {'posterior': units['posterior'][0] * units['posterior'][1]
            + units['posterior draw'][0]}
  for name in ('autoencoder', 'transition', 'value'):
    floors[name] = units[name][0] * units[name][1]
  floors['acting'] = flops(psdrl.act_step, 1, agent.spec, state.autoencoder, state.transition,
                           state.terminal, state.value, state.last_layer,
                           value_batch['observation'][0, 0, 0], agent._zero_hidden,
                           agent._base_key, 0, False, 0)
  for name, (_, scale) in calls.items():
    measured = statistics.median(seconds[name])
    projected[name] = measured * scale
    floor = floors[name] / rate
    print(f'| {name} | {measured:.3g} | {projected[name]:.3g} | {floors[name] / 1e12:.3g} | '
          f'{floor:.3g} | {floor / projected[name]:.0%} |')
  update = sum(projected[name] for name in ('autoencoder', 'transition', 'posterior', 'value'))
  print(f'\nan update at the reference size: {update:,.0f} s '
        f'({update / 60:.1f} min); acting: {projected["acting"] * 1e3:.1f} ms per step')
  for period in (250, 1000):
    steps_per_second = period / (period * projected['acting'] + update)
    print(f'- updates every {period} steps: {steps_per_second:.3f} agent steps/s, '
          f'{1e6 / steps_per_second / 3600:,.0f} h per 1M steps')
  # The reference's schedule: every 250 steps up to 100k, every 1000 after.
  updates = 100_000 // 250 + 900_000 // 1000
  hours = (1e6 * projected['acting'] + updates * update) / 3600
  floor_hours = (1e6 * floors['acting'] + updates * sum(
      floors[name] for name in ('autoencoder', 'transition', 'posterior', 'value'))) / rate / 3600
  print(f'- the reference schedule ({updates:,} updates in 1M steps): {hours:,.0f} h per 1M '
        f'steps, {floor_hours:,.0f} h at the floor')


if __name__ == '__main__':
  main()
