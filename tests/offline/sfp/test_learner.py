"""SFPPriorLearner on a synthetic random walk a_t ~ N(a_{t-1}, 0.1^2 I): the held-out NLL reaches
the optimum log(2 pi e 0.01), the Gaussian and deterministic ablations train and sample, early
stopping keeps the best prior, checkpoints carry the batch-norm statistics, an offline run's
component loads as the prior it exported, and spaces it cannot model are named."""

import json

import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import base as agent_base
from offline import components
from offline import datasets
from offline.sfp import learner as sfp_learner
from offline.sfp.learner import SFPPriorLearner
from offline.sfp.prior import ActionPrior
from runner import errors
from runner import run_experiment
from runner import train
from tests.fakes import RecordingWriter

ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
NOISE_STD = 0.1
OPTIMAL_NLL = float(np.log(2 * np.pi * np.e * NOISE_STD ** 2))  # -1.767 nats per 2-D action
EPISODES, EPISODE_LENGTH = 200, 50
# Small networks and a larger learning rate than the reference's 1e-4: a few thousand steps.
SMALL = dict(num_blocks=4, hidden_size=32, condition_sizes=(32, 32, 32), learning_rate=1e-3,
             steps_per_call=250, evaluation_batch_size=4096)
# Where only the bookkeeping matters: less to compile.
TINY = dict(SMALL, num_blocks=2, hidden_size=16, condition_sizes=(16,), steps_per_call=50)


@pytest.fixture(scope='module')
def random_walk(tmp_path_factory):
  """200 episodes of 50 actions: a uniform start in [-0.5, 0.5]^2, then N(0, 0.1^2 I) steps."""
  rng = np.random.default_rng(0)
  episodes = []
  for _ in range(EPISODES):
    steps = np.concatenate([rng.uniform(-0.5, 0.5, (1, 2)),
                            rng.normal(0.0, NOISE_STD, (EPISODE_LENGTH - 1, 2))])
    episodes.append(dict(
        observations=np.zeros((EPISODE_LENGTH + 1, 1), np.float32),
        actions=np.cumsum(steps, axis=0).astype(np.float32), rewards=np.zeros(EPISODE_LENGTH),
        terminations=np.arange(EPISODE_LENGTH) == EPISODE_LENGTH - 1,
        truncations=np.zeros(EPISODE_LENGTH, bool)))
  path = str(tmp_path_factory.mktemp('sfp') / 'random_walk')
  datasets.write_dataset(path, episodes, OBSERVATIONS, ACTIONS)
  return datasets.load_dataset(path)


def make_learner(dataset, **settings):
  return SFPPriorLearner(OBSERVATIONS, ACTIONS, seed=0, dataset=dataset, **{**SMALL, **settings})


@pytest.fixture(scope='module')
def trained_flow(random_walk):
  """The flow, trained 2000 steps with an evaluation every 500, and its evaluations."""
  learner = make_learner(random_walk)
  evaluations = [learner.evaluate(0)]
  for iteration in range(1, 5):
    learner.train(500)
    evaluations.append(learner.evaluate(iteration))
  return learner, evaluations


def conditional_samples(prior, previous, count=2000, seed=0):
  previous = jnp.broadcast_to(jnp.asarray(previous, jnp.float32), (count, 2))
  return np.asarray(jax.jit(prior.sample)(prior.params, previous, jax.random.PRNGKey(seed)))


def test_the_flow_reaches_the_optimal_held_out_nll(trained_flow):
  _, evaluations = trained_flow
  assert evaluations[0]['validation_nll'] > 0.0  # untrained
  best = evaluations[-1]['best_validation_nll']
  assert abs(best - OPTIMAL_NLL) < 0.1, evaluations
  assert best == pytest.approx(min(evaluation['validation_nll'] for evaluation in evaluations),
                              rel=1e-6)  # kept as float32


