"""A learned Laplacian representation against a grid world's exact one.

`GridSpectrum(layout, observation_space, dimension)` holds what the comparison needs: the free
cells' observations (of whichever observation type the space is), the exact eigenvalues and
eigenvectors of the layout's graph Laplacian (discrete_domains/gridworld.laplacian_eigen), and the
grid's shape. `subspace_overlap(cell_values)` scores phi's values over the cells (agents/laplacian.
subspace_overlap: 1 when phi spans the `dimension` smallest eigenvectors); `figure(cell_values,
count)` draws the first eigenfunctions, exact above learned, over the grid; `local_maxima` counts
a function's traps for an option that climbs it.

Both DCEO's offline representation learner (offline/laplacian) and the online DCEO agent
(agents/dceo.py) evaluate with it.

`eigenoption_values(layout, potential, discount, reachable)` is what an eigenoption should learn:
the optimal Q-values on the grid for the intrinsic reward potential(s') - potential(s), by value
iteration, against which a trained option's greedy actions are scored
(benchmarks/dceo_option_check.py).

`ExactGridRepresentation` is the other direction: the exact eigenvectors as a fixed phi over
one-hot observations, with no parameters to learn, for DCEO with an oracle representation
(`DCEOAgent.representation_network = @ExactGridRepresentation`): what its options do when the
representation is exactly right, apart from how well it is learned. It knows the whole grid,
unvisited cells included. `VisitedGridRepresentation` knows only what the agent has seen: the
exact eigenvectors of the cells its replay holds (`visited_eigenvectors`), refit by DCEO every
`refresh_period` training steps: the best a representation learned from the replay can do.
"""

from typing import Dict, Optional

import flax.linen as nn
import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from agents import eigenoptions
from agents import laplacian
from discrete_domains import gridworld
from runner import errors


def _require_dimension(owner: str, dimension: int, cell_count: int) -> None:
  """InvalidSettingError naming `owner` unless there are at least `dimension` free cells."""
  if dimension > cell_count:
    raise errors.InvalidSettingError(f'{owner}: dimension {dimension} is more than the '
                                     f'{cell_count} free cells of the layout')


