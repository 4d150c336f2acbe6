"""How fast does phi's objective reach the visited cells' eigenvectors on a FIXED replay?

    .venv/bin/python benchmarks/dceo_phi_fixed_replay.py \
        benchmarks/out/dceo_exploration/VARIANT/maze/dceo_seed0 --sampling uniform_visited

A finished DCEO grid-world run (e.g. of benchmarks/dceo_exploration.py) is restored from its
newest checkpoint (`offline.components.restore_trained`) and its replay frozen. A fresh phi is then
trained on that replay alone, `--steps` Adam steps of DCEO's representation update (positive pairs
(s, s') from a batch of `--batch_size` transitions at the replay's n-step horizon or
`--horizon`, negatives drawn from the batch's pooled states), and every `--report_every` steps the
subspace overlap of phi over the visited cells with the two oracles of benchmarks/dceo_phi_check.py
(uniform over the visited cells; weighted as the replay weighs them) is printed. Unlike the online
agent, the data do not move, so what this measures is the learner alone: whether, and how fast, an
objective and a way of sampling the replay find the span the options need.

`--sampling`: 'replay' (the run's own draw, prioritized as it was at the end), 'uniform' (rows
alike) or 'uniform_visited' (visit_density.VisitedStateSampler: each visited cell alike).
`--objective`: 'log1p' or 'squared' (the generalised objective's norm transforms) or 'allo'.
`--tabular` replaces the run's network by a table over the cells (a linear layer, no bias).
`--learning_rate` replaces the agent's Adam step size. `--from_run` continues the run's own phi
(its parameters, its optimizer and that optimizer's state) instead of a fresh one: does phi, left
to settle on the data it had, move where its objective leads, or was it already there? Besides the
overlaps, each report gives how rough phi's functions at the options' indices are
(dceo_phi_check.py --traps): their median traps over the visited cells, and the median share of
their differences between neighbouring cells that lies outside the uniform oracle's span; and
where the options' functions (phi @ R and signs, R the run's last under an `option_alignment`,
else none) peak (dceo_phi_check.py --frontier): the median moves from their argmax,
and from their smooth part's, to a cell the replay does not hold.
"""

import argparse
import os
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dceo_phi_check  # noqa: E402
from agents import laplacian  # noqa: E402
from agents import laplacian_grid  # noqa: E402
from agents import visit_density  # noqa: E402
from agents.optimizers import create_optimizer  # noqa: E402
from discrete_domains import gridworld  # noqa: E402
from offline import components  # noqa: E402


class Table(nn.Module):
  """phi as a table over one-hot cells."""
  dimension: int

  @nn.compact
  def __call__(self, observations):
    return nn.Dense(self.dimension, use_bias=False)(observations)


