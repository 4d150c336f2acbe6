"""The Laplacian representation's loss on tiny vectors worked by hand (d = 2, both norm
transforms), the subspace overlap on the exact eigenvectors of a grid, and those eigenvectors as a
fixed representation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents import laplacian
from agents import laplacian_grid
from discrete_domains import gridworld
from runner import errors

# d = 2: c = [2, 1, 0], so the positive weights are (2, 1) and every negative weight
# c_{k-1} - c_k is 1.
#
# Row 1: s = (1, 2), s' = (0, 1): positive = 2 * 1^2 + 1 * 1^2 = 3.
#        u = (1, 0), v = (2, 0): for k = 1 and k = 2 alike, u_k . v_k = 2, |u_k| = 1, |v_k| = 2;
#        squared (f(x) = x^2 / 2): 2 x (2^2 - 1/2 - 4/2) = 3;
#        log1p: 2 x (4 - log 2 - log 3) = 8 - 2 log 6.
# Row 2: s = (0, 0), s' = (0, 3): positive = 2 * 0 + 1 * 3^2 = 9.
#        u = (1, 0), v = (3, 4): k = 1: u_1 . v_1 = 3, |u_1| = 1, |v_1| = 3;
#                                k = 2: u . v = 3, |u| = 1, |v| = 5;
#        squared: (9 - 1/2 - 9/2) + (9 - 1/2 - 25/2) = 4 - 4 = 0;
#        log1p: (9 - log 2 - log 4) + (9 - log 2 - log 6) = 18 - log 96.
STATES = jnp.array([[1.0, 2.0], [0.0, 0.0]])
NEXT_STATES = jnp.array([[0.0, 1.0], [0.0, 3.0]])
U = jnp.array([[1.0, 0.0], [1.0, 0.0]])
V = jnp.array([[2.0, 0.0], [3.0, 4.0]])


def test_coefficients_count_down_to_zero():
  np.testing.assert_array_equal(laplacian.coefficients(3), [3, 2, 1, 0])


def test_positive_term_by_hand():
  np.testing.assert_allclose(laplacian.positive_term(STATES, NEXT_STATES), [3.0, 9.0])


def test_negative_term_squared_by_hand():
  np.testing.assert_allclose(laplacian.negative_term(U, V, 'squared'), [3.0, 0.0], atol=1e-6)


def test_negative_term_log1p_by_hand():
  np.testing.assert_allclose(laplacian.negative_term(U, V, 'log1p'),
                             [8 - 2 * math.log(6), 18 - math.log(96)], rtol=1e-6)


def test_loss_is_the_batch_mean_of_both_terms():
  # squared: positive (3 + 9) / 2 = 6, negative (3 + 0) / 2 = 1.5.
  loss, statistics = laplacian.laplacian_loss(STATES, NEXT_STATES, U, V, 'squared')
  np.testing.assert_allclose([loss, statistics['positive_loss'], statistics['negative_loss']],
                             [7.5, 6.0, 1.5], rtol=1e-6)
  # log1p: negative (26 - log(36 * 96)) / 2 = 13 - log(3456) / 2.
  loss, statistics = laplacian.laplacian_loss(STATES, NEXT_STATES, U, V, 'log1p')
  np.testing.assert_allclose(loss, 6 + 13 - math.log(3456) / 2, rtol=1e-6)
  assert statistics['loss'] == loss


def test_positive_weights_weigh_the_positive_mean_alone():
  # Weights (1, 3): positive (1 * 3 + 3 * 9) / 4 = 7.5; the negative mean stays (3 + 0) / 2.
  loss, statistics = laplacian.laplacian_loss(STATES, NEXT_STATES, U, V, 'squared',
                                              positive_weights=jnp.array([1.0, 3.0]))
  np.testing.assert_allclose([loss, statistics['positive_loss'], statistics['negative_loss']],
                             [9.0, 7.5, 1.5], rtol=1e-6)
  # Only the weights' ratios count.
  scaled, _ = laplacian.laplacian_loss(STATES, NEXT_STATES, U, V, 'squared',
                                       positive_weights=jnp.array([10.0, 30.0]))
  np.testing.assert_allclose(scaled, 9.0, rtol=1e-6)


def test_one_dimension_has_a_single_prefix():
  # d = 1: c = [1, 0]; positive (2 - 0)^2 = 4; negative (1 * 3)^2 - 1^2 / 1 - 3^2 / 1 = -1.
  loss, _ = laplacian.laplacian_loss(jnp.array([[2.0]]), jnp.array([[0.0]]), jnp.array([[1.0]]),
                                     jnp.array([[3.0]]), 'squared')
  np.testing.assert_allclose(loss, 3.0)


def test_unknown_norm_transform_is_named():
  with pytest.raises(errors.InvalidSettingError, match="'cube'"):
    laplacian.negative_term(U, V, 'cube')


@pytest.fixture(scope='module')
def eigenvectors():
  return gridworld.laplacian_eigen('open_5x5')[1]  # eigenvalues 0, .38, .38, .76 | 1.38, ...


def test_overlap_of_the_eigenvectors_themselves_is_one(eigenvectors):
  assert laplacian.subspace_overlap(eigenvectors[:, :4], eigenvectors, 4) == pytest.approx(1.0)


def test_overlap_ignores_rotations_and_scales_inside_the_span(eigenvectors):
  rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
  mixed = eigenvectors[:, :4] @ rotation @ np.diag([3.0, 0.5, 2.0, 7.0])
  assert laplacian.subspace_overlap(mixed, eigenvectors, 4) == pytest.approx(1.0)


def test_overlap_of_the_orthogonal_complement_is_zero(eigenvectors):
  assert laplacian.subspace_overlap(eigenvectors[:, 4:8], eigenvectors, 4) == pytest.approx(
      0.0, abs=1e-12)


def test_overlap_counts_the_shared_directions(eigenvectors):
  half = eigenvectors[:, [0, 1, 4, 5]]  # two of the four directions
  assert laplacian.subspace_overlap(half, eigenvectors, 4) == pytest.approx(0.5)


def test_overlap_rejects_mismatched_shapes(eigenvectors):
  with pytest.raises(errors.BadInputError, match='subspace_overlap'):
    laplacian.subspace_overlap(eigenvectors[:10, :4], eigenvectors, 4)


def test_the_exact_grid_representation_is_the_scaled_eigenvectors_at_each_cell():
  layout = '\n'.join(['#######', '#S.#..#', '#.....#', '#..#.G#', '#######'])  # a layout of ours
  cells = gridworld.free_cells(layout)
  _, eigenvectors = gridworld.laplacian_eigen(layout)
  observations = gridworld.cell_observations(layout, 'one_hot')
  for scale, expected_scale in ((None, math.sqrt(len(cells))), (2.0, 2.0)):
    representation = laplacian_grid.ExactGridRepresentation(layout=layout, dimension=3,
                                                            scale=scale)
    params = representation.init(jax.random.PRNGKey(0), observations)
    assert not jax.tree.leaves(params)  # nothing to learn
    np.testing.assert_allclose(representation.apply(params, observations),
                               eigenvectors[:, :3] * expected_scale, rtol=1e-5, atol=1e-6)
  # Each eigenfunction's mean square over the cells is 1 at the default scale.
  values = representation.apply(params, observations) / 2.0 * math.sqrt(len(cells))
  np.testing.assert_allclose(np.mean(np.square(values), axis=0), 1.0, rtol=1e-5)


def test_the_exact_grid_representation_refuses_other_observations_and_sizes():
  representation = laplacian_grid.ExactGridRepresentation(layout='open_5x5', dimension=2)
  with pytest.raises(errors.BadInputError, match='one-hot observations'):
    representation.init(jax.random.PRNGKey(0), np.zeros((1, 2), np.float32))
  with pytest.raises(errors.InvalidSettingError, match='more than the 25 free cells'):
    laplacian_grid.ExactGridRepresentation(layout='open_5x5', dimension=26).init(
        jax.random.PRNGKey(0), np.zeros((1, 25), np.float32))


# Three cells in a row, potential 0, 1, 2, discount 1/2. Moving right earns 1 per step until the
# last cell, where every move but left stays (reward 0): V = 1.5, 1, 0 from left to right.
UP, RIGHT, DOWN, LEFT = range(4)
CORRIDOR = '...\n###'


def test_eigenoption_values_by_hand_on_a_corridor():
  q_values = laplacian_grid.eigenoption_values(CORRIDOR, np.array([0.0, 1.0, 2.0]), 0.5)
  np.testing.assert_allclose(q_values[0], [0.75, 1.5, 0.75, 0.75], atol=1e-9)
  np.testing.assert_allclose(q_values[1], [0.5, 1.0, 0.5, -1 + 0.5 * 1.5], atol=1e-9)
  np.testing.assert_allclose(q_values[2], [0.0, 0.0, 0.0, -1 + 0.5 * 1.0], atol=1e-9)


def test_eigenoption_values_treat_unreachable_cells_as_walls():
  # Without the last cell the middle one is the top: V = 1, 0.
  q_values = laplacian_grid.eigenoption_values(CORRIDOR, np.array([0.0, 1.0, 2.0]), 0.5,
                                               reachable=np.array([True, True, False]))
  np.testing.assert_allclose(q_values[0, RIGHT], 1.0, atol=1e-9)
  np.testing.assert_allclose(q_values[1], [0.0, 0.0, 0.0, -1 + 0.5 * 1.0], atol=1e-9)


def test_eigenoption_values_refuse_a_potential_of_another_size_and_a_discount_of_one():
  with pytest.raises(errors.InvalidSettingError, match='3 free cells'):
    laplacian_grid.eigenoption_values(CORRIDOR, np.zeros(4), 0.5)
  with pytest.raises(errors.InvalidSettingError, match='discount'):
    laplacian_grid.eigenoption_values(CORRIDOR, np.zeros(3), 1.0)


ROW_OF_FIVE = '\n'.join(['#######', '#.....#', '#######'])  # five cells in a row


def test_nearest_sources_counts_the_moves_to_the_nearest_source_and_names_it():
  # Five cells in a row, sources at cells 0 and 3: by hand.
  moves, nearest = laplacian_grid.nearest_sources(gridworld.successors(ROW_OF_FIVE),
                                                  np.array([0, 3]))
  np.testing.assert_array_equal(moves, [0, 1, 1, 0, 1])
  np.testing.assert_array_equal(nearest, [0, 0, 3, 3, 3])
  # Two rooms no door joins: the other room's cells are not reached.
  apart = '\n'.join(['######', '#..#.#', '######'])
  moves, nearest = laplacian_grid.nearest_sources(gridworld.successors(apart), np.array([0]))
  np.testing.assert_array_equal(moves, [0, 1, -1])
  np.testing.assert_array_equal(nearest, [0, 0, -1])


def test_visited_eigenvectors_are_the_visited_paths_scaled_and_fill_the_unvisited_cells():
  # The first three cells visited: the path graph of 3 nodes, L = [[1,-1,0],[-1,2,-1],[0,-1,1]],
  # eigenvalues 0, 1, 3 with eigenvectors (1,1,1)/sqrt3, (1,0,-1)/sqrt2, (1,-2,1)/sqrt6.
  table = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, np.array([4, 1, 2, 0, 0]), 2)
  assert table.shape == (5, 2) and table.dtype == np.float32
  scale = math.sqrt(3)  # a mean square of 1 over the 3 visited cells
  np.testing.assert_allclose(np.abs(table[:3, 0]), np.full(3, 1 / math.sqrt(3)) * scale,
                             rtol=1e-6)
  np.testing.assert_allclose(np.abs(table[:3, 1]), np.array([1, 0, 1]) / math.sqrt(2) * scale,
                             rtol=1e-6, atol=1e-6)
  assert table[0, 1] == pytest.approx(-table[2, 1], rel=1e-6)
  # The unvisited cells 3 and 4 take the value of their nearest visited cell, 2.
  np.testing.assert_array_equal(table[3], table[2])
  np.testing.assert_array_equal(table[4], table[2])
  # Too few cells visited for the dimension: nothing to fit yet.
  assert laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, np.array([1, 1, 0, 0, 0]), 2) is None


def test_visited_eigenvectors_keep_the_previous_columns_order_and_sign():
  counts = np.array([1, 1, 1, 0, 0])
  table = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, counts, 2)
  previous = np.stack([-table[:, 1], table[:, 0]], axis=1)  # swapped, one negated
  matched = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, counts, 2, previous)
  np.testing.assert_allclose(matched, previous, rtol=1e-6, atol=1e-6)
  # One more cell visited: the path of 4 nodes' vectors, matched to the path of 3's.
  grown = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, np.array([1, 1, 1, 1, 0]), 2, previous)
  path4 = np.cos(np.pi * (np.arange(4) + 0.5) / 4) * math.sqrt(2)  # its Fiedler vector, unit
  np.testing.assert_allclose(np.abs(grown[:4, 0]), np.abs(path4), rtol=1e-5)
  assert np.sign(grown[0, 0]) == np.sign(previous[0, 0])  # decreasing along the corridor, as before
  np.testing.assert_allclose(np.abs(grown[:4, 1]), 1.0, rtol=1e-6)


def test_grid_spectrum_counts_visits_and_scores_phi_against_the_visited_cells_own_span():
  # An L-shaped layout of ours, row-column observations: cells (1,1), (1,2), (1,3), (2,3).
  layout = '\n'.join(['#####', '#...#', '###.#', '#####'])
  space = gridworld.observation_space(layout, 'row_col')
  spectrum = laplacian_grid.GridSpectrum(layout, space, 1)
  seen = np.array([[1, 1], [1, 2], [1, 1], [1, 2], [1, 1]], space.dtype)
  np.testing.assert_array_equal(spectrum.visit_counts(seen), [3, 2, 0, 0])
  with pytest.raises(errors.BadInputError, match='no free cell'):
    spectrum.visit_counts(np.array([[2, 1]], space.dtype))  # a wall
  # Two cells visited, d = 1: their graph's smallest eigenvector is constant, (1, 1)/sqrt2. A
  # phi constant over them spans it, whatever its values elsewhere; phi = (1, 0) there has
  # cos^2 = 1/2 with it.
  counts = spectrum.visit_counts(seen)
  assert spectrum.visited_subspace_overlap(np.array([[2.0], [2.0], [5.0], [-1.0]]),
                                           counts) == pytest.approx(1.0)
  assert spectrum.visited_subspace_overlap(np.array([[1.0], [0.0], [0.0], [0.0]]),
                                           counts) == pytest.approx(0.5)
  assert spectrum.visited_subspace_overlap(np.ones((4, 1)), np.array([1, 0, 0, 0])) is None


def test_visited_eigenvectors_leave_cells_no_visited_cell_reaches_at_zero():
  layout = '\n'.join(['########', '#...#..#', '########'])  # two rooms without a door
  table = laplacian_grid.visited_eigenvectors(layout, np.array([1, 1, 1, 0, 0]), 1)
  np.testing.assert_allclose(np.abs(table[:3, 0]), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(table[3:], 0.0)
  with pytest.raises(errors.InvalidSettingError, match='5 free cells'):
    laplacian_grid.visited_eigenvectors(layout, np.ones(4), 1)


def test_visited_eigenvectors_weighted_by_moves_and_visits_by_hand():
  # Visits rho = (1, 2, 1) over the first three cells and one move along each of their two edges
  # (the count of 5 from cell 2 to cell 0 is no move, a jump such as an episode's reset, and is
  # dropped): L = [[1,-1,0],[-1,2,-1],[0,-1,1]], D_rho = diag(1, 2, 1). L v = lambda D_rho v has
  # lambda 0 with v constant, then lambda 1 with v = (1, 0, -1) (lambda 2: (1, -1, 1)). Scaled
  # to sum rho v^2 / sum rho = 1: 1 everywhere, and (sqrt2, 0, -sqrt2).
  moves = np.zeros((5, 5))
  moves[0, 1] = moves[1, 2] = 1.0
  moves[2, 0] = 5.0
  table = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, np.array([1, 2, 1, 0, 0]), 2,
                                              move_counts=moves)
  np.testing.assert_allclose(np.abs(table[:3, 0]), 1.0, rtol=1e-6)
  np.testing.assert_allclose(np.abs(table[:3, 1]), [math.sqrt(2), 0.0, math.sqrt(2)], rtol=1e-6,
                             atol=1e-6)
  assert table[0, 1] == pytest.approx(-table[2, 1], rel=1e-6)
  np.testing.assert_array_equal(table[3:], table[[2, 2]])  # the unvisited fill, as unweighted
  # Unweighted, the same cells give (1, 0, -1) * sqrt(3 / 2): the weights change the vectors.
  uniform = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, np.array([1, 2, 1, 0, 0]), 2)
  assert abs(uniform[0, 1]) == pytest.approx(math.sqrt(1.5), rel=1e-6)


def test_the_replay_weighted_grid_representation_counts_consecutive_observations_as_moves():
  representation = laplacian_grid.VisitedGridRepresentation(layout=ROW_OF_FIVE, dimension=2,
                                                            weighted_by_replay=True)
  cells = gridworld.cell_observations(ROW_OF_FIVE, 'one_hot')
  params = representation.init(jax.random.PRNGKey(0), cells)
  seen = cells[[0, 1, 2, 1, 1, 0, 2]]  # moves 0-1 twice, 1-2 twice; 1 -> 1 and 0 -> 2 are none
  moves = np.zeros((5, 5))
  moves[0, 1] = moves[1, 2] = moves[2, 1] = moves[1, 0] = 1.0
  expected = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, np.array([2, 3, 2, 0, 0]), 2,
                                                 np.zeros((5, 2)), moves)
  np.testing.assert_allclose(representation.apply(representation.refreshed(params, seen), cells),
                             expected, rtol=1e-6)


def test_the_visited_grid_representation_learns_nothing_and_refits_to_its_observations():
  representation = laplacian_grid.VisitedGridRepresentation(layout=ROW_OF_FIVE, dimension=2)
  cells = gridworld.cell_observations(ROW_OF_FIVE, 'one_hot')
  params = representation.init(jax.random.PRNGKey(0), cells)
  np.testing.assert_array_equal(representation.apply(params, cells), 0.0)
  seen = cells[[0, 1, 1, 2, 0]]
  refit = representation.refreshed(params, seen)
  expected = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, seen.sum(axis=0), 2,
                                                 np.zeros((5, 2)))
  np.testing.assert_allclose(representation.apply(refit, cells), expected, rtol=1e-6)
  # No gradient moves the table.
  gradient = jax.grad(lambda p: representation.apply(p, cells).sum())(refit)
  np.testing.assert_array_equal(gradient['params']['table'], 0.0)
  assert representation.refreshed(params, cells[:2]) is params  # too few cells yet
  with pytest.raises(errors.BadInputError, match='one-hot observations'):
    representation.refreshed(params, np.zeros((3, 4), np.float32))


def test_the_visited_grid_oracle_can_leave_unseen_cells_random_mix_or_roughen_its_functions():
  cells = gridworld.cell_observations(ROW_OF_FIVE, 'one_hot')
  seen = cells[[0, 1, 1, 2, 0]]
  exact = laplacian_grid.visited_eigenvectors(ROW_OF_FIVE, seen.sum(axis=0), 2, np.zeros((5, 2)))
  random_unseen = laplacian_grid.VisitedGridRepresentation(
      layout=ROW_OF_FIVE, dimension=2, unvisited_values='random', diagnostic_seed=3)
  params = random_unseen.init(jax.random.PRNGKey(0), cells)
  first = np.asarray(random_unseen.apply(random_unseen.refreshed(params, seen), cells))
  np.testing.assert_allclose(first[:3], exact[:3], rtol=1e-6)  # the visited cells: the oracle's
  rng = np.random.default_rng(3)
  rng.standard_normal((2, 2))
  np.testing.assert_allclose(first[3:], rng.standard_normal((5, 2))[3:], rtol=1e-6)
  again = random_unseen.apply(random_unseen.refreshed(params, cells[[0, 1, 2, 3]]), cells)
  np.testing.assert_allclose(again[4], first[4], rtol=1e-6)  # still unvisited: the same draw
  assert not np.allclose(again[3], first[3])  # visited now: the oracle's value

  mixed = laplacian_grid.VisitedGridRepresentation(layout=ROW_OF_FIVE, dimension=2, mixed=True,
                                                   diagnostic_seed=3)
  values = np.asarray(mixed.apply(mixed.refreshed(params, seen), cells))
  q, r = np.linalg.qr(np.random.default_rng(3).standard_normal((2, 2)))
  np.testing.assert_allclose(values, exact @ (q * np.sign(np.diag(r))), rtol=1e-5, atol=1e-6)
  # A rotation: every pair of cells' inner product, hence the span, is the oracle's.
  np.testing.assert_allclose(values @ values.T, exact @ exact.T, rtol=1e-5, atol=1e-5)
  # Remixed: a new rotation at every refit, the k-th from (seed, k).
  remixed = laplacian_grid.VisitedGridRepresentation(layout=ROW_OF_FIVE, dimension=2,
                                                     remixed=True, diagnostic_seed=3)
  remixed_params = remixed.init(jax.random.PRNGKey(0), cells)
  for refits in (1, 2):
    remixed_params = remixed.refreshed(remixed_params, seen)
    q, r = np.linalg.qr(np.random.default_rng([3, refits]).standard_normal((2, 2)))
    np.testing.assert_allclose(remixed.apply(remixed_params, cells),
                               exact @ (q * np.sign(np.diag(r))), rtol=1e-5, atol=1e-6)
  # A fixed rough residual: the visited cells' values plus 0.1 times the third draw, the
  # unvisited ones their nearest visited cell's, at every refit the same.
  rough = laplacian_grid.VisitedGridRepresentation(layout=ROW_OF_FIVE, dimension=2,
                                                   residual_scale=0.1, diagnostic_seed=3)
  rng = np.random.default_rng(3)
  rng.standard_normal((2, 2))
  rng.standard_normal((5, 2))
  residual = 0.1 * rng.standard_normal((5, 2))
  rough_params = rough.refreshed(params, seen)
  np.testing.assert_allclose(rough.apply(rough_params, cells)[:3], (exact + residual)[:3],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(rough.apply(rough_params, cells)[3:], exact[3:], rtol=1e-5)
  np.testing.assert_allclose(rough.apply(rough.refreshed(rough_params, seen), cells)[:3],
                             (exact + residual)[:3], rtol=1e-5, atol=1e-6)
  with pytest.raises(errors.InvalidSettingError, match='unvisited_values'):
    laplacian_grid.VisitedGridRepresentation(layout=ROW_OF_FIVE, dimension=2,
                                             unvisited_values='zero').init(
                                                 jax.random.PRNGKey(0), cells)


def test_allo_loss_and_dual_step_by_hand():
  phi_state = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  phi_next = jnp.zeros((2, 2))  # graph drawing: (1 + 1) / 2 = 1
  phi_u = jnp.array([[2.0, 0.0], [0.0, 1.0]])  # inner products diag(2, 0.5): errors diag(1, -0.5)
  phi_v = jnp.array([[2.0, 0.0], [0.0, 0.0]])  # diag(2, 0): errors diag(1, -1)
  duals = jnp.array([[0.5, 0.0], [0.25, -1.0]])
  loss, statistics, estimate = laplacian.allo_loss(phi_state, phi_next, phi_u, phi_v, duals, 2.0)
  # duals . mean errors: 0.5 * 1 + 0.25 * 0 - 1 * -0.75 = 1.25; barrier 2 * (1 * 1 + -0.5 * -1) = 3
  assert float(statistics['positive_loss']) == pytest.approx(1.0)
  assert float(statistics['negative_loss']) == pytest.approx(4.25)
  assert float(loss) == pytest.approx(5.25)
  np.testing.assert_allclose(estimate, [[1.0, 0.0], [0.0, -0.75]])
  assert float(statistics['constraint_error']) == pytest.approx(1.5625)
  np.testing.assert_allclose(laplacian.allo_dual_step(duals, estimate, 0.1),
                             [[0.6, 0.0], [0.25, -1.075]], rtol=1e-6)
  np.testing.assert_allclose(laplacian.allo_eigenvalues(duals), [-0.125, 0.25])
  # Weighted positive pairs: (3 * 1 + 1 * 1) / 4 is still 1; (3 * 2 + 0) / 4 with a moved pair.
  weighted, _, _ = laplacian.allo_loss(phi_state, phi_state.at[0, 0].set(1 - math.sqrt(2)), phi_u,
                                       phi_v, duals, 2.0, jnp.array([3.0, 1.0]))
  assert float(weighted) == pytest.approx(1.5 + 4.25)


def test_allo_lets_each_function_answer_only_to_those_before_it():
  duals = jnp.array([[0.3, 0.0], [0.7, -0.2]])
  phi_u = jnp.array([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]])

  def first_column_gradient(second_column):
    def constraints(first):
      phi = jnp.stack([first, second_column], axis=1)
      return laplacian.allo_loss(phi[:1], phi[:1], phi, phi, duals, 2.0)[0]
    return jax.grad(constraints)(phi_u[:, 0])

  np.testing.assert_allclose(first_column_gradient(phi_u[:, 1]),
                             first_column_gradient(phi_u[:, 1] * 5.0 - 2.0), rtol=1e-6)


def test_allo_finds_each_eigenvector_and_its_eigenvalue_on_a_layout_of_ours():
  layout = '\n'.join(['#######', '#S....#', '#.#####', '#...G.#', '#######'])  # an S corridor
  successors = gridworld.successors(layout)
  eigenvalues, eigenvectors = gridworld.laplacian_eigen(layout)
  starts = np.repeat(np.arange(len(successors)), successors.shape[1])
  ends = successors.ravel()  # every move from every cell: the uniform random walk, exactly
  dimension = 4
  optimizer = optax.adam(1e-2)

  def step(carry, _):
    table, optimizer_state, duals = carry

    def loss(table):
      value, _, estimate = laplacian.allo_loss(table[starts], table[ends], table, table, duals,
                                               2.0)
      return value, estimate

    (_, estimate), gradients = jax.value_and_grad(loss, has_aux=True)(table)
    updates, optimizer_state = optimizer.update(gradients, optimizer_state)
    return (optax.apply_updates(table, updates), optimizer_state,
            laplacian.allo_dual_step(duals, estimate, 1e-2)), None

  table = jax.random.normal(jax.random.PRNGKey(0), (len(successors), dimension))
  (table, _, duals), _ = jax.lax.scan(
      step, (table, optimizer.init(table), jnp.zeros((dimension, dimension))), None, length=20000)
  table = np.asarray(table)
  # Each column its own eigenvector (not a rotation: these eigenvalues are distinct), in order.
  cosines = np.abs(np.sum(table * eigenvectors[:, :dimension], axis=0)
                   / np.linalg.norm(table, axis=0))
  np.testing.assert_array_less(0.999, cosines)
  np.testing.assert_allclose(np.mean(table ** 2, axis=0), 1.0, rtol=1e-2)
  np.testing.assert_allclose(4 * np.asarray(laplacian.allo_eigenvalues(duals)),
                             eigenvalues[:dimension], atol=1e-3)


def test_local_maxima_count_an_options_traps_over_the_visited_cells():
  # A 2 x 3 layout of ours, pixel observations; cells in order (1,1) (1,2) (1,3) (2,1) (2,2) (2,3),
  # each a neighbour of those beside and below or above it.
  layout = '\n'.join(['#####', '#...#', '#...#', '#####'])
  spectrum = laplacian_grid.GridSpectrum(layout, gridworld.observation_space(layout, 'pixels'), 1)
  values = np.array([[0, 3, 0],
                     [1, 2, 4],
                     [2, 1, 0],
                     [1, 3, 0],
                     [0, 4, 0],
                     [5, 5, 0]], float)
  # By hand, a trap is a cell no neighbour strictly exceeds:
  # column 0: (2,1) (its neighbours (1,1), (2,2) hold 0) and the top (2,3);
  # column 1: (1,1) (its neighbours hold 2 and an equal 3) and the top (2,3);
  # column 2: the top (1,2), and (2,1) and (2,3), whose neighbours all hold 0 as they do.
  np.testing.assert_array_equal(spectrum.local_maxima(values, np.ones(6)), [2, 2, 3])
  # Over the visited cells alone: with (2,3) unseen, column 0's (1,3) becomes a trap instead.
  assert spectrum.local_maxima(values[:, :1], np.array([1, 1, 1, 1, 1, 0]))[0] == 2
  # The corridor's first non-constant eigenvector, a cosine, has one trap.
  spectrum = laplacian_grid.GridSpectrum(
      ROW_OF_FIVE, gridworld.observation_space(ROW_OF_FIVE, 'one_hot'), 2)
  assert spectrum.local_maxima(spectrum.eigenvectors[:, 1:2], np.ones(5))[0] == 1
