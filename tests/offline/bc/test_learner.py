"""BCLearner on tiny expert datasets: it recovers the expert, evaluates on held-out episodes,
continues bit for bit from a checkpoint, and exports a policy that acts in the environment's
units."""

import gymnasium
import jax
import numpy as np
import pytest

from agents import base as agent_base
from agents.policy_agent import PolicyAgent
from offline.bc import learner as bc_learner
from offline.bc.learner import BCLearner
from runner import errors
from tests.offline.bc import examples

SMALL = dict(hidden_sizes=(64, 64), batch_size=128, steps_per_call=50, learning_rate=3e-3)


def make_learner(dataset, seed=0, **settings):
  return BCLearner(dataset.observation_space, dataset.action_space, seed=seed, dataset=dataset,
                   **{**SMALL, **settings})


@pytest.fixture(scope='module')
def box_dataset(tmp_path_factory):
  return examples.write_expert_dataset(tmp_path_factory.mktemp('bc') / 'box',
                                       examples.linear_expert, examples.BOX_ACTIONS)


@pytest.fixture(scope='module')
def discrete_dataset(tmp_path_factory):
  return examples.write_expert_dataset(tmp_path_factory.mktemp('bc') / 'discrete',
                                       examples.quadrant_expert, examples.DISCRETE_ACTIONS)


def test_recovers_a_linear_expert(box_dataset):
  learner = make_learner(box_dataset)
  before = learner.evaluate(0)
  statistics = learner.train(1500)
  after = learner.evaluate(1)
  assert np.isfinite(statistics['nll'])
  assert after['validation_nll'] < before['validation_nll'] - 2.0
  assert after['validation_action_error'] < 0.05, after
  policy = learner.export()
  states = np.random.default_rng(1).normal(0.0, 1.0, (50, 2)).astype(np.float32)
  actions = np.stack([policy.act(state) for state in states])
  assert actions.dtype == np.float32 and actions.shape == (50, 2)
  np.testing.assert_allclose(actions, examples.linear_expert(states), atol=0.1)


def test_recovers_a_discrete_expert(discrete_dataset):
  learner = make_learner(discrete_dataset)
  learner.train(1000)
  assert learner.evaluate(1)['validation_accuracy'] > 0.95
  policy = learner.export()
  states = np.random.default_rng(1).normal(0.0, 1.5, (200, 2)).astype(np.float32)
  actions = np.array([policy.act(state) for state in states])
  assert set(actions) <= {1, 2, 3, 4}
  assert np.mean(actions == examples.quadrant_expert(states)) > 0.95


def test_sampled_actions_come_from_the_callers_generator(discrete_dataset):
  policy = make_learner(discrete_dataset).export()  # untrained: samples vary
  state = np.zeros(2, np.float32)
  draws = [[policy.act(state, deterministic=False, rng=np.random.default_rng(7))
            for _ in range(3)] for _ in range(2)]
  assert draws[0] == draws[1]
  rng = np.random.default_rng(7)
  assert len({policy.act(state, deterministic=False, rng=rng) for _ in range(40)}) > 1
  with pytest.raises(ValueError, match='rng'):
    policy.act(state, deterministic=False)


def test_train_splits_and_checkpoints_continue_bit_for_bit(box_dataset):
  uninterrupted = make_learner(box_dataset, seed=3)
  uninterrupted.train(130)
  interrupted = make_learner(box_dataset, seed=3)
  interrupted.train(60)
  bundle = jax.device_get(interrupted.bundle_and_checkpoint('unused', 1))
  resumed = make_learner(box_dataset, seed=3)
  assert resumed.unbundle('unused', 1, bundle)
  assert resumed.training_steps == 60
  resumed.train(70)
  for got, want in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(uninterrupted.state)):
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
  assert resumed.evaluate(2) == uninterrupted.evaluate(2)


