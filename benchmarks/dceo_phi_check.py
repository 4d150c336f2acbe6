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

Where phi misses the span, and where its options lead (`--by_visits`): the visited cells are split
into quarters by their replay visits, rarest first. For each quarter, the share of the uniform
oracle's span that phi misses there: the squared residual of the oracle's orthonormal basis
outside phi's column space, summed over the quarter's cells, over the quarter's share of the
basis (1: phi misses it all there, 0: none; the whole grid's figure is 1 - the overlap). And
where each option's function (phi @ R under an `option_alignment`) peaks: the
visit-count rank of its argmax cell among the visited cells (0: the rarest cell, 1: the most
visited), the rarer of its two ends (argmax or argmin), and the same rarer end for the oracle's
function e (whose sign a run fixes at random): whether the options lead where the agent has
seldom been, and whether phi's functions reach there at either end.

How rough the options' functions are (`--traps`): for each option's function f (phi @ R) over the
visited cells, its traps (GridSpectrum.local_maxima: cells no visited neighbour exceeds, where an
option climbing f greedily stalls), those of its projection onto the uniform oracle's span (f's
smooth part) and those of the oracle's own eigenvector e; and the residual f - projection as a
share of f's energy (sum of squares) and of its differences between neighbouring visited cells
(the share of the options' per-move reward that the residual makes).

What a learner of transitions can see (`--traversed`): the Laplacian of the graph of the moves
the replay made (each visited cell alike, an edge wherever the replay moved between two
neighbouring cells at least once, either way), against the uniform oracle, whose graph has every
move between visited neighbours: the share of those moves the replay never made, the traversed
graph's d smallest eigenvectors' overlap with the oracle's span, and for each option's
eigenfunction e the traps of the traversed graph's e-th eigenvector and its residual outside the
oracle's span (shares of energy and of neighbour differences, as `--traps`). A phi learned
perfectly from the replay's one-step pairs is at best this; if it is as rough as a learned phi,
the roughness is in the data, not in the learning.

Whether the options lead to the frontier (`--frontier`): the fewest moves from each option
function's argmax cell to a free cell the replay does not hold, the same from the nearer end of
the oracle's eigenvector e, the same from the argmax of the function's smooth part (its
projection onto the oracle's span, as `--traps`), and a visited cell's median for scale (-1 when
the replay holds every cell): covering options should peak next to what is not yet seen.
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


QUARTERS = 4


def missed_by_visits(phi: np.ndarray, oracle: np.ndarray, counts: np.ndarray) -> np.ndarray:
  """Per quarter of the cells by visits (rarest first): the share of the oracle's orthonormal
  basis there that lies outside phi's column space."""
  basis = np.linalg.qr(oracle)[0]
  phi_basis = np.linalg.qr(phi)[0]
  residual = np.sum((basis - phi_basis @ (phi_basis.T @ basis)) ** 2, axis=1)
  whole = np.sum(basis ** 2, axis=1)
  quarters = np.array_split(np.argsort(counts, kind='stable'), QUARTERS)
  return np.array([residual[q].sum() / whole[q].sum() for q in quarters])


def peak_ranks(functions: np.ndarray, counts: np.ndarray, both_ends: bool) -> np.ndarray:
  """Per column, the visit-count rank (0 rarest .. 1 most visited) of the cell where it peaks
  (with `both_ends`, the rarer of its argmax and argmin cells)."""
  ranks = np.argsort(np.argsort(counts, kind='stable'), kind='stable') / (len(counts) - 1)
  peaks = ranks[np.argmax(functions, axis=0)]
  if both_ends:
    peaks = np.minimum(peaks, ranks[np.argmin(functions, axis=0)])
  return peaks


def check(base_dir: str):
  """(visited cells, overlap with the uniform oracle, with the replay-weighted one, per-option
  |cosines|, the span missed per visit quarter, the options' and the oracle's peak ranks) of one
  run."""
  agent = components.restore_trained(base_dir, 'agent')
  if agent.grid is None:
    sys.exit(f'{base_dir}: the agent has no DCEOAgent.grid_layout, so no grid to compare over')
  layout = agent.grid.layout
  if agent.grid.observation_type != 'one_hot':
    sys.exit(f'{base_dir}: the replay must hold one-hot observations to be read as cells')
  counts, moves = replay_cells(agent, len(gridworld.free_cells(layout)))
  visited = counts > 0
  dimension = agent.representation_dimension
  cell_values = agent.representation_values(agent.grid.cell_observations)
  phi = cell_values[visited]
  uniform = laplacian_grid.visited_eigenvectors(layout, counts, dimension)[visited]
  weighted = laplacian_grid.visited_eigenvectors(layout, counts, dimension,
                                                 move_counts=moves)[visited]
  # The uniform oracle's overlap is the agent's own `visited_subspace_overlap`.
  overlaps = [agent.grid.visited_subspace_overlap(cell_values, counts),
              laplacian.subspace_overlap(phi, np.linalg.qr(weighted)[0], dimension)]
  cosines = [abs(float(unit(phi[:, e] - phi[:, e].mean()) @ unit(uniform[:, e])))
             for e in agent.option_eigenfunctions]
  # What each option climbs: its eigenfunction of phi @ R, times its sign.
  followed = agent.followed_functions(
      phi @ np.asarray(agent.state.extensions.get('option_rotation', np.eye(dimension))))
  eigenfunctions = list(agent.option_eigenfunctions)
  return (int(visited.sum()), *overlaps, cosines,
          missed_by_visits(phi, uniform, counts[visited]),
          peak_ranks(followed, counts[visited], both_ends=False),
          peak_ranks(followed, counts[visited], both_ends=True),
          peak_ranks(uniform[:, eigenfunctions], counts[visited], both_ends=True),
          roughness(agent.grid, followed, uniform, counts, eigenfunctions),
          frontier_distances(layout, visited, followed, uniform, eigenfunctions),
          traversed_graph(agent.grid, layout, counts, moves, uniform, eigenfunctions))


def traversed_graph(grid, layout: str, counts: np.ndarray, moves: np.ndarray,
                    uniform: np.ndarray, eigenfunctions):
  """(the share of moves between visited neighbours the replay never made, the traversed graph's
  overlap with the uniform oracle's span, and roughness() of its eigenvectors e) over the visited
  cells; `uniform` holds only their rows."""
  visited = counts > 0
  neighbours = gridworld.adjacency(layout)[np.ix_(visited, visited)] > 0
  np.fill_diagonal(neighbours, False)
  made = moves[np.ix_(visited, visited)]
  traversed = neighbours & ((made + made.T) > 0)
  edges = traversed.astype(np.float64)
  _, vectors = np.linalg.eigh(np.diag(edges.sum(axis=1)) - edges)
  dimension = uniform.shape[1]
  vectors = vectors[:, :dimension] * np.sqrt(visited.sum())  # a mean square of 1, as the oracle
  never_made = 1.0 - traversed.sum() / neighbours.sum()
  overlap = laplacian.subspace_overlap(vectors, np.linalg.qr(uniform)[0], dimension)
  return (float(never_made), float(overlap),
          roughness(grid, vectors[:, eigenfunctions], uniform, counts, eigenfunctions))


def frontier_distances(layout: str, visited: np.ndarray, functions: np.ndarray,
                       uniform: np.ndarray, eigenfunctions):
  """(the moves from each option function's argmax to the nearest cell the replay does not hold,
  the same from the nearer end of the oracle's eigenvector (its sign is free), and the median
  over all visited cells for scale, the same from the argmax of the function's projection onto
  the oracle's span); `functions` and `uniform` hold only the visited rows."""
  distance, _ = laplacian_grid.nearest_sources(gridworld.successors(layout),
                                              np.flatnonzero(~visited))
  distance = distance[visited]
  oracle = uniform[:, eigenfunctions]
  oracle_ends = np.minimum(distance[np.argmax(oracle, axis=0)],
                           distance[np.argmin(oracle, axis=0)])
  basis = np.linalg.qr(uniform)[0]
  smooth = basis @ (basis.T @ functions)
  return (distance[np.argmax(functions, axis=0)], oracle_ends, float(np.median(distance)),
          distance[np.argmax(smooth, axis=0)])


def roughness(grid, functions: np.ndarray, uniform: np.ndarray, counts: np.ndarray,
              eigenfunctions):
  """(traps of each function, of its projection onto the oracle's span, of the oracle's
  eigenvector; the residual's share of each function's energy, and of its differences between
  neighbouring visited cells), all over the visited cells; `functions` and `uniform` hold only
  their rows."""
  visited = counts > 0
  basis = np.linalg.qr(uniform)[0]
  smooth = basis @ (basis.T @ functions)
  residual = functions - smooth
  neighbours = np.triu(grid.neighbours[np.ix_(visited, visited)], k=1)
  first, second = np.nonzero(neighbours)

  def moves(values):
    return np.sum((values[first] - values[second]) ** 2, axis=0)

  def traps(values):
    padded = np.zeros((len(counts), values.shape[1]))
    padded[visited] = values
    return grid.local_maxima(padded, counts)

  return (traps(functions), traps(smooth), traps(uniform[:, eigenfunctions]),
          np.sum(residual ** 2, axis=0) / np.sum(functions ** 2, axis=0),
          moves(residual) / moves(functions))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('runs', nargs='+')
  parser.add_argument('--by_visits', action='store_true',
                      help='also where phi misses the span and where its options peak, by visits')
  parser.add_argument('--traps', action='store_true',
                      help='also how rough the options\' functions are: traps and residual shares')
  parser.add_argument('--traversed', action='store_true',
                      help='also the Laplacian of the moves the replay made, against the oracle\'s '
                           'of every move between visited cells')
  parser.add_argument('--frontier', action='store_true',
                      help='also how far from the cells the replay lacks the options\' functions '
                           'peak')
  args = parser.parse_args()
  print('| run | visited cells | overlap, uniform oracle | overlap, replay-weighted oracle | '
        '|cos| per option with the uniform oracle |')
  print('|---|---|---|---|---|')
  results = []
  for base_dir in args.runs:
    results.append(check(base_dir))
    cells, uniform, weighted, cosines = results[-1][:4]
    print(f'| {base_dir} | {cells} | {uniform:.3f} | {weighted:.3f} | '
          f'{", ".join(f"{c:.2f}" for c in cosines)} |', flush=True)
  medians = [float(np.median([result[column] for result in results])) for column in (1, 2)]
  option_medians = np.median([result[3] for result in results], axis=0)
  print(f'| median | | {medians[0]:.3f} | {medians[1]:.3f} | '
        f'{", ".join(f"{c:.2f}" for c in option_medians)} |')
  if args.by_visits:
    print_by_visits(args.runs, results)
  if args.traps:
    print_traps(args.runs, results)
  if args.frontier:
    print_frontier(args.runs, results)
  if args.traversed:
    print_traversed(args.runs, results)


def print_by_visits(runs, results):
  print('\n| run | span missed per visit quarter, rarest first | peak rank per option (0: the '
        'rarest cell): argmax | rarer end | the oracle\'s, rarer end |')
  print('|---|---|---|---|---|')
  for base_dir, result in zip(runs, results):
    print(f'| {base_dir} | {", ".join(f"{m:.2f}" for m in result[4])} | ' + ' | '.join(
        ', '.join(f'{r:.2f}' for r in column) for column in result[5:8]) + ' |')
  missed = np.median([result[4] for result in results], axis=0)
  ranks = [float(np.median(np.concatenate([result[column] for result in results])))
           for column in (5, 6, 7)]
  print(f'| median (over all options) | {", ".join(f"{m:.2f}" for m in missed)} | '
        + ' | '.join(f'{r:.2f}' for r in ranks) + ' |')


def print_traps(runs, results):
  print('\n| run | traps per option: its function | its smooth part | the oracle\'s | residual, '
        'share of the energy | share of the differences between neighbours |')
  print('|---|---|---|---|---|---|')
  for base_dir, result in zip(runs, results):
    traps, smooth, oracle, energy, moves = result[8]
    print(f'| {base_dir} | ' + ' | '.join(', '.join(str(int(t)) for t in column)
                                          for column in (traps, smooth, oracle))
          + ' | ' + ' | '.join(', '.join(f'{v:.2f}' for v in column) for column in (energy, moves))
          + ' |')
  medians = [float(np.median(np.concatenate([result[8][column] for result in results])))
             for column in range(5)]
  print('| median (over all options) | ' + ' | '.join(f'{m:g}' for m in medians[:3]) + ' | '
        + ' | '.join(f'{m:.2f}' for m in medians[3:]) + ' |')


def print_frontier(runs, results):
  print('\n| run | moves from each option\'s argmax to an unvisited cell | from the oracle\'s '
        'nearer end | from its smooth part\'s argmax | a visited cell\'s, median |')
  print('|---|---|---|---|---|')
  for base_dir, result in zip(runs, results):
    options, oracle, typical, smooth = result[9]
    print(f'| {base_dir} | ' + ' | '.join(', '.join(str(int(d)) for d in column)
                                          for column in (options, oracle, smooth))
          + f' | {typical:g} |')
  # A run whose replay holds every cell has no frontier (-1s): left out of the medians.
  framed = [result[9] for result in results if result[9][2] >= 0]
  medians = [float(np.median(np.concatenate([result[column] for result in framed])))
             for column in (0, 1, 3)]
  typical = float(np.median([result[2] for result in framed]))
  print(f'| median (over all options, {len(framed)} runs with a frontier) | '
        + ' | '.join(f'{m:g}' for m in medians) + f' | {typical:g} |')



def print_traversed(runs, results):
  print('\n| run | moves between visited neighbours never made | traversed graph\'s overlap with '
        'the oracle\'s span | traps per eigenvector e | residual, share of the energy | share of '
        'the differences between neighbours |')
  print('|---|---|---|---|---|---|')
  for base_dir, result in zip(runs, results):
    never_made, overlap, (traps, _, _, energy, moves) = result[10]
    print(f'| {base_dir} | {never_made:.2f} | {overlap:.3f} | '
          f'{", ".join(str(int(t)) for t in traps)} | '
          + ' | '.join(', '.join(f'{v:.2f}' for v in column) for column in (energy, moves)) + ' |')
  never_made, overlap = (float(np.median([result[10][column] for result in results]))
                         for column in (0, 1))
  traps, energy, moves = (float(np.median(np.concatenate([result[10][2][column]
                                                          for result in results])))
                          for column in (0, 3, 4))
  print(f'| median (over all options) | {never_made:.2f} | {overlap:.3f} | {traps:g} | '
        f'{energy:.2f} | {moves:.2f} |')


if __name__ == '__main__':
  main()