def frozen_batches(agent, sampling: str, horizon, steps: int, batch_size: int, seed: int):
  """(steps, batch, cells) observations and n-step next observations drawn from the replay."""
  replay = agent.replay
  if horizon is not None:  # a longer or shorter window over the same rows
    replay.update_horizon = horizon
    replay._discount_powers = replay.gamma ** np.arange(horizon + 1, dtype=np.float64)
  rng = np.random.default_rng(seed)
  if sampling == 'replay':
    draw = lambda: replay.sample(batch_size, rng)  # noqa: E731
  elif sampling == 'uniform':
    draw = lambda: replay.gather(replay.draw_starts(  # noqa: E731
        batch_size, rng, replay.is_valid_start, 'no valid start'))
    replay._draw = lambda count, generator: generator.integers(0, len(replay), size=count)
  else:
    sampler = visit_density.VisitedStateSampler(replay.capacity)
    draw = lambda: replay.gather(sampler.draw_starts(replay, batch_size, rng))  # noqa: E731
  batches = [draw() for _ in range(steps)]
  return (jnp.asarray(np.stack([batch['observation'] for batch in batches])),
          jnp.asarray(np.stack([batch['next_observation'] for batch in batches])))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('run')
  parser.add_argument('--sampling', choices=('replay', 'uniform', 'uniform_visited'),
                      default='replay')
  parser.add_argument('--objective', choices=('log1p', 'squared', 'allo'), default='log1p')
  parser.add_argument('--steps', type=int, default=40000)
  parser.add_argument('--report_every', type=int, default=5000)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--horizon', type=int, default=None)
  parser.add_argument('--tabular', action='store_true')
  parser.add_argument('--learning_rate', type=float, default=None)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--from_run', action='store_true',
                      help="continue the run's own phi and its optimizer state, not a fresh phi")
  args = parser.parse_args()

  agent = components.restore_trained(args.run, 'agent')
  layout = agent.grid.layout
  counts, moves = dceo_phi_check.replay_cells(agent, len(gridworld.free_cells(layout)))
  visited = counts > 0
  dimension = agent.representation_dimension
  oracles = [np.linalg.qr(laplacian_grid.visited_eigenvectors(
      layout, counts, dimension, move_counts=move_counts)[visited])[0]
      for move_counts in (None, moves)]
  started = time.time()
  observations, next_observations = frozen_batches(agent, args.sampling, args.horizon,
                                                   args.steps, args.batch_size, args.seed)
  print(f'{args.run}: {int(visited.sum())} visited cells; {args.steps} batches drawn '
        f'({args.sampling}) in {time.time() - started:.0f} s', flush=True)
  if args.from_run and (args.tabular or args.learning_rate is not None):
    sys.exit('--from_run continues the run\'s own network and optimizer: drop --tabular and '
             '--learning_rate')
  network = Table(dimension) if args.tabular else agent.representation
  cells = agent.grid.cell_observations
  params = network.init(jax.random.PRNGKey(args.seed + 1), cells)
  optimizer = (agent._optimizer if args.learning_rate is None else
               create_optimizer(name='adam', learning_rate=args.learning_rate, eps=1.5e-4))
  extensions = agent.state.extensions
  if args.from_run:
    params, optimizer = extensions['representation'], agent.representation_optimizer
  rotation = (np.asarray(extensions.get('option_rotation', np.eye(dimension)))
              if args.from_run else np.eye(dimension))
  batch_size = args.batch_size
  objective = (laplacian.Objective('allo') if args.objective == 'allo' else
               laplacian.Objective('generalized', args.objective))

  def step(carry, pairs):
    params, optimizer_state, duals, key = carry
    key, negatives_key = jax.random.split(key)
    pooled = jnp.concatenate(pairs)
    picks = jax.random.randint(negatives_key, (2, batch_size), 0, len(pooled))

    def loss(params):
      phi = network.apply(params, pooled)
      value, _, constraints = objective.loss(*jnp.split(phi, 2), phi[picks[0]], phi[picks[1]],
                                             duals)
      return value, (None, constraints)

    params, optimizer_state, duals, _, _ = objective.step(loss, optimizer, params,
                                                          optimizer_state, duals)
    return (params, optimizer_state, duals, key), None

  run_chunk = jax.jit(lambda carry, pairs: jax.lax.scan(step, carry, pairs)[0])
  carry = (params, (extensions['representation_optimizer_state'] if args.from_run
                    else optimizer.init(params)),
           extensions.get('representation_duals', jnp.zeros((dimension, dimension)))
           if args.from_run else jnp.zeros((dimension, dimension)),
           jax.random.PRNGKey(args.seed + 2))
  functions = list(agent.option_eigenfunctions)
  uniform = laplacian_grid.visited_eigenvectors(layout, counts, dimension)[visited]
  print('| steps | overlap, uniform oracle | overlap, replay-weighted oracle | traps per '
        'function (median) | residual\'s share of the differences (median) | moves from the '
        'options\' argmax to an unvisited cell (median) | from their smooth part\'s |')
  print('|---|---|---|---|---|---|---|')

  def report(steps, params):
    phi = np.asarray(network.apply(params, cells), np.float64)[visited]
    traps, _, _, _, moves = dceo_phi_check.roughness(agent.grid, phi[:, functions], uniform,
                                                     counts, functions)
    peaks, _, _, smooth_peaks = dceo_phi_check.frontier_distances(
        layout, visited, agent.followed_functions(phi @ rotation), uniform, functions)
    print(f'| {steps} | ' + ' | '.join(f'{laplacian.subspace_overlap(phi, oracle, dimension):.3f}'
                                        for oracle in oracles)
          + f' | {np.median(traps):g} | {np.median(moves):.2f} | {np.median(peaks):g} | '
          f'{np.median(smooth_peaks):g} |', flush=True)

  report(0, carry[0])
  for start in range(0, args.steps, args.report_every):
    end = min(start + args.report_every, args.steps)
    carry = run_chunk(carry, (observations[start:end], next_observations[start:end]))
    report(end, carry[0])


if __name__ == '__main__':
  main()
