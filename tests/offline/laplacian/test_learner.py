"""LaplacianLearner: pair rows and batches by hand, phi finding the exact subspace of a small open
grid from a random walk, resuming bit for bit, the exported phi, its figures, and clear errors."""

import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discrete_domains import gridworld
from offline import datasets
from offline import make_dataset
from offline.laplacian import learner as laplacian_learner
from offline.laplacian.learner import LaplacianLearner
from runner import checkpoints
from runner import errors
from tests.fakes import RecordingWriter

LAYOUT = 'open_5x5'  # eigenvalues 0, .38, .38, .76 | 1.38: d = 4 splits no repeated eigenvalue
# A tabular phi (one-hot inputs, no hidden layer) with the exact variant of the loss.
TABULAR = dict(dimension=4, hidden_sizes=(), norm_transform='squared', batch_size=128,
               learning_rate=1e-3, adam_eps=1e-8, steps_per_call=500, layout=LAYOUT)


@pytest.fixture(scope='module')
def random_walk(tmp_path_factory):
  """A 20k-step uniform random walk on the open 5 x 5 grid, one-hot observations."""
  path = tmp_path_factory.mktemp('random_walk') / 'data'
  gin.clear_config()
  make_dataset.make_dataset(['gin_configs/datasets/gridworld_random_walk.gin'], [
      f"collect.output_dir = '{path}'", 'collect.num_steps = 20000',
      'collect.progress_bar = False', f"create_gridworld_environment.layout = '{LAYOUT}'"])
  gin.clear_config()
  return datasets.load_dataset(str(path))


def make_learner(dataset, **settings):
  return LaplacianLearner(dataset.observation_space, dataset.action_space, seed=0,
                          dataset=dataset, **{**TABULAR, **settings})


def test_pair_rows_stay_inside_their_episode():
  # Episodes of 3 and 2 transitions: rows 0-2 and 3-4, last rows 2 and 4.
  np.testing.assert_array_equal(laplacian_learner.pair_rows([3, 2], 1), [0, 1, 2, 3, 4])
  np.testing.assert_array_equal(laplacian_learner.pair_rows([3, 2], 2), [1, 2, 2, 4, 4])
  np.testing.assert_array_equal(laplacian_learner.pair_rows([3, 2], 3), [2, 2, 2, 4, 4])


def test_pair_batch_takes_states_and_pairs_then_u_then_v():
  data = {'observation': jnp.arange(10.0)[:, None],
          'pair_observation': 100 + jnp.arange(10.0)[:, None]}
  batch = laplacian_learner.pair_batch(data, jnp.array([1, 2, 3, 4, 5, 6]), jax.random.PRNGKey(0))
  assert {name: batch[name][:, 0].tolist() for name in batch} == {
      'state': [1, 2], 'pair': [101, 102], 'u': [3, 4], 'v': [5, 6]}


def test_tabular_phi_spans_the_exact_eigenvectors(random_walk):
  learner = make_learner(random_walk)
  assert learner.evaluate(0)['subspace_overlap'] < 0.9
  statistics = learner.train(2000)
  assert set(statistics) == {'loss', 'positive_loss', 'negative_loss'}
  assert learner.evaluate(0)['subspace_overlap'] >= 0.95


def test_allo_finds_each_eigenvector_and_its_eigenvalue(random_walk):
  learner = make_learner(random_walk, objective='allo', allo_barrier=2.0,
                         allo_dual_learning_rate=1e-2)
  statistics = learner.train(8000)
  assert {'loss', 'positive_loss', 'negative_loss', 'constraint_error'} <= set(statistics)
  results = learner.evaluate(0)
  assert results['subspace_overlap'] >= 0.99
  # The duals estimate the walk's eigenvalues, L / 4: 0, .382, .382, .764 over 4.
  eigenvalues, eigenvectors = gridworld.laplacian_eigen(LAYOUT)
  np.testing.assert_allclose([4 * results[f'eigenvalue_{index}'] for index in range(4)],
                             eigenvalues[:4], atol=0.03)
  # The functions of distinct eigenvalues are those eigenvectors themselves, not mixtures.
  values = learner.cell_values()
  for column in (0, 3):
    cosine = values[:, column] @ eigenvectors[:, column] / np.linalg.norm(values[:, column])
    assert abs(cosine) >= 0.95, (column, cosine)


