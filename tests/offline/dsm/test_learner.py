"""DeltaModelLearner: on a branching chain whose return distribution has a closed form, the trained
atoms match it and their mean matches the successor representation; the adversarial default's
step (discriminator ascent, generator descent, Polyak target); checkpoints resume bit for bit; an
offline run loads as the delta-model it exported; the read-out's arithmetic; bad input named."""

import json

import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline import components
from offline.dsm import kernels
from offline.dsm import learner as dsm_learner
from offline.dsm.delta_model import DeltaModel
from offline.dsm.learner import DeltaModelLearner
from runner import errors
from runner import run_experiment
from runner import train
from tests.fakes import RecordingWriter
from tests.offline.dsm.chains import (ACTIONS, CHAIN, GAMMA, OBSERVATIONS, UP_PROBABILITY,
                                      branching_chain)

# Where only the bookkeeping matters.
TINY = dict(num_atoms=3, num_samples=4, generator_hidden_sizes=(8,), batch_size=4,
            steps_per_call=10, gamma=GAMMA, horizon=3, plotted_sources=2, plotted_samples=8,
            loss_batch_size=None)


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
  return branching_chain(str(tmp_path_factory.mktemp('dsm') / 'chain'))


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def position(states):
  return states[:, 0]


def test_the_atoms_learn_the_chains_return_distribution_and_their_mean_the_sr(chain):
  # From 0, the occupancy is (1 - gamma) delta_0 + gamma delta_{+-1}: with r(s) = s the return is
  # +-gamma / (1 - gamma) = +-4, +4 with probability 0.7. Mean 4 (0.7 - 0.3) = 1.6 (the successor
  # representation's read-out), standard deviation 4 sqrt(1 - 0.4^2) = 3.67.
  learner = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain, **CHAIN)
  learner.train(1500)
  returns = learner.export().return_distribution(np.zeros(1), position, 512,
                                                 key=jax.random.PRNGKey(0))
  extreme = GAMMA / (1 - GAMMA)
  mean = extreme * (2 * UP_PROBABILITY - 1)
  spread = extreme * np.sqrt(1 - (2 * UP_PROBABILITY - 1) ** 2)
  assert returns.shape == (8,)
  assert returns.mean() == pytest.approx(mean, abs=0.5)
  assert returns.std() == pytest.approx(spread, abs=0.8)
  assert 0.45 <= np.mean(returns > 0) <= 0.95
  # From the absorbing states (s_0 included) the return is deterministic: every atom near
  # +-1 / (1 - gamma) = +-5.
  for state in (1.0, -1.0):
    returns = learner.export().return_distribution(np.array([state]), position, 512)
    assert returns.mean() == pytest.approx(state / (1 - GAMMA), abs=0.3)
    np.testing.assert_allclose(returns, state / (1 - GAMMA), atol=0.5)


def test_an_adversarial_step_moves_both_networks_and_the_target_by_polyak(chain):
  gin.bind_parameter('Discriminator.hidden_size', 8)
  learner = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain,
                              **{**TINY, 'steps_per_call': 1, 'target_update_rate': 0.25})
  before = jax.device_get(learner.state)
  statistics = learner.train(1)
  after = jax.device_get(learner.state)
  assert set(statistics) == {'mmd', 'discriminator_mmd', 'embedding_norm'}
  assert all(np.isfinite(value) for value in statistics.values())
  changed = lambda a, b: any(np.any(x != y) for x, y in zip(jax.tree.leaves(a),  # noqa: E731
                                                            jax.tree.leaves(b)))
  assert changed(before.discriminator.params, after.discriminator.params)
  assert changed(before.discriminator.spectral_norm, after.discriminator.spectral_norm)
  assert changed(before.generator.params, after.generator.params)
  for old_target, new_params, new_target in zip(jax.tree.leaves(before.generator.target_params),
                                                jax.tree.leaves(after.generator.params),
                                                jax.tree.leaves(after.generator.target_params)):
    np.testing.assert_allclose(new_target, 0.75 * old_target + 0.25 * new_params, rtol=1e-6,
                               atol=1e-7)