def test_the_exported_flow_samples_the_random_walks_step(trained_flow):
  prior = trained_flow[0].export()
  assert isinstance(prior, ActionPrior) and prior.action_dim == 2
  samples = conditional_samples(prior, [0.2, -0.3])
  np.testing.assert_allclose(samples.mean(axis=0), [0.2, -0.3], atol=0.03)
  np.testing.assert_allclose(samples.std(axis=0), [NOISE_STD] * 2, atol=0.03)
  # At the mean of the step: the density of N(0, 0.1^2 I) at 0, -log(2 pi 0.01) = 2.77 nats.
  log_prob = jax.jit(prior.log_prob)(prior.params, jnp.zeros((1, 2)), jnp.zeros((1, 2)))
  assert float(log_prob[0]) == pytest.approx(-np.log(2 * np.pi * NOISE_STD ** 2), abs=0.3)


def test_held_out_pairs_come_from_whole_held_out_episodes(trained_flow):
  learner = trained_flow[0]
  assert len(learner._validation['action']) == 20 * (EPISODE_LENGTH - 1)
  assert len(learner._statistics_rows['action']) == 180 * (EPISODE_LENGTH - 1)
  assert learner.state.initial_actions.shape == (1000, 2)


@pytest.mark.parametrize('prior_type, metric, optimum, tolerance', [
    ('gaussian', 'validation_nll', OPTIMAL_NLL, 0.15),
    # Its tanh output cannot follow the walks that leave [-1, 1]: above the noise's 0.01.
    ('deterministic', 'validation_mse', NOISE_STD ** 2, 0.01)])
def test_the_ablations_train_and_sample(random_walk, prior_type, metric, optimum, tolerance):
  learner = make_learner(random_walk, prior_type=prior_type)
  before = learner.evaluate(0)[metric]
  statistics = learner.train(1500)
  assert set(statistics) == {metric.removeprefix('validation_')}
  after = learner.evaluate(1)
  assert after[metric] < before and abs(after[metric] - optimum) < tolerance, after
  samples = conditional_samples(learner.export(), [0.2, -0.3], count=500)
  assert np.max(np.abs(samples)) <= 0.99
  np.testing.assert_allclose(samples.mean(axis=0), [0.2, -0.3], atol=0.05)
  assert (samples.std(axis=0) > 0.05).all() == (prior_type == 'gaussian')


def test_early_stopping_keeps_the_best_prior_and_then_stops(random_walk):
  learner = make_learner(random_walk, patience=2, **TINY)
  learner.train(200)
  first = learner.evaluate(1)
  assert first['evaluations_since_best'] == 0
  samples = conditional_samples(learner.export(), [0.1, 0.1], count=100)
  # Dead (all-zero) layers: the flow forgets the condition and cannot learn it back.
  training = learner.state.training
  zeroed = jax.tree.map(jnp.zeros_like, training.variables['params'])
  learner.state = learner.state._replace(training=training._replace(
      variables={**training.variables, 'params': zeroed}))
  for iteration in (2, 3):
    learner.train(100)
    evaluation = learner.evaluate(iteration)
    assert evaluation['validation_nll'] > first['validation_nll'] + 1.0
    assert evaluation['best_validation_nll'] == first['best_validation_nll']
    assert evaluation['evaluations_since_best'] == iteration - 1
  assert learner.evaluate(3) == evaluation  # a repeated evaluation only reports
  assert learner.stopped and learner.train(100) == {} and learner.training_steps == 400
  np.testing.assert_array_equal(conditional_samples(learner.export(), [0.1, 0.1], count=100),
                                samples)


