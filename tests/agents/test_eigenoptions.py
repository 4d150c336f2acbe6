"""The eigenoptions (agents/eigenoptions.py) against hand-computed numbers: their settings' check,
the running mean square, the reward with a rotation and a normalisation, the Procrustes and
Rayleigh-Ritz fits (against a grid's exact Laplacian) and the column matching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import eigenoptions
from discrete_domains import gridworld
from runner import errors


def test_default_eigenfunctions_skip_the_constant_one_unless_asked():
  assert eigenoptions.default_eigenfunctions(3, False) == (1, 2, 3)
  assert eigenoptions.default_eigenfunctions(3, True) == (0, 1, 2)


def test_checked_option_functions_fill_defaults_and_name_a_bad_setting():
  check = eigenoptions.checked_option_functions
  assert check(3, None, False, None, 4, 'Owner') == ((1, 2, 3), (1, 1, 1))
  assert check(2, [0, 3], True, [-1, 1], 4, 'Owner') == ((0, 3), (-1, 1))
  for eigenfunctions, signs, named in (((1, 4), None, 'option_eigenfunctions'),
                                       ((1,), None, 'option_eigenfunctions'),
                                       ((1, 2), (1, 0), 'option_signs'),
                                       ((1, 2), (1, -1, 1), 'option_signs')):
    with pytest.raises(errors.InvalidSettingError, match=f'Owner: {named}'):
      check(2, eigenfunctions, False, signs, 4, 'Owner')
  with pytest.raises(errors.InvalidSettingError, match='num_options >= 1'):
    check(0, None, False, None, 4, 'Owner')


def test_the_running_mean_square_starts_at_the_batchs_and_then_decays():
  values = np.array([[1.0, -2.0], [3.0, 0.0]], np.float32)
  # First update: the batch's own mean of squares, (1 + 9) / 2 and (4 + 0) / 2.
  first = eigenoptions.running_mean_square(jnp.ones(2), jnp.int32(0), values, None, 0.9)
  np.testing.assert_allclose(first, [5.0, 2.0])
  # Then 0.9 * previous + 0.1 * the batch's: weights (1, 3) give (1 + 27) / 4 and (4 + 0) / 4.
  second = eigenoptions.running_mean_square(first, jnp.int32(1), values,
                                            jnp.array([1.0, 3.0]), 0.9)
  np.testing.assert_allclose(second, [0.9 * 5 + 0.1 * 7, 0.9 * 2 + 0.1 * 1], rtol=1e-6)


def test_the_reward_climbs_the_turned_function_divided_by_its_rms():
  phi_state = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
  phi_next = np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)
  # Plain: column 1 of phi_next - phi_state.
  np.testing.assert_allclose(eigenoptions.intrinsic_reward(phi_state, phi_next, 1), [1.0, -1.0])
  # A quarter turn R = [[0, -1], [1, 0]]: (phi @ R)[:, 1] = -phi[:, 0]; reward -(0 - 1), -(1 - 0),
  # times 3, divided by sqrt(4).
  rotation = np.array([[0.0, -1.0], [1.0, 0.0]], np.float32)
  reward = eigenoptions.intrinsic_reward(phi_state, phi_next, jnp.int32(1), 3.0, rotation,
                                         jnp.array([9.0, 4.0]))
  np.testing.assert_allclose(reward, [1.5, -1.5])
  # A function still zero everywhere gives a finite reward, and no gradient reaches phi.
  assert np.isfinite(eigenoptions.intrinsic_reward(phi_state, phi_next, 0,
                                                   mean_square=jnp.zeros(2))).all()
  gradient = jax.grad(lambda phi: jnp.sum(eigenoptions.intrinsic_reward(phi, phi_next, 1)))(
      jnp.asarray(phi_state))
  np.testing.assert_array_equal(gradient, 0.0)


def test_procrustes_finds_the_turn_back_to_the_anchors_values():
  rng = np.random.default_rng(0)
  anchor = rng.standard_normal((30, 4))
  turn, _ = np.linalg.qr(rng.standard_normal((4, 4)))
  rotation = eigenoptions.procrustes_rotation(anchor @ turn, anchor)
  np.testing.assert_allclose(rotation, turn.T, atol=1e-10)
  np.testing.assert_allclose(rotation @ rotation.T, np.eye(4), atol=1e-10)


# An L-shaped corridor with a side room: no two of its smallest eigenvalues are equal.
RITZ_LAYOUT = """
#########
#S......#
#.####..#
#.####..#
#.#######
#...#####
#########
"""


def every_move(layout: str):
  """(cells, cells' successors) over every (cell, action): with walls as self-loops every cell
  has four moves, so the pairs weigh every cell alike and sum to the Laplacian's quadratic form."""
  following = gridworld.successors(layout)
  return np.repeat(np.arange(len(following)), following.shape[1]), following.ravel()


def test_ritz_turn_recovers_the_laplacians_eigenvectors_from_a_mixed_span():
  eigenvalues, eigenvectors = gridworld.laplacian_eigen(RITZ_LAYOUT)
  dimension = 5
  assert np.min(np.diff(eigenvalues[:dimension + 1])) > 1e-3  # distinct: each vector is unique
  # phi spans the 5 smallest eigenvectors, mixed by an invertible, non-orthogonal matrix.
  mixing = np.random.default_rng(0).standard_normal((dimension, dimension)) + 2 * np.eye(dimension)
  phi = eigenvectors[:, :dimension] @ mixing
  cells, following = every_move(RITZ_LAYOUT)
  turn = eigenoptions.ritz_turn(phi[cells], phi[following])
  functions = phi @ turn
  # Each column is an eigenvector in ascending order, scaled to a unit mean square over the cells.
  exact = eigenvectors[:, :dimension] * np.sqrt(len(phi))
  signs = np.sign(np.sum(functions * exact, axis=0))
  np.testing.assert_allclose(functions * signs, exact, atol=1e-4)  # up to the ridge
  # A span with more in it than the eigenvectors (here the next two, and a rough residual
  # direction) still gives the smallest ones first.
  residual = np.random.default_rng(1).standard_normal((len(phi), 1))
  wider = np.concatenate([eigenvectors[:, :dimension + 2], residual], axis=1) @ (
      np.random.default_rng(2).standard_normal((dimension + 3, dimension + 3)))
  functions = wider @ eigenoptions.ritz_turn(wider[cells], wider[following])
  overlap = np.abs(np.sum(functions[:, :3] * exact[:, :3], axis=0)) / len(phi)
  assert np.all(overlap > 0.99)
  # A phi of zeros has nothing to turn.
  np.testing.assert_array_equal(eigenoptions.ritz_turn(np.zeros((4, 3)), np.zeros((4, 3))),
                                np.eye(3))


def test_matched_columns_undo_a_permutation_and_signs():
  rng = np.random.default_rng(3)
  previous = rng.standard_normal((40, 4))
  current = previous[:, [2, 0, 3, 1]] * np.array([1.0, -1.0, -1.0, 1.0])
  current = current + 0.05 * rng.standard_normal(current.shape)  # refit, so not quite the same
  order, signs = eigenoptions.matched_columns(previous, current)
  np.testing.assert_array_equal(order, [1, 3, 0, 2])
  np.testing.assert_array_equal(signs, [-1.0, 1.0, 1.0, -1.0])
  with pytest.raises(errors.InvalidSettingError, match='3 previous columns against 4'):
    eigenoptions.matched_columns(previous[:, :3], current)


def test_option_runs_count_runs_and_round_trip_the_running_option():
  runs = eigenoptions.OptionRuns(num_options=3, option_prob=1.0, option_termination=0.0)
  rng = np.random.default_rng(0)
  first = runs.choose(rng, epsilon=1.0, episode_first_step=False)  # explores: an option starts
  assert first in (1, 2, 3) and runs.run_length == 1
  assert [runs.choose(rng, 1.0, False) for _ in range(4)] == [first] * 4  # never terminates
  restored = eigenoptions.OptionRuns(3, 1.0, 0.0)
  restored.load_state_dict(runs.state_dict())
  assert (restored.current, restored.run_length) == (first - 1, 5)
  second = runs.choose(rng, 1.0, episode_first_step=True)  # ends the run; another starts
  assert runs.run_length == 1
  statistics = runs.statistics()
  assert statistics['option_mean_duration'] == 5.0
  shares = np.zeros(3)
  shares[first - 1] += 5 / 6
  shares[second - 1] += 1 / 6
  np.testing.assert_allclose([statistics[f'option_{o}_share'] for o in range(3)], shares)
  assert runs.statistics() == {}  # counts reset by the call
  idle = eigenoptions.OptionRuns(3, 1.0, 0.0)
  assert idle.choose(rng, epsilon=0.0, episode_first_step=False) == 0  # no exploring, no option
  idle.load_state_dict(idle.state_dict())
  assert idle.current is None
