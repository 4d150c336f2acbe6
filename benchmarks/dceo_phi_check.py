"""How close is a trained DCEO run's phi to what its objective should converge to on its replay?

    .venv/bin/python benchmarks/dceo_phi_check.py benchmarks/out/dceo_exploration/maze/dceo_seed*

For each trained DCEO grid-world run given (e.g. those of benchmarks/dceo_exploration.py), the
agent is restored from its newest checkpoint (`offline.components.restore_trained`) and its phi
read over the cells its replay holds. It is compared with the two oracles of that replay
(agents/laplacian_grid.visited_eigenvectors): the Laplacian of the visited cells with every cell
and move alike (what `DCEOAgent.state_weighting = 'inverse_visits'` should converge to), and the
one weighted as the replay weighs it, each cell by its visits and each move by its count (what
the reference's `'replay'` weighting should converge to). Printed per run: the subspace overlap
of phi's d columns with each oracle's d smallest eigenvectors over the visited cells (1: the same
span), and for each option's eigenfunction e the |cosine| between phi_e (centred) and the
uniform oracle's e-th eigenvector: whether the option follows the function it is meant to, not a
mixture. Medians over the runs close the table.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agents import laplacian  # noqa: E402
from agents import laplacian_grid  # noqa: E402
from discrete_domains import gridworld  # noqa: E402
from offline import components  # noqa: E402


def replay_cells(agent, cell_count: int):
  """(visit counts per free cell, one-step move counts) of the cells the agent's replay holds, in
  storage order (one-hot observations)."""
  replay = agent.replay
  rows = (replay.oldest_row + np.arange(len(replay))) % replay.capacity
  observations = replay.stacks(rows)
  return (observations.sum(axis=0, dtype=np.float64),
          laplacian_grid.consecutive_moves(observations, cell_count))


def unit(column: np.ndarray) -> np.ndarray:
  return column / np.linalg.norm(column)


def check(base_dir: str):
  """(visited cells, overlap with the uniform oracle, with the replay-weighted one, per-option
  |cosines|) of one run."""
  agent = components.restore_trained(base_dir, 'agent')
  if agent.grid is None:
    sys.exit(f'{base_dir}: the agent has no DCEOAgent.grid_layout, so no grid to compare over')
  layout = agent.grid.layout
  if agent.grid.observation_type != 'one_hot':
    sys.exit(f'{base_dir}: the replay must hold one-hot observations to be read as cells')
  counts, moves = replay_cells(agent, len(gridworld.free_cells(layout)))
  visited = counts > 0
  dimension = agent.representation_dimension
  phi = agent.representation_values(agent.grid.cell_observations)[visited]
  uniform = laplacian_grid.visited_eigenvectors(layout, counts, dimension)[visited]
  weighted = laplacian_grid.visited_eigenvectors(layout, counts, dimension,
                                                 move_counts=moves)[visited]
  overlaps = [laplacian.subspace_overlap(phi, np.linalg.qr(oracle)[0], dimension)
              for oracle in (uniform, weighted)]
  cosines = [abs(float(unit(phi[:, e] - phi[:, e].mean()) @ unit(uniform[:, e])))
             for e in agent.option_eigenfunctions]
  return int(visited.sum()), *overlaps, cosines


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('runs', nargs='+')
  args = parser.parse_args()
  print('| run | visited cells | overlap, uniform oracle | overlap, replay-weighted oracle | '
        '|cos| per option with the uniform oracle |')
  print('|---|---|---|---|---|')
  results = []
  for base_dir in args.runs:
    results.append(check(base_dir))
    cells, uniform, weighted, cosines = results[-1]
    print(f'| {base_dir} | {cells} | {uniform:.3f} | {weighted:.3f} | '
          f'{", ".join(f"{c:.2f}" for c in cosines)} |', flush=True)
  medians = [float(np.median([result[column] for result in results])) for column in (1, 2)]
  option_medians = np.median([result[3] for result in results], axis=0)
  print(f'| median | | {medians[0]:.3f} | {medians[1]:.3f} | '
        f'{", ".join(f"{c:.2f}" for c in option_medians)} |')


if __name__ == '__main__':
  main()