def test_the_loss_in_chunks_of_windows_is_the_loss_of_the_whole_batch(chain):
  gin.bind_parameter('Discriminator.hidden_size', 8)
  learners = [DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain,
                                **{**TINY, 'loss_batch_size': size, 'batch_size': 6})
              for size in (None, 4)]
  windows = dsm_learner.targets.prepare_windows(chain, 3)
  batch = {name: jnp.asarray(array[:6]) for name, array in windows.items()}
  state = learners[0].state

  def loss_and_gradient(learner):
    def loss(params):
      return dsm_learner.delta_model_loss(
          learner.settings, params, state.discriminator.params, state.discriminator.spectral_norm,
          state.generator.target_params, batch, jax.random.PRNGKey(0))[0]
    return jax.jit(jax.value_and_grad(loss))(state.generator.params)

  (whole, whole_gradient), (chunked, chunked_gradient) = map(loss_and_gradient, learners)
  assert float(chunked) == pytest.approx(float(whole), rel=1e-5)
  for got, want in zip(jax.tree.leaves(chunked_gradient), jax.tree.leaves(whole_gradient)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('variant', [
    dict(adversarial=False, inner_kernel=kernels.RBFKernel(), outer_kernel=kernels.RBFKernel(),
         inner_adaptive_bandwidth=True),
    dict(adversarial=False, inner_kernel=kernels.EnergyDistanceKernel()),
])
def test_the_variants_without_a_discriminator_train(chain, variant):
  learner = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain, **TINY, **variant)
  statistics = learner.train(20)
  assert set(statistics) == {'mmd'} and np.isfinite(statistics['mmd'])
  assert learner.state.discriminator == {}


def test_training_resumes_bit_for_bit_and_does_not_depend_on_how_steps_are_split(chain):
  gin.bind_parameter('Discriminator.hidden_size', 8)
  whole = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=3, dataset=chain, **TINY)
  whole.train(20)
  resumed = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=3, dataset=chain, **TINY)
  resumed.train(10)
  bundle = jax.device_get(resumed.bundle_and_checkpoint('unused', 1))
  resumed.train(10)  # then lost: the run was killed before its next checkpoint
  assert resumed.unbundle('unused', 1, bundle)
  resumed.train(10)
  for got, want in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(whole.state)):
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
  # Without its dataset (as load_component builds it) the restored learner exports the same model.
  loaded = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=3, **TINY)
  with pytest.raises(errors.BadInputError, match='without a dataset'):
    loaded.train(1)
  loaded.unbundle('unused', 2, jax.device_get(whole.bundle_and_checkpoint('unused', 2)))
  key = jax.random.PRNGKey(5)
  np.testing.assert_array_equal(loaded.export().sample_states(np.ones(1), 16, key),
                                whole.export().sample_states(np.ones(1), 16, key))


def test_the_read_out_is_each_atoms_mean_reward_over_one_minus_gamma(chain):
  model = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain, **TINY).export()
  key = jax.random.PRNGKey(7)
  samples = model.sample_states(np.array([0.5]), 64, key)
  assert samples.shape == (3, 64, 1)
  reward = lambda states: np.sin(3.0 * states[:, 0]) + 2.0  # noqa: E731
  expected = np.mean(np.sin(3.0 * samples[..., 0]) + 2.0, axis=1) / (1 - GAMMA)
  np.testing.assert_allclose(model.return_distribution(np.array([0.5]), reward, 64, key=key),
                             expected, rtol=1e-5)
  sources = np.array([[0.5], [-0.5]])
  samples = model.sample_states_batch(sources, 64, key)
  assert samples.shape == (2, 3, 64, 1)
  np.testing.assert_allclose(model.return_distributions(sources, reward, 64, key=key),
                             np.mean(np.sin(3.0 * samples[..., 0]) + 2.0, axis=2) / (1 - GAMMA),
                             rtol=1e-5)
  # Without a key the model's own stream: reproducible from a fresh export.
  again = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain, **TINY).export()
  np.testing.assert_array_equal(model.return_distribution(np.zeros(1), reward, 32),
                                again.return_distribution(np.zeros(1), reward, 32))
  with pytest.raises(errors.BadInputError, match='one reward per state'):
    model.return_distribution(np.zeros(1), lambda states: states, 8)
  with pytest.raises(errors.BadInputError, match='observation space'):
    model.return_distribution(np.zeros(3), reward, 8)