def test_checkpoints_carry_the_batch_norm_statistics_and_training_resumes_bit_for_bit(
    random_walk):
  learner = make_learner(random_walk, **TINY)
  learner.train(100)
  learner.evaluate(1)
  statistics = learner.state.training.variables['batch_stats']['batch_norms_0']
  assert np.abs(np.asarray(statistics['var']) - 1.0).max() > 1e-3  # not the initial ones
  bundle = jax.device_get(learner.bundle_and_checkpoint('unused', 1))
  resumed = make_learner(random_walk, **TINY)
  assert resumed.unbundle('unused', 1, bundle)
  for got, want in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(learner.state)):
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
  for continued in (learner, resumed):
    continued.train(50)
  assert resumed.evaluate(2) == learner.evaluate(2)
  for got, want in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(learner.state)):
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
  # Without its dataset (as load_component builds it) the restored learner exports the same.
  loaded = SFPPriorLearner(OBSERVATIONS, ACTIONS, seed=0, **TINY)
  assert loaded.evaluate(0) == {}
  with pytest.raises(errors.BadInputError, match='without a dataset'):
    loaded.train(1)
  loaded.unbundle('unused', 2, jax.device_get(resumed.bundle_and_checkpoint('unused', 2)))
  np.testing.assert_array_equal(conditional_samples(loaded.export(), [0.3, 0.0], count=50),
                                conditional_samples(resumed.export(), [0.3, 0.0], count=50))


def test_an_offline_run_loads_as_the_prior_it_exported(random_walk, tmp_path):
  gin.clear_config()
  try:
    train.parse_gin([], [
        'import offline.sfp.learner', "create_runner.schedule = 'offline'",
        'create_learner.learner_class = @SFPPriorLearner',
        f"load_dataset.path = '{random_walk.path}'", 'Runner.num_iterations = 2',
        'OfflineRunner.training_steps = 100', 'OfflineRunner.steps_per_progress_update = 50',
        'Runner.progress_bar = False',
        *[f'SFPPriorLearner.{name} = {value!r}' for name, value in TINY.items()]])
    runner = run_experiment.create_runner(str(tmp_path))
    train.write_config(str(tmp_path), gin.operative_config_str())
    runner.run_experiment()
    exported = runner.learner.export()
    prior = components.load_component(str(tmp_path))
  finally:
    gin.clear_config()
  assert isinstance(prior, ActionPrior) and prior.prior_type == 'flow'
  np.testing.assert_array_equal(conditional_samples(prior, [0.5, -0.5], count=64),
                                conditional_samples(exported, [0.5, -0.5], count=64))
  np.testing.assert_array_equal(prior.initial_actions, exported.initial_actions)
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [record['train/gradient_steps'] for record in records] == [100, 200]
  for name in ('train/nll', 'eval/validation_nll', 'eval/best_validation_nll'):
    assert all(np.isfinite(record[name]) for record in records), name
  assert (tmp_path / sfp_learner.FIGURE_FILE).stat().st_size > 0


def test_summaries_draw_prior_samples_for_two_dimensional_actions_only(trained_flow, tmp_path):
  learner, writer = trained_flow[0], RecordingWriter(tmp_path)
  learner.summary_writer = writer
  try:
    learner.write_summaries(4)
  finally:
    learner.summary_writer = None
  [(tag, image, step, dataformats)] = writer.images
  assert (tag, step, dataformats) == ('learner/prior_samples', 4, 'HWC')
  assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
  assert (tmp_path / sfp_learner.FIGURE_FILE).stat().st_size > 0
  three_d = SFPPriorLearner(OBSERVATIONS, gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32),
                            summary_writer=RecordingWriter(tmp_path / 'other'), **SMALL)
  three_d.write_summaries(0)
  assert three_d.summary_writer.images == []


@pytest.mark.parametrize('space, fragment', [
    (gymnasium.spaces.Discrete(4), 'SFPPriorLearner cannot handle the action space Discrete'),
    (gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32), 'finite bounds')])
def test_action_spaces_it_cannot_model_are_named(space, fragment):
  with pytest.raises(agent_base.IncompatibleSpaceError, match=fragment):
    SFPPriorLearner(OBSERVATIONS, space)


@pytest.mark.parametrize('settings, fragment', [
    (dict(prior_type='vae'), "'vae'"), (dict(patience=0), 'patience'),
    (dict(num_blocks=0), 'num_blocks'), (dict(batch_norm_momentum=1.5), 'momentum')])
def test_bad_settings_are_named(settings, fragment):
  with pytest.raises(errors.InvalidSettingError, match=fragment):
    SFPPriorLearner(OBSERVATIONS, ACTIONS, **settings)
