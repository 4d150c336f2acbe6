"""GOMLearner: the TD target's pure pieces by hand, gamma = 0 collapsing the outcomes onto the
cumulants after training, the two outcomes of the branching graph, the gradient normalisation,
checkpoints and split invariance, and bad settings and data."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import base as agent_base
from offline.gom import learner as gom_learner
from offline.gom import model as gom_model
from runner import errors
from tests.offline.gom import branching


# Small networks and one DDIM step, for the tests of bookkeeping and checks alone.
BOOKKEEPING = {**branching.TINY, 'outcome_dims': (8,), 'policy_dims': (8,), 'time_embedding_dim': 4,
               'diffusion_steps': 25, 'sampling_steps': 1}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  return branching.trained_learner(str(tmp_path_factory.getbasetemp() / 'gom_branching'))


def test_outcome_targets_are_the_cumulants_plus_the_discounted_next_outcome():
  phi = jnp.array([[1.0, 2.0], [3.0, 4.0]])
  next_psi = jnp.array([[10.0, 20.0], [30.0, 40.0]])
  targets = gom_model.outcome_targets(phi, next_psi, 0.5, jnp.array([0.0, 1.0]))
  # The second transition terminates: its future is absorbing at zero cumulants.
  np.testing.assert_allclose(targets, [[6.0, 12.0], [3.0, 4.0]])
  np.testing.assert_allclose(gom_model.outcome_targets(phi, next_psi, 0.0, jnp.zeros(2)), phi)


def test_psi_scaling_round_trips_and_widens_an_empty_range():
  networks = gom_model.GOMNetworks(None, None, None, 0.9, 1, 1.0)
  low, high = gom_model.psi_bounds(networks, jnp.array([-1.0, 0.5, 0.0]),
                                   jnp.array([1.0, 0.5, 1.0]))
  np.testing.assert_allclose(low, [-10.0, 5.0, 0.0], rtol=1e-6)
  np.testing.assert_allclose(high, [10.0, 6.0, 10.0], rtol=1e-6)
  psi = jnp.array([[-10.0, 5.5, 10.0]])
  np.testing.assert_allclose(gom_model.scale_psi(psi, low, high), [[-1.0, 0.0, 1.0]], atol=1e-6)
  np.testing.assert_allclose(gom_model.unscale_psi(gom_model.scale_psi(psi, low, high), low, high),
                             psi, rtol=1e-6)


def test_gradients_are_rescaled_to_unit_global_norm_up_or_down():
  normalize = gom_learner.normalize_by_global_norm(1.0)
  for scale in (1e-3, 1e3):
    gradients = {'a': jnp.array([3.0, 0.0]) * scale, 'b': jnp.array([4.0]) * scale}
    updates, _ = normalize.update(gradients, normalize.init(gradients))
    np.testing.assert_allclose(updates['a'], [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(updates['b'], [0.8], rtol=1e-5)


def test_the_ema_moves_a_share_of_the_way_to_the_parameters():
  ema = gom_learner.ema_update({'w': jnp.array([0.0, 10.0])}, {'w': jnp.array([1.0, 0.0])}, 0.9)
  np.testing.assert_allclose(ema['w'], [0.1, 9.0], rtol=1e-6)


def test_actions_are_mapped_onto_the_unit_box():
  space = gymnasium.spaces.Box(np.array([0.0, -2.0], np.float32), np.array([1.0, 2.0], np.float32))
  np.testing.assert_allclose(gom_learner.unit_actions(np.array([[0.5, 2.0], [0.0, -1.0]]), space),
                             [[0.0, 1.0], [-1.0, -0.5]])


def test_gamma_zero_makes_the_sampled_outcomes_collapse_to_the_cumulants(tmp_path):
  learner = gom_learner.GOMLearner(
      branching.OBSERVATIONS, branching.ACTIONS, seed=0,
      dataset=branching.branching_graph(str(tmp_path / 'data')), **{**branching.TINY, 'gamma': 0.0})
  learner.train(800)
  model = learner.export()
  states = np.array([[0.0], [1.0], [-1.0]])
  psi = model.sample_psi(states, 64, jax.random.PRNGKey(0))
  phi = model.features(states)
  # Every cumulant is in [-1, 1]: an error of 0.1 is small against the spread between states.
  assert np.abs(phi[0] - phi[1]).max() > 0.5
  np.testing.assert_allclose(np.median(psi, axis=1), phi, atol=0.1)
  assert np.quantile(np.abs(psi - phi[:, None]).max(-1), 0.9) < 0.25


def test_outcomes_from_the_branch_point_are_the_two_branches(trained):
  model = trained.export()
  phi = model.features(np.array([[0.0], [1.0], [-1.0]]))
  ratio = branching.GAMMA / (1 - branching.GAMMA)
  branches = np.stack([phi[0] + ratio * phi[1], phi[0] + ratio * phi[2]])
  psi = model.sample_psi(np.array([[0.0]]), 256, jax.random.PRNGKey(1))[0]
  distances = np.abs(psi[:, None] - branches[None]).max(-1)  # [samples, 2]
  nearest = distances.argmin(1)
  # psi spans up to 1 / (1 - gamma) = 5 per cumulant: 0.5 is a tenth of the range.
  assert np.median(distances.min(1)) < 0.5
  assert 0.25 < np.mean(nearest == 0) < 0.75  # both branches, about equally likely
  # From an absorbing state the outcome is certain: phi(s) / (1 - gamma), the TD fixed point.
  absorbing = model.sample_psi(np.array([[1.0], [-1.0]]), 64, jax.random.PRNGKey(2))
  for psi_samples, phi_row in zip(absorbing, phi[1:]):
    assert np.median(np.abs(psi_samples - phi_row / (1 - branching.GAMMA)).max(-1)) < 0.5
  statistics = trained.evaluate(0)
  assert statistics['constant_cumulant_error'] < 0.05
  assert set(statistics) == {'validation_outcome_loss', 'validation_policy_loss',
                             'constant_cumulant_error'}


def test_training_is_split_invariant_and_checkpoints_restore_it(tmp_path):
  data = branching.branching_graph(str(tmp_path / 'data'))
  settings = {**BOOKKEEPING, 'steps_per_call': 10}
  make = lambda: gom_learner.GOMLearner(branching.OBSERVATIONS, branching.ACTIONS, seed=3,  # noqa: E731
                                        dataset=data, **settings)
  whole, split = make(), make()
  whole.train(20)
  split.train(10)
  bundle = split.bundle_and_checkpoint(str(tmp_path), 0)
  split.train(10)
  expected = jax.tree.map(np.asarray, whole.state)
  for left, right in zip(jax.tree.leaves(expected), jax.tree.leaves(split.state)):
    np.testing.assert_allclose(left, np.asarray(right), rtol=1e-5, atol=1e-6)
  # Restored from step 10 (into a learner that had gone further), it continues as they did.
  assert whole.unbundle(str(tmp_path), 0, bundle) and whole.training_steps == 10
  whole.train(10)
  for left, right in zip(jax.tree.leaves(expected), jax.tree.leaves(whole.state)):
    np.testing.assert_allclose(left, np.asarray(right), rtol=1e-5, atol=1e-6)


def test_bad_settings_and_data_are_named(tmp_path):
  box = gymnasium.spaces.Box(-np.inf, np.inf, (3,), np.float32)
  with pytest.raises(errors.InvalidSettingError, match='state_slice'):
    gom_learner.GOMLearner(box, branching.ACTIONS, state_slice=(2, 5), **BOOKKEEPING)
  with pytest.raises(errors.InvalidSettingError, match='gamma'):
    gom_learner.GOMLearner(box, branching.ACTIONS, **{**BOOKKEEPING, 'gamma': 1.0})
  unbounded = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
  with pytest.raises(agent_base.IncompatibleSpaceError, match='GOMLearner.*finite bounds'):
    gom_learner.GOMLearner(box, unbounded, **BOOKKEEPING)
  data = branching.branching_graph(str(tmp_path / 'data'), episodes=4)
  with pytest.raises(errors.BadInputError, match='observations'):
    gom_learner.GOMLearner(box, branching.ACTIONS, dataset=data, **BOOKKEEPING)
  with pytest.raises(errors.BadInputError, match='without a dataset'):
    gom_learner.GOMLearner(branching.OBSERVATIONS, branching.ACTIONS, **BOOKKEEPING).train(1)