@pytest.mark.parametrize('objective', ['generalized', 'allo'])
def test_training_resumes_bit_for_bit_however_it_is_split(random_walk, objective):
  whole = make_learner(random_walk, steps_per_call=50, objective=objective)
  whole.train(100)
  first = make_learner(random_walk, steps_per_call=50, objective=objective)
  first.train(50)
  # Through the checkpoint files' flat form, as a run writes and reads it.
  bundle = checkpoints.unflatten_bundle(checkpoints.flatten_bundle(
      jax.device_get(first.bundle_and_checkpoint('unused', 0))))
  resumed = make_learner(random_walk, steps_per_call=50, objective=objective)
  assert resumed.unbundle('unused', 0, bundle)
  resumed.train(25)
  resumed.train(25)
  assert resumed.training_steps == 100
  for leaf, expected in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(whole.state)):
    np.testing.assert_array_equal(leaf, expected)


def test_exported_phi_takes_a_batch_or_one_observation(random_walk):
  learner = make_learner(random_walk)
  learner.train(100)
  phi = learner.export()
  observations = gridworld.cell_observations(LAYOUT, 'one_hot')
  values = phi(observations)
  assert values.shape == (25, 4) and phi.dimension == 4
  np.testing.assert_allclose(values, learner.cell_values(), rtol=1e-6)
  np.testing.assert_allclose(phi(observations[3]), values[3], rtol=1e-6)
  learner.train(100)  # training donates the learner's buffers; the export keeps its own
  np.testing.assert_allclose(phi(observations), values, rtol=1e-6)


def test_row_col_and_pixel_observations_are_recognised():
  for kind in ('row_col', 'pixels'):
    space = gridworld.observation_space(LAYOUT, kind)
    learner = LaplacianLearner(space, gymnasium.spaces.Discrete(4), **TABULAR)
    np.testing.assert_array_equal(learner.grid.cell_observations,
                                  gridworld.cell_observations(LAYOUT, kind))
    assert 0.0 <= learner.evaluate(0)['subspace_overlap'] <= 1.0 + 1e-9


def test_no_layout_no_evaluation():
  space = gridworld.observation_space(LAYOUT, 'one_hot')
  learner = LaplacianLearner(space, gymnasium.spaces.Discrete(4), **{**TABULAR, 'layout': None})
  assert learner.evaluate(0) == {}


def test_summaries_draw_learned_and_exact_eigenfunctions(tmp_path):
  space = gridworld.observation_space(LAYOUT, 'one_hot')
  writer = RecordingWriter(tmp_path)
  learner = LaplacianLearner(space, gymnasium.spaces.Discrete(4), summary_writer=writer,
                             **TABULAR)
  learner.write_summaries(3)
  [(tag, image, step, dataformats)] = writer.images
  assert (tag, step, dataformats) == ('learner/eigenfunctions', 3, 'HWC')
  assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
  assert (tmp_path / laplacian_learner.FIGURE_FILE).stat().st_size > 0


@pytest.mark.parametrize('settings,error,problem', [
    (dict(layout='four_rooms'), errors.BadInputError, 'not a grid world'),
    (dict(dimension=26), errors.InvalidSettingError, '26 is more than the 25 free cells'),
    (dict(dimension=0), errors.InvalidSettingError, 'dimension'),
    (dict(pair_horizon=0), errors.InvalidSettingError, 'pair_horizon'),
    (dict(norm_transform='cube'), errors.InvalidSettingError, "'cube'"),
    (dict(objective='proper'), errors.InvalidSettingError, "objective 'proper'"),
    (dict(layout='five_rooms'), errors.InvalidSettingError, 'unknown grid-world layout'),
])
def test_bad_settings_are_named(settings, error, problem):
  space = gridworld.observation_space(LAYOUT, 'one_hot')
  with pytest.raises(error, match=problem):
    LaplacianLearner(space, gymnasium.spaces.Discrete(4), **{**TABULAR, **settings})


def test_training_needs_a_dataset():
  space = gridworld.observation_space(LAYOUT, 'one_hot')
  with pytest.raises(errors.BadInputError, match='without a dataset'):
    LaplacianLearner(space, gymnasium.spaces.Discrete(4), **TABULAR).train(1)