def test_a_learner_without_its_dataset_restores_and_exports_but_cannot_train(box_dataset):
  trained = make_learner(box_dataset)
  trained.train(100)
  loaded = BCLearner(box_dataset.observation_space, box_dataset.action_space, seed=0, **SMALL)
  assert loaded.evaluate(0) == {}
  with pytest.raises(errors.BadInputError, match='without a dataset'):
    loaded.train(1)
  loaded.unbundle('unused', 1, jax.device_get(trained.bundle_and_checkpoint('unused', 1)))
  state = np.array([0.3, -1.2], np.float32)
  np.testing.assert_array_equal(loaded.export().act(state), trained.export().act(state))


def test_an_exported_policy_survives_further_training(box_dataset):
  learner = make_learner(box_dataset)
  policy = learner.export()
  action = policy.act(np.ones(2, np.float32))
  learner.train(50)  # donates the learner's buffers, not the policy's copies
  np.testing.assert_array_equal(policy.act(np.ones(2, np.float32)), action)


def test_validation_split_is_by_episode_and_fixed_by_the_seed():
  first = bc_learner.validation_episodes(20, 0.2, seed=5)
  np.testing.assert_array_equal(first, bc_learner.validation_episodes(20, 0.2, seed=5))
  assert len(first) == 4 and len(set(first)) == 4
  assert len(bc_learner.validation_episodes(20, 0.01, seed=5)) == 1  # at least one
  assert len(bc_learner.validation_episodes(1, 0.5, seed=5)) == 0  # never all
  assert len(bc_learner.validation_episodes(20, 0.0, seed=5)) == 0
  with pytest.raises(errors.InvalidSettingError, match='validation_fraction'):
    bc_learner.validation_episodes(20, 1.0, seed=5)


def test_held_out_rows_are_never_trained_on(box_dataset):
  learner = make_learner(box_dataset, validation_fraction=0.25)
  held_out = {tuple(row) for row in learner._validation['observation']}
  data, num_rows = learner._training_data.chunk(0)
  trained = {tuple(row) for row in np.asarray(data['observation'][:num_rows])}
  assert len(held_out) == 10 * 25 and len(trained) == 30 * 25
  assert not held_out & trained


def test_spaces_it_cannot_handle_are_named():
  unbounded = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
  with pytest.raises(agent_base.IncompatibleSpaceError, match='BCLearner.*finite bounds'):
    BCLearner(unbounded, unbounded)
  with pytest.raises(agent_base.IncompatibleSpaceError, match='BCLearner.*observation'):
    BCLearner(gymnasium.spaces.Discrete(3), examples.BOX_ACTIONS)


def test_a_policy_agent_acts_with_the_exported_policy(box_dataset):
  learner = make_learner(box_dataset)
  learner.train(500)
  agent = PolicyAgent(box_dataset.observation_space, box_dataset.action_space,
                      policy=learner.export())
  agent.eval_mode = True
  action = agent.begin_episode(np.array([1.0, -4.0], np.float32))
  assert examples.BOX_ACTIONS.contains(action)
  np.testing.assert_allclose(action, [0.5, -1.0], atol=0.15)


def test_histograms_of_the_held_out_rows_are_written_at_the_iteration(box_dataset, tmp_path):
  import tensorboardX  # pylint: disable=import-outside-toplevel
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=import-outside-toplevel
  writer = tensorboardX.SummaryWriter(logdir=str(tmp_path))
  learner = BCLearner(box_dataset.observation_space, box_dataset.action_space, seed=0,
                      dataset=box_dataset, summary_writer=writer,
                      **{**SMALL, 'validation_fraction': 0.25})
  learner.train(100)
  statistics = learner.evaluate(3)
  learner.write_summaries(3)
  writer.close()
  accumulator = event_accumulator.EventAccumulator(
      str(tmp_path), size_guidance={event_accumulator.HISTOGRAMS: 0})
  accumulator.Reload()
  for tag, mean in [('learner/validation_nll', statistics['validation_nll']),
                    ('learner/validation_action_error', statistics['validation_action_error'])]:
    (event,) = accumulator.Histograms(tag)
    assert event.step == 3 and event.histogram_value.num == 10 * 25  # every held-out row
    # All held-out rows fit one evaluation batch, so the histogram's mean is the statistic.
    assert event.histogram_value.sum / event.histogram_value.num == pytest.approx(mean, rel=1e-5)