def test_an_offline_run_loads_as_the_delta_model_it_exported(chain, tmp_path):
  bindings = [f'DeltaModelLearner.{name} = {value!r}' for name, value in TINY.items()]
  train.parse_gin([], [
      'import offline.dsm.learner', 'import offline.controllers',
      "create_runner.schedule = 'offline'", 'create_learner.learner_class = @DeltaModelLearner',
      f"load_dataset.path = '{chain.path}'", 'Runner.num_iterations = 2',
      'OfflineRunner.training_steps = 20', 'OfflineRunner.steps_per_progress_update = 10',
      'Runner.progress_bar = False', 'Discriminator.hidden_size = 8',
      'DeltaModelLearner.policy = @UniformRandomPolicy()', *bindings])
  runner = run_experiment.create_runner(str(tmp_path))
  train.write_config(str(tmp_path), gin.operative_config_str())
  runner.run_experiment()
  exported = runner.learner.export()
  gin.clear_config()
  model = components.load_component(str(tmp_path))
  assert isinstance(model, DeltaModel) and model.gamma == GAMMA and model.num_atoms == 3
  assert type(model.policy).__name__ == 'UniformRandomPolicy'
  key = jax.random.PRNGKey(0)
  np.testing.assert_array_equal(model.return_distribution(np.zeros(1), position, 32, key=key),
                                exported.return_distribution(np.zeros(1), position, 32, key=key))
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [record['train/gradient_steps'] for record in records] == [20, 40]
  assert all(np.isfinite(record['train/mmd']) for record in records)


def test_summaries_draw_the_atoms_samples(chain, tmp_path):
  learner = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain, **TINY,
                              adversarial=False)
  learner.summary_writer = RecordingWriter(tmp_path)
  learner.write_summaries(0)
  (tag, image, step, _), = learner.summary_writer.images
  assert tag == 'learner/atom_samples' and step == 0 and image.ndim == 3


def test_evaluation_scores_the_model_and_draws_it(chain, tmp_path):

  class Evaluation:  # the interface of evaluation.ReturnDistributionEvaluation
    calls = []

    def evaluate(self, delta_model, directory, key):
      self.calls.append((delta_model, directory))
      from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
      return {'position/wasserstein': 0.5}, Figure()

  learner = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=chain, **TINY,
                              adversarial=False, evaluation=Evaluation())
  learner.summary_writer = RecordingWriter(tmp_path)
  assert learner.evaluate(3) == {'position/wasserstein': 0.5}
  (model, directory), = Evaluation.calls
  assert isinstance(model, DeltaModel) and directory == str(tmp_path)
  assert (tmp_path / dsm_learner.FIGURE_FILE).stat().st_size > 0
  assert learner.summary_writer.images[0][0] == 'learner/return_distributions'


@pytest.mark.parametrize('settings,fragment', [
    (dict(num_atoms=1), 'num_atoms'), (dict(num_samples=1), 'num_samples'),
    (dict(gamma=1.0), 'gamma'), (dict(horizon=0), 'horizon'),
    (dict(target_update_rate=0.0), 'target_update_rate'),
])
def test_bad_settings_are_named(settings, fragment):
  with pytest.raises(errors.InvalidSettingError, match=fragment):
    DeltaModelLearner(OBSERVATIONS, ACTIONS, **{**TINY, **settings})


def test_spaces_and_datasets_it_cannot_model_are_named(chain):
  with pytest.raises(errors.BadInputError, match='DeltaModelLearner'):
    DeltaModelLearner(gymnasium.spaces.Discrete(4), ACTIONS, **TINY)
  with pytest.raises(errors.BadInputError, match='observations'):
    DeltaModelLearner(gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32), ACTIONS, dataset=chain,
                      **TINY)


def test_generator_atoms_have_their_own_parameters():
  learner = DeltaModelLearner(OBSERVATIONS, ACTIONS, seed=0, **TINY)
  leaves = jax.tree.leaves(learner.state.generator.params)
  assert all(leaf.shape[0] == 3 for leaf in leaves)  # stacked over the atoms
  kernel = next(leaf for leaf in leaves if leaf.ndim == 3)
  assert not jnp.allclose(kernel[0], kernel[1])
