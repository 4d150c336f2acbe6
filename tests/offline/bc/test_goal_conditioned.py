"""Goal-conditioned BC: hindsight goals are achieved states of the same episode, strictly in its
future, drawn on the device; the learner trains and evaluates on relabelled observations."""

import gymnasium
import jax
import numpy as np
import pytest

from offline import datasets
from offline import device_data
from offline.bc.goal_conditioned import GoalConditionedBCLearner
from runner import errors

# PointMaze's flattened layout: [x, y, vx, vy, goal_x, goal_y].
OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (6,), np.float32)
ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
LENGTHS = [3, 7, 1, 12, 5]


def numbered_episodes():
  """Observation t of episode e: x = 100 e + t, y = e (the achieved goal says where it is from);
  the desired goal is (-1, -1), which relabelling must overwrite."""
  episodes = []
  for e, length in enumerate(LENGTHS):
    t = np.arange(length + 1, dtype=np.float32)
    observations = np.stack([100 * e + t, np.full_like(t, e), t, -t, -np.ones_like(t),
                             -np.ones_like(t)], axis=1)
    episodes.append(dict(observations=observations,
                         actions=np.zeros((length, 2), np.float32), rewards=np.zeros(length),
                         terminations=np.zeros(length, bool),
                         truncations=np.arange(length) == length - 1))
  return episodes


@pytest.fixture(scope='module')
def numbered(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('gcbc') / 'numbered')
  datasets.write_dataset(path, numbered_episodes(), OBSERVATIONS, ACTIONS)
  return datasets.load_dataset(path)


def make_learner(dataset, **settings):
  settings = {**dict(hidden_sizes=(32,), batch_size=64, steps_per_call=10,
                     validation_fraction=0.0), **settings}
  return GoalConditionedBCLearner(dataset.observation_space, dataset.action_space, seed=0,
                                  dataset=dataset, **settings)


@pytest.mark.parametrize('goal_sampling', ['uniform', 'geometric'])
def test_hindsight_goals_are_future_achieved_states_of_the_same_episode(numbered, goal_sampling):
  learner = make_learner(numbered, goal_sampling=goal_sampling, geometric_discount=0.7)
  data, num_rows = learner._training_data.chunk(0)
  rows = np.tile(np.arange(num_rows), 200)
  batch = jax.device_get(jax.jit(learner._make_batch)(data, rows, jax.random.PRNGKey(1)))
  observation, goal = batch['observation'], batch['observation'][:, 4:6]
  episode, step = observation[:, 1].astype(int), (observation[:, 0] % 100).astype(int)
  np.testing.assert_array_equal(goal[:, 1], episode)  # the same episode
  goal_step = (goal[:, 0] - 100 * episode).astype(int)
  length = np.array(LENGTHS)[episode]
  assert np.all(goal_step > step) and np.all(goal_step <= length)  # t < t' <= T
  np.testing.assert_array_equal(observation[:, :4], np.asarray(data['observation'])[rows, :4])
  offsets = goal_step - step
  # Every future state is reached: the next one and the episode's final one.
  assert np.any(offsets == 1) and np.all(np.bincount(episode[goal_step == length]) > 0)
  if goal_sampling == 'uniform':
    # Episode 3 (12 steps), step 0: each of the 12 future states about 200 / 12 times.
    first = (episode == 3) & (step == 0)
    assert np.all(np.bincount(offsets[first], minlength=13)[1:] >= 5)
  else:
    long_rows = (episode == 3) & (step == 0)
    assert np.mean(offsets[long_rows] == 1) > 0.2  # P(k = 1) = 0.3 under discount 0.7


def test_standardization_of_desired_goals_is_that_of_achieved_goals(numbered):
  learner = make_learner(numbered, validation_fraction=0.2)
  shift = np.asarray(learner.state.observation_shift)
  scale = np.asarray(learner.state.observation_scale)
  np.testing.assert_array_equal(shift[4:6], shift[0:2])
  np.testing.assert_array_equal(scale[4:6], scale[0:2])
  assert np.isfinite(learner.train(20)['nll'])
  evaluation = learner.evaluate(1)
  assert np.isfinite(evaluation['validation_nll'])
  # Held-out observations were relabelled once, with future goals of their own episodes.
  held_out = learner._validation['observation']
  np.testing.assert_array_equal(held_out[:, 5], held_out[:, 1])
  assert np.all(held_out[:, 4] > held_out[:, 0])


def test_goal_settings_are_checked():
  with pytest.raises(errors.InvalidSettingError, match='same length'):
    GoalConditionedBCLearner(OBSERVATIONS, ACTIONS, desired_goal_slice=(3, 6))
  with pytest.raises(errors.InvalidSettingError, match='achieved_goal_slice'):
    GoalConditionedBCLearner(OBSERVATIONS, ACTIONS, achieved_goal_slice=(5, 7))
  with pytest.raises(errors.InvalidSettingError, match='goal_sampling'):
    GoalConditionedBCLearner(OBSERVATIONS, ACTIONS, goal_sampling='final')
  images = gymnasium.spaces.Box(0, 255, (4, 4, 3), np.uint8)
  with pytest.raises(errors.BadInputError, match='flat'):
    GoalConditionedBCLearner(images, ACTIONS)


def test_streamed_chunks_keep_whole_episodes(numbered):
  learner = make_learner(numbered)
  rows = learner._row_arrays(numbered.transitions(), numbered.episode_lengths)
  streamed = device_data.DeviceDataset(
      rows, split_points=np.cumsum(LENGTHS) - LENGTHS, max_device_bytes=100, chunk_rows=8)
  assert streamed.streamed and streamed.num_chunks > 1
  for index in range(streamed.num_chunks):
    data, num_rows = streamed.chunk(index)
    batch = jax.device_get(learner._make_batch(data, np.tile(np.arange(num_rows), 50),
                                               jax.random.PRNGKey(index)))
    np.testing.assert_array_equal(batch['observation'][:, 5], batch['observation'][:, 1])
