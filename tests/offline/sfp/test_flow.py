"""SFP's conditional flow and prior models: invertibility, the log-determinant against autodiff's
Jacobian, a 2-D density that integrates to one, the batch-norm layer's two modes, the recomputed
population statistics, and the Gaussian and deterministic models' outputs."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline.sfp import flow
from offline.sfp import models
from offline.sfp.prior import ActionPrior
from runner import errors

SMALL = dict(num_blocks=4, hidden_size=16, condition_sizes=(16, 16, 16))


def perturbed(variables, seed, scale):
  """Every parameter moved by N(0, scale^2) noise (log_gamma and beta become nonzero), and
  running statistics far from (0, 1)."""
  rng = np.random.default_rng(seed)
  noisy = lambda leaf: np.float32(leaf + scale * rng.normal(size=leaf.shape))  # noqa: E731
  stats = {name: {'mean': np.float32(rng.normal(0.0, 0.5, stat['mean'].shape)),
                  'var': np.float32(rng.uniform(0.3, 2.0, stat['var'].shape))}
           for name, stat in variables['batch_stats'].items()}
  return {'params': jax.tree.map(noisy, variables['params']), 'batch_stats': stats}


def forward_and_inverse(model):
  """The jitted forward (actions to noise) and inverse passes in evaluation mode."""
  forward = jax.jit(lambda variables, x, conditions: model.network.apply(variables, x, conditions))
  inverse = jax.jit(lambda variables, noise, conditions: model.network.apply(
      variables, noise, conditions, method=flow.ConditionalFlow.inverse))
  return forward, inverse


def random_flow(action_dim, scale=0.1, seed=0, **settings):
  model = models.FlowModel(action_dim, **{**SMALL, **settings})
  return model, perturbed(model.init(jax.random.PRNGKey(seed)), seed, scale)


def test_masks_alternate_and_each_layer_leaves_its_masked_dimensions_alone():
  assert flow.alternating_masks(3, 3) == ((0., 1., 0.), (1., 0., 1.), (0., 1., 0.))
  model, variables = random_flow(3)
  block = jax.jit(lambda variables, x, conditions, index: model.network.apply(
      variables, x, conditions, index=index, method=flow.ConditionalFlow.block),
                  static_argnums=3)
  x, conditions = jnp.ones((4, 3)), jnp.zeros((4, 3))
  np.testing.assert_array_equal(block(variables, x, conditions, 0)[:, 1], x[:, 1])
  np.testing.assert_array_equal(block(variables, x, conditions, 1)[:, 0::2], x[:, 0::2])


@pytest.mark.parametrize('model', [
    models.FlowModel(3, num_blocks=2, hidden_size=8, condition_sizes=(8, 8)),
    models.GaussianModel(3, hidden_size=8)], ids=['flow', 'gaussian'])
def test_initialization_is_flaxs_drawn_on_the_host(model):
  key, zeros = jax.random.PRNGKey(0), jnp.zeros((1, 3))
  flax_init = jax.jit(model._init)  # pylint: disable=protected-access
  expected = models.variables_of(flax_init(key, zeros))
  got = model.init(key)
  assert jax.tree.structure(got) == jax.tree.structure(expected)
  for (path, leaf), want in zip(jax.tree_util.tree_flatten_with_path(got)[0],
                                jax.tree.leaves(expected)):
    assert leaf.shape == want.shape and leaf.dtype == want.dtype, path
    if path[-1].key == 'kernel':
      narrow = leaf if leaf.shape[0] >= leaf.shape[1] else leaf.T
      np.testing.assert_allclose(narrow.T @ narrow, np.eye(narrow.shape[1]), atol=1e-5)
    else:
      np.testing.assert_array_equal(leaf, want)


@pytest.mark.parametrize('action_dim', [1, 2, 3])
def test_inverse_undoes_forward_in_evaluation_mode(action_dim):
  model, variables = random_flow(action_dim)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.uniform(-1, 1, (64, action_dim)), jnp.float32)
  conditions = jnp.asarray(rng.uniform(-1, 1, (64, action_dim)), jnp.float32)
  forward, inverse = forward_and_inverse(model)
  noise, log_det = forward(variables, x, conditions)
  back, inverse_log_det = inverse(variables, noise, conditions)
  np.testing.assert_allclose(back, x, atol=1e-5)
  np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-4)
  assert float(jnp.max(jnp.abs(noise - x))) > 0.1  # not the identity


def test_log_determinant_is_that_of_the_autodiff_jacobian():
  model, variables = random_flow(3, scale=0.2)
  x = jnp.array([0.3, -0.5, 0.8])
  condition = jnp.array([-0.2, 0.6, 0.1])

  def forward(point):
    return model.network.apply(variables, point[None], condition[None])[0][0]

  _, log_det = forward_and_inverse(model)[0](variables, x[None], condition[None])
  jacobian = jax.jit(jax.jacfwd(forward))(x)
  sign, expected = np.linalg.slogdet(np.asarray(jacobian, np.float64))
  assert sign != 0
  np.testing.assert_allclose(float(log_det[0]), expected, atol=1e-4)


def test_a_two_dimensional_density_integrates_to_one():
  model, variables = random_flow(2, scale=0.05, seed=3)
  # Halved weights: full-size random ones give tails that reach far past any grid.
  variables = {'params': jax.tree.map(lambda leaf: 0.5 * leaf, variables['params']),
               'batch_stats': variables['batch_stats']}
  step = 0.04
  axis = np.arange(-8.0, 8.0, step) + step / 2
  grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2).astype(np.float32)
  condition = np.broadcast_to(np.float32([0.4, -0.3]), grid.shape)
  log_prob = jax.jit(model.log_prob)(variables, condition, grid)
  assert float(jnp.sum(jnp.exp(log_prob))) * step ** 2 == pytest.approx(1.0, abs=2e-3)


def test_batch_norm_uses_the_batch_in_training_and_the_running_statistics_otherwise():
  layer = flow.BatchNormFlow(momentum=0.25, eps=1e-5)
  x = jnp.array([[1.0, 2.0], [3.0, 6.0]])  # batch mean (2, 4), variance (1, 4)
  variables = layer.init(jax.random.PRNGKey(0), x)
  variables = {'params': {'log_gamma': jnp.array([0.5, 0.0]), 'beta': jnp.array([1.0, -1.0])},
               'batch_stats': {'mean': jnp.array([10.0, 20.0]), 'var': jnp.array([4.0, 9.0])}}
  (y, log_det), updates = jax.jit(functools.partial(layer.apply, training=True,
                                                     mutable=['batch_stats']))(variables, x)
  var = np.array([1.0, 4.0]) + 1e-5
  np.testing.assert_allclose(y[:, 0], np.exp(0.5) * np.array([-1, 1]) / np.sqrt(var[0]) + 1.0,
                             rtol=1e-6)
  np.testing.assert_allclose(log_det, [0.5 - 0.5 * np.sum(np.log(var))] * 2, rtol=1e-6)
  np.testing.assert_allclose(updates['batch_stats']['mean'], [0.25 * 10 + 0.75 * 2,
                                                              0.25 * 20 + 0.75 * 4])
  np.testing.assert_allclose(updates['batch_stats']['var'],
                             0.25 * np.array([4.0, 9.0]) + 0.75 * var)
  y, log_det = jax.jit(layer.apply)(variables, x)
  np.testing.assert_allclose(y[0], [np.exp(0.5) * (1 - 10) / 2 + 1, (2 - 20) / 3 - 1], rtol=1e-6)
  np.testing.assert_allclose(log_det, [0.5 - np.log(2.0) - np.log(3.0)] * 2, rtol=1e-6)
  with pytest.raises(ValueError, match='evaluation mode'):
    layer.apply(variables, x, True, inverse=True, mutable=['batch_stats'])


def test_population_statistics_are_those_of_one_training_pass_over_all_rows():
  model, variables = random_flow(2, scale=0.2, batch_norm_momentum=0.0)
  rng = np.random.default_rng(1)
  previous = rng.uniform(-1, 1, (50, 2)).astype(np.float32)
  actions = (previous + rng.normal(0, 0.1, (50, 2))).astype(np.float32)
  _, expected = jax.jit(model.training_loss)(variables, previous, actions)
  got = model.population_statistics(variables, previous, actions, batch_size=7)  # in 8 calls
  for name in expected:
    for statistic in ('mean', 'var'):
      np.testing.assert_allclose(got[name][statistic], expected[name][statistic], rtol=1e-4,
                                 atol=1e-5, err_msg=f'{name} {statistic}')


def test_a_flow_without_batch_norm_has_no_statistics():
  model = models.FlowModel(2, batch_norm=False, **SMALL)
  variables = model.init(jax.random.PRNGKey(0))
  assert variables['batch_stats'] == {}
  loss, statistics = jax.jit(model.training_loss)(variables, jnp.zeros((3, 2)), jnp.ones((3, 2)))
  assert np.isfinite(float(loss)) and statistics == {}


def test_gaussian_log_prob_is_the_diagonal_normal_density_of_its_outputs():
  model = models.GaussianModel(2, hidden_size=8)
  variables = model.init(jax.random.PRNGKey(0))
  previous, actions = jnp.array([[0.2, -0.4]]), jnp.array([[0.1, 0.5]])
  mean, log_std = model.network.apply(variables, previous)
  std = np.exp(np.asarray(log_std, np.float64))
  expected = np.sum(-0.5 * ((np.asarray(actions) - np.asarray(mean)) / std) ** 2
                    - np.log(std) - 0.5 * np.log(2 * np.pi))
  np.testing.assert_allclose(jax.jit(model.log_prob)(variables, previous, actions), [expected],
                             rtol=1e-5)


def test_prior_samples_are_clamped_and_the_deterministic_prior_has_no_density():
  model = models.GaussianModel(2, hidden_size=8)
  variables = model.init(jax.random.PRNGKey(0))
  variables['params']['log_std']['bias'] = jnp.full((2,), 1.5)  # wide: many samples beyond 1
  prior = ActionPrior(model, variables)
  samples = jax.jit(prior.sample)(prior.params, jnp.zeros((500, 2)), jax.random.PRNGKey(1))
  assert samples.shape == (500, 2) and float(jnp.max(jnp.abs(samples))) == pytest.approx(0.99)
  deterministic = models.DeterministicModel(2, hidden_size=8)
  prior = ActionPrior(deterministic, deterministic.init(jax.random.PRNGKey(0)))
  sample = jax.jit(prior.sample)
  first = sample(prior.params, jnp.ones((3, 2)), jax.random.PRNGKey(0))
  np.testing.assert_array_equal(first, sample(prior.params, jnp.ones((3, 2)),
                                              jax.random.PRNGKey(1)))
  with pytest.raises(errors.BadInputError, match='no density'):
    prior.log_prob(prior.params, jnp.ones((3, 2)), jnp.ones((3, 2)))


def test_an_unknown_prior_type_is_named():
  with pytest.raises(errors.InvalidSettingError, match="'vae'"):
    models.build_model('vae', 2)