class GridSpectrum:
  """The exact spectrum of `layout` and its free cells' observations in `observation_space`."""

  def __init__(self, layout: str, observation_space: gymnasium.Space, dimension: int,
               owner: str = 'GridSpectrum'):
    matching = [kind for kind in gridworld.OBSERVATION_TYPES
                if gridworld.observation_space(layout, kind) == observation_space]
    if not matching:
      raise errors.BadInputError(
          f'{owner}: the observation space {observation_space!r} is not a grid world\'s of the '
          f'layout {layout!r} (one-hot, row-column or pixel observations)')
    self.cells = gridworld.free_cells(layout)
    _require_dimension(owner, dimension, len(self.cells))
    self.layout = layout
    self.dimension = dimension
    self.observation_type = matching[0]
    self.cell_observations = gridworld.cell_observations(layout, self.observation_type)
    self.eigenvalues, self.eigenvectors = gridworld.laplacian_eigen(layout)
    self.grid_shape = gridworld.observation_space(layout, 'pixels').shape
    # Which free cells are one move apart (cells, cells), without the walls' self-loops.
    self.neighbours = gridworld.adjacency(layout) > 0
    np.fill_diagonal(self.neighbours, False)

  def subspace_overlap(self, cell_values: np.ndarray) -> float:
    """How much of the exact `dimension` smallest eigenvectors' span phi's values over the free
    cells, (cells, dimension) in the order of free_cells, span."""
    return laplacian.subspace_overlap(cell_values, self.eigenvectors, self.dimension)

  def visit_counts(self, observations: np.ndarray) -> np.ndarray:
    """How often each free cell (in the order of free_cells) appears among `observations`, the
    layout's observations of this observation type (e.g. a replay's)."""
    observations = np.ascontiguousarray(observations).reshape(len(observations), -1)
    index = {row.tobytes(): cell for cell, row in enumerate(
        self.cell_observations.reshape(len(self.cells), -1).astype(observations.dtype))}
    # A dict lookup per row's bytes: exact, and some 70x faster than np.unique(axis=0) on a
    # replay's 40k rows (it sorts them), as DCEO counts them every iteration.
    cells = np.array([index.get(row.tobytes(), -1) for row in observations], np.int64)
    unknown = np.flatnonzero(cells < 0)
    if len(unknown):
      raise errors.BadInputError(f'GridSpectrum: {observations[unknown[0]].tolist()} is no free '
                                 f'cell\'s {self.observation_type} observation in this layout')
    return np.bincount(cells, minlength=len(self.cells))

  def visited_subspace_overlap(self, cell_values: np.ndarray,
                               visit_counts: np.ndarray) -> Optional[float]:
    """How much of the span of the visited cells' graph Laplacian's `dimension` smallest
    eigenvectors (visited_eigenvectors, every visited cell alike) phi's values span over those
    cells: what a phi learned from the replay can reach while the grid is partly explored.
    None while `dimension` or fewer cells are visited."""
    oracle = visited_eigenvectors(self.layout, visit_counts, self.dimension)
    if oracle is None:
      return None
    visited = np.asarray(visit_counts) > 0
    return laplacian.subspace_overlap(cell_values[visited], np.linalg.qr(oracle[visited])[0],
                                      self.dimension)

  def local_maxima(self, cell_values: np.ndarray, visit_counts: np.ndarray) -> np.ndarray:
    """Per column of `cell_values` (cells, functions), how many visited cells no visited
    neighbour exceeds: the traps of an option that climbs the function greedily over what the
    agent has seen. The exact eigenvectors of a connected graph's smallest eigenvalues have few
    (one for the first non-constant one on a corridor); a learned function's rough errors add
    more."""
    visited = np.asarray(visit_counts) > 0
    values = np.asarray(cell_values, np.float64)[visited]
    neighbours = self.neighbours[np.ix_(visited, visited)]
    # A cell is a trap unless some neighbour's value is strictly above its own.
    exceeded = np.any(neighbours[:, :, None] & (values[None, :, :] > values[:, None, :]), axis=1)
    return np.sum(~exceeded, axis=0)

  def statistics(self, cell_values: np.ndarray, replay_observations: Optional[np.ndarray] = None,
                 followed: Optional[np.ndarray] = None) -> Dict[str, float]:
    """'subspace_overlap' of phi's values over the cells; given the observations a replay holds,
    also 'visited_subspace_overlap' (once more than `dimension` cells are visited) and, given the
    functions the options follow over the cells (cells, options), 'option_function_traps', the
    mean of their local_maxima over the visited cells."""
    statistics = {'subspace_overlap': self.subspace_overlap(cell_values)}
    if replay_observations is None:
      return statistics
    counts = self.visit_counts(replay_observations)
    visited_overlap = self.visited_subspace_overlap(cell_values, counts)
    if visited_overlap is not None:
      statistics['visited_subspace_overlap'] = visited_overlap
    if followed is not None:
      statistics['option_function_traps'] = float(np.mean(self.local_maxima(followed, counts)))
    return statistics

  def figure(self, cell_values: np.ndarray, count: int):
    """The first `count` exact eigenvectors (top row) and learned eigenfunctions (below) over
    the grid, walls blank; a matplotlib Figure. The learned ones may come in another order,
    sign or rotation inside the span (the loss fixes the subspace, and a repeated eigenvalue's
    vectors only up to a rotation)."""
    from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

    count = min(count, cell_values.shape[1])
    figure = Figure(figsize=(2.2 * count, 4.6), dpi=80)
    axes = figure.subplots(2, count, squeeze=False)
    rows, columns = np.array(self.cells).T
    for index in range(count):
      for row, (values, title) in enumerate((
          (self.eigenvectors[:, index], f'exact {index} (λ={self.eigenvalues[index]:.3f})'),
          (cell_values[:, index], f'learned {index}'))):
        image = np.full(self.grid_shape, np.nan)
        image[rows, columns] = values
        axis = axes[row, index]
        # Symmetric limits around 0: a constant eigenvector is one colour, not amplified noise.
        limit = max(float(np.max(np.abs(values))), 1e-12)
        axis.imshow(image, cmap='coolwarm', vmin=-limit, vmax=limit)
        axis.set_title(title, fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return figure


def eigenoption_values(layout: str, potential: np.ndarray, discount: float,
                       reachable: Optional[np.ndarray] = None, tolerance: float = 1e-10,
                       max_sweeps: int = 100_000) -> np.ndarray:
  """Q*(cell, action), (cells, 4) in the order of free_cells, of the grid world's deterministic
  moves for the one-step reward potential[s'] - potential[s] (an eigenoption's with potential the
  eigenfunction over the free cells), discounted by `discount` < 1, by value iteration until the
  values move less than `tolerance`. A move into a wall stays put (reward 0), and so does a move
  into a cell outside `reachable` (a boolean mask over the free cells, e.g. those training
  visited: what an option could have learned from its data); None: every cell."""
  cells = gridworld.free_cells(layout)
  potential = np.asarray(potential, np.float64)
  if potential.shape != (len(cells),):
    raise errors.InvalidSettingError(f'eigenoption_values: the potential has shape '
                                     f'{potential.shape}, the layout {len(cells)} free cells')
  if not 0.0 <= discount < 1.0:
    raise errors.InvalidSettingError(f'eigenoption_values needs a discount in [0, 1), got '
                                     f'{discount}')
  reachable = np.ones(len(cells), bool) if reachable is None else np.asarray(reachable, bool)
  successors = gridworld.successors(layout)
  successors = np.where(reachable[successors], successors, np.arange(len(cells))[:, None])
  rewards = potential[successors] - potential[:, None]
  values = np.zeros(len(cells))
  for _ in range(max_sweeps):
    q_values = rewards + discount * values[successors]
    new_values = q_values.max(axis=1)
    if np.max(np.abs(new_values - values)) < tolerance:
      break
    values = new_values
  return rewards + discount * new_values[successors]


@gin.configurable
class ExactGridRepresentation(nn.Module):
  """phi(s) = scale * (the `dimension` smallest eigenvectors of `layout`'s graph Laplacian at s),
  for one-hot observations of the layout's free cells; no parameters. `scale` None: the square
  root of the number of free cells, so each eigenfunction's mean square over the cells is 1 (a
  unit eigenvector's entries are about 1 / sqrt(cells), a per-step intrinsic reward that small
  against the learned phi's)."""
  layout: str
  dimension: int
  scale: Optional[float] = None

  def setup(self):
    cells = gridworld.free_cells(self.layout)
    _require_dimension('ExactGridRepresentation', self.dimension, len(cells))
    _, eigenvectors = gridworld.laplacian_eigen(self.layout)
    scale = np.sqrt(len(cells)) if self.scale is None else self.scale
    self.table = jnp.asarray(eigenvectors[:, :self.dimension] * scale, jnp.float32)

  def __call__(self, observations: jnp.ndarray) -> jnp.ndarray:
    _one_hot_cells('ExactGridRepresentation', observations, self.table.shape[0])
    return observations.astype(jnp.float32) @ self.table


def _one_hot_cells(owner: str, observations, cell_count: int) -> None:
  """BadInputError naming `owner` unless `observations` are (batch, cell_count)."""
  if observations.ndim != 2 or observations.shape[-1] != cell_count:
    raise errors.BadInputError(
        f"{owner} needs one-hot observations of the layout's {cell_count} free cells, "
        f'(batch, {cell_count}); got {observations.shape}')


def nearest_sources(following: np.ndarray, sources: np.ndarray):
  """A breadth-first search over a grid's moves out from the free cells `sources` (indices):
  (the fewest moves from each free cell to a source, its nearest source), both (cells,) ints, -1
  where no source is reached. `following` is gridworld.successors(layout); moves on a grid are
  symmetric, so the cells a cell leads to are those it is reached from."""
  moves = np.full(len(following), -1)
  nearest = np.full(len(following), -1)
  moves[sources], nearest[sources] = 0, sources
  frontier, step = np.asarray(sources), 0
  while len(frontier):
    # One layer: each newly reached cell takes the source of the cell it was first reached from.
    step += 1
    origins = np.repeat(frontier, following.shape[1])
    reached = following[frontier].ravel()
    new = nearest[reached] < 0
    reached, origins = reached[new], origins[new]
    reached, first = np.unique(reached, return_index=True)
    nearest[reached], moves[reached] = nearest[origins[first]], step
    frontier = reached
  return moves, nearest


def visited_eigenvectors(layout: str, visit_counts: np.ndarray, dimension: int,
                         previous: Optional[np.ndarray] = None,
                         move_counts: Optional[np.ndarray] = None,
                         fill_unvisited: bool = True) -> Optional[np.ndarray]:
  """The `dimension` smallest eigenvectors of the graph Laplacian of `layout`'s visited cells
  (visit_counts > 0, over the free cells in the order of free_cells): L = D - A of the graph
  the visited cells and the moves between them make, each vector scaled to a mean square of 1
  over the visited cells. Returns (cells, dimension) float32, or None while `dimension` or fewer
  cells are visited.

  Every unvisited cell takes the value of its nearest visited cell (breadth first over the
  grid's moves; cells no visited cell reaches stay 0), so that stepping into a new cell neither
  rewards nor punishes an option; with `fill_unvisited` False they stay 0. Given `previous`
  (cells, dimension), e.g. the table of the last refit, the new vectors are matched to its
  columns, in order and sign, over the visited cells (the assignment maximising the summed
  |inner products|): eigh's signs and the order of near-equal eigenvalues are arbitrary, and an
  option must keep following the same function.

  Given `move_counts` (cells, cells), how often each move between free cells was made, the graph
  is weighted as a learner of the Laplacian objective sees it from its data: each edge by its
  moves' count (both ways), and the vectors solve the generalised problem L v = lambda D_rho v
  with rho the visit counts, scaled to a mean square of 1 under rho. That is what the
  representation loss (agents/laplacian.py) converges to over the same data with one-step
  positive pairs; DCEO's n-step pairs give the n-step walk's graph, with the same eigenvectors
  when the walk is the same at every step.
  """
  following = gridworld.successors(layout)
  visit_counts = np.asarray(visit_counts)
  if visit_counts.shape != (len(following),):
    raise errors.InvalidSettingError(f'visited_eigenvectors: visit counts of shape '
                                     f'{visit_counts.shape} for {len(following)} free cells')
  visited = np.flatnonzero(visit_counts > 0)
  if len(visited) <= dimension:
    return None
  # The moves between visited cells; self-loops sit in D and A alike and cancel in D - A.
  moves = gridworld.adjacency(layout)[np.ix_(visited, visited)]
  if move_counts is None:
    _, eigenvectors = np.linalg.eigh(np.diag(moves.sum(axis=1)) - moves)
    vectors = eigenvectors[:, :dimension] * np.sqrt(len(visited))
  else:
    made = np.asarray(move_counts, np.float64)[np.ix_(visited, visited)] * (moves > 0)
    made = made + made.T
    np.fill_diagonal(made, 0.0)
    rho = visit_counts[visited].astype(np.float64)
    # eigh's generalised eigenvectors have v^T D_rho v = 1; scaled to mean square 1 under rho.
    _, eigenvectors = scipy.linalg.eigh(np.diag(made.sum(axis=1)) - made, np.diag(rho))
    vectors = eigenvectors[:, :dimension] * np.sqrt(rho.sum())
  if previous is not None:
    order, signs = eigenoptions.matched_columns(np.asarray(previous)[visited], vectors)
    vectors = vectors[:, order] * signs
  table = np.zeros((len(following), dimension))
  table[visited] = vectors
  if not fill_unvisited:
    return table.astype(np.float32)
  _, nearest = nearest_sources(following, visited)
  filled = nearest >= 0
  table[filled] = table[nearest[filled]]
  return table.astype(np.float32)


def consecutive_moves(observations: np.ndarray, cell_count: int) -> np.ndarray:
  """(cells, cells) counts of the moves between consecutive one-hot observations (e.g. a replay's
  rows in storage order), for `visited_eigenvectors`' `move_counts`. An episode's end and the next
  one's start are rarely one move apart; the adjacency there drops such jumps."""
  cells = np.argmax(observations, axis=1)
  move_counts = np.zeros((cell_count, cell_count))
  np.add.at(move_counts, (cells[:-1], cells[1:]), 1.0)
  return move_counts


@gin.configurable
class VisitedGridRepresentation(nn.Module):
  """phi(s) = the exact eigenvectors of the visited cells' graph (`visited_eigenvectors`) at s,
  for one-hot observations of `layout`'s free cells: an oracle of the visited set, which knows
  nothing of the cells not yet seen. Its table is a parameter (zeros at first) that no gradient
  moves; DCEO replaces it every `refresh_period` training steps with `refreshed`, from the
  observations its replay holds, each refit matched to the last. `weighted_by_replay` weighs the
  graph as the replay does (`visited_eigenvectors`' `move_counts`, consecutive observations
  counted as moves): the oracle of what DCEO's learned phi converges to on the same replay.

  Four switches take one property of the oracle away at a time, to tell which a learned phi
  lacks:
  - `unvisited_values = 'random'`: each cell not yet visited keeps a fixed standard normal value
    per function (drawn from `diagnostic_seed`), as a learned phi over one-hot observations keeps
    its initial output there, instead of its nearest visited cell's ('nearest');
  - `mixed = True`: phi's functions are mixed by a fixed random rotation (from
    `diagnostic_seed`): the same span, as a learned phi that has not separated the eigenvectors,
    but no function an eigenvector;
  - `remixed = True`: the same, with a new random rotation at every refit (the k-th from
    (`diagnostic_seed`, k)): each option's function jumps within the span every
    `refresh_period` steps, as a learned phi's may drift within it;
  - `residual_scale` > 0: each visited cell's value gets a fixed standard normal number times
    `residual_scale` per function (drawn from `diagnostic_seed`, after the switches above): the
    exact functions made rough, as a learned phi's residual outside the span makes its functions
    (at 0.1 on the maze it makes about 0.6 of their per-move differences, as a learned phi's
    does, and some 24 local maxima per function: benchmarks/DCEO_EXPLORATION.md).
  """
  layout: str
  dimension: int
  refresh_period: int = 250
  weighted_by_replay: bool = False
  unvisited_values: str = 'nearest'
  mixed: bool = False
  remixed: bool = False
  residual_scale: float = 0.0
  diagnostic_seed: int = 0

  def setup(self):
    if self.unvisited_values not in ('nearest', 'random'):
      raise errors.InvalidSettingError(
          f"VisitedGridRepresentation.unvisited_values must be 'nearest' or 'random'; got "
          f'{self.unvisited_values!r}')
    cell_count = len(gridworld.free_cells(self.layout))
    _require_dimension('VisitedGridRepresentation', self.dimension, cell_count)
    self.table = self.param('table', nn.initializers.zeros, (cell_count, self.dimension))
    rotation = (_random_rotation(self._diagnostic_rng(), self.dimension) if self.mixed
                else np.eye(self.dimension))
    if self.remixed:  # redrawn at each refit: a parameter that no gradient moves
      self.rotation = self.param('rotation', lambda key: jnp.asarray(rotation, jnp.float32))
      self.refits = self.param('refits', lambda key: jnp.zeros((), jnp.float32))  # a count
    else:
      self.rotation = jnp.asarray(rotation, jnp.float32)

  def __call__(self, observations: jnp.ndarray) -> jnp.ndarray:
    _one_hot_cells('VisitedGridRepresentation', observations, self.table.shape[0])
    return (observations.astype(jnp.float32) @ jax.lax.stop_gradient(self.table)
            @ jax.lax.stop_gradient(self.rotation))

  @nn.nowrap
  def _diagnostic_rng(self) -> np.random.Generator:
    return np.random.default_rng(self.diagnostic_seed)

  @nn.nowrap
  def refreshed(self, params, observations: np.ndarray):
    """`params` with the table refit to the cells `observations` (one-hot, e.g. the replay's)
    visit; unchanged while too few cells are visited."""
    previous = np.asarray(params['params']['table'])
    _one_hot_cells('VisitedGridRepresentation', observations, previous.shape[0])
    observations = np.asarray(observations)
    move_counts = (consecutive_moves(observations, previous.shape[0]) if self.weighted_by_replay
                   else None)
    visit_counts = observations.sum(axis=0)
    nearest = self.unvisited_values == 'nearest'
    table = visited_eigenvectors(self.layout, visit_counts, self.dimension, previous,
                                 move_counts, fill_unvisited=nearest)
    if table is None:
      return params
    if not nearest or self.residual_scale:
      # Each switch's numbers are drawn in one order whatever the others, so they combine
      # reproducibly: the rotation's, the unvisited cells', the residual's.
      rng = self._diagnostic_rng()
      rng.standard_normal((self.dimension,) * 2)
      unvisited_draws = rng.standard_normal(table.shape).astype(np.float32)
      unvisited = visit_counts == 0
      if not nearest:
        table[unvisited] = unvisited_draws[unvisited]
      if self.residual_scale:
        table[~unvisited] += (self.residual_scale * rng.standard_normal(table.shape)).astype(
            np.float32)[~unvisited]
    refit = {'table': jnp.asarray(table)}
    if self.remixed:
      refits = int(params['params']['refits']) + 1
      rotation = _random_rotation(np.random.default_rng([self.diagnostic_seed, refits]),
                                  self.dimension)
      refit.update(refits=jnp.asarray(refits, jnp.float32),
                   rotation=jnp.asarray(rotation, jnp.float32))
    return {**params, 'params': {**params['params'], **refit}}


def _random_rotation(rng: np.random.Generator, dimension: int) -> np.ndarray:
  """A uniformly random orthogonal matrix: QR of a Gaussian one, signs corrected."""
  q, r = np.linalg.qr(rng.standard_normal((dimension, dimension)))
  return q * np.sign(np.diag(r))
