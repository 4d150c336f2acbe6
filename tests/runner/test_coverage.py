"""runner/coverage.py: positions counted by hand, rooms, the first reward, figures, checkpoints, and
the Runner's use of it (metrics.jsonl, images, a resumed run counting as an uninterrupted one)."""

import json
import os

import gin
import numpy as np
import pytest

from runner import coverage
from runner import errors
from runner import run_experiment
from tests.fakes import ScriptedEnv, SpyAgent


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def record_all(tracker, positions, rewards=None, start_step=0):
  rewards = rewards or [0.0] * len(positions)
  for step, (position, reward) in enumerate(zip(positions, rewards), start=start_step):
    tracker.record({'position': position}, np.array([step], np.float32), reward, step)


def test_counts_distinct_positions_per_iteration_and_in_total():
  tracker = coverage.StateCoverage()
  record_all(tracker, [(0, 0), (0, 1), (0, 0), (1, 1)])
  assert tracker.iteration_metrics() == {'positions_visited': 3.0,
                                         'positions_visited_total': 3.0}
  record_all(tracker, [(1, 1), (2, 2), (1, 1)], start_step=4)
  assert tracker.iteration_metrics() == {'positions_visited': 2.0,
                                         'positions_visited_total': 4.0}
  assert tracker.iteration_metrics() == {'positions_visited': 0.0,
                                         'positions_visited_total': 4.0}


def test_rooms_are_the_leading_numbers_of_three_number_positions():
  tracker = coverage.StateCoverage()
  record_all(tracker, [(1, 77, 235), (1, 78, 235), (0, 10, 200), (1, 77, 235)])
  assert tracker.iteration_metrics() == {'positions_visited': 3.0, 'positions_visited_total': 3.0,
                                         'rooms_visited': 2.0, 'rooms_visited_total': 2.0}
  record_all(tracker, [(4, 1, 1)], start_step=4)
  metrics = tracker.iteration_metrics()
  assert metrics['rooms_visited'] == 1.0 and metrics['rooms_visited_total'] == 3.0


def test_the_first_non_zero_reward_step_is_kept():
  tracker = coverage.StateCoverage()
  record_all(tracker, [(0,), (1,), (2,), (3,)], rewards=[0.0, 0.0, -1.0, 1.0])
  assert tracker.iteration_metrics()['first_reward_step'] == 2.0
  record_all(tracker, [(0,)], rewards=[5.0], start_step=10)
  assert tracker.iteration_metrics()['first_reward_step'] == 2.0


def test_a_domain_without_positions_gets_nothing_and_positions_must_keep_their_length():
  tracker = coverage.StateCoverage()
  tracker.record({}, np.zeros(2), 1.0, 1)
  assert not tracker.active and tracker.iteration_metrics() == {}
  tracker.record({'position': (1, 2)}, np.zeros(2), 0.0, 2)
  with pytest.raises(errors.BadInputError, match='changed length'):
    tracker.record({'position': (1, 2, 3)}, np.zeros(2), 0.0, 3)


def test_only_the_first_observations_are_kept_and_a_checkpoint_restores_everything(tmp_path):
  tracker = coverage.StateCoverage(max_kept_observations=2)
  record_all(tracker, [(0, 0), (0, 1), (0, 2), (0, 1)], rewards=[0.0, 3.0, 0.0, 0.0])
  tracker.iteration_metrics()  # the Runner checkpoints after the iteration's metrics
  tracker.save(str(tmp_path))
  with np.load(tmp_path / coverage.CHECKPOINT_FILE) as saved:
    np.testing.assert_array_equal(saved['observations'], [[0.0], [1.0]])
    np.testing.assert_array_equal(saved['counts'], [1, 2, 1])
  restored = coverage.StateCoverage(max_kept_observations=2)
  restored.load(str(tmp_path))
  record_all(restored, [(0, 3)], start_step=4)
  record_all(tracker, [(0, 3)], start_step=4)
  assert restored.iteration_metrics() == tracker.iteration_metrics() == {
      'positions_visited': 1.0, 'positions_visited_total': 4.0, 'first_reward_step': 1.0}
  empty = coverage.StateCoverage()
  empty.load(str(tmp_path / 'elsewhere'))  # no file: nothing to restore
  assert not empty.active


@pytest.mark.parametrize('positions, panels', [
    ([(1, 1), (1, 2), (2, 2)], 2),              # a grid: one panel per name, side by side
    ([(1, 5, 9), (1, 6, 9), (3, 5, 9)], 2 * 2),  # rooms: a panel per name and room
])
def test_figures_draw_a_panel_per_name_and_room(positions, panels):
  values = {'a': np.arange(3.0), 'b': -np.arange(3.0)}
  figure = coverage.position_figure(np.array(positions), values, 'coolwarm')
  titled = [axis for axis in figure.axes if axis.get_title()]
  assert len(titled) == panels


class WalkingEnv(ScriptedEnv):
  """ScriptedEnv whose position is (the phase's reset seed, the episode's index since it): each
  episode visits a new one, the same in a resumed run (the Runner reseeds every phase)."""

  def reset(self, *, seed=None, options=None):
    observation, info = super().reset(seed=seed, options=options)
    if seed is not None:
      self.phase_seed, self.episode_in_phase = seed % 10_007, 0
    else:
      self.episode_in_phase += 1
    return observation, {**info, 'position': (self.phase_seed, self.episode_in_phase)}

  def step(self, action):
    observation, reward, terminated, truncated, info = super().step(action)
    return observation, reward, terminated, truncated, {
        **info, 'position': (self.phase_seed, self.episode_in_phase)}


def make_runner(base_dir, num_iterations):
  return run_experiment.Runner(
      str(base_dir), create_environment_fn=lambda: WalkingEnv(episode_length=4, reward=0.0),
      create_agent_fn=lambda obs_space, act_space, seed, summary_writer: SpyAgent(
          obs_space, act_space, seed=seed, summary_writer=summary_writer),
      num_iterations=num_iterations, training_steps=8, evaluation_steps=4,
      max_steps_per_episode=100, progress_bar=False)


def test_the_runner_writes_coverage_and_a_resumed_run_counts_as_an_uninterrupted_one(tmp_path):
  make_runner(tmp_path / 'whole', 3).run_experiment()
  make_runner(tmp_path / 'resumed', 1).run_experiment()
  make_runner(tmp_path / 'resumed', 3).run_experiment()
  records = {}
  for name in ('whole', 'resumed'):
    with open(tmp_path / name / 'metrics.jsonl') as file:
      records[name] = [json.loads(line) for line in file]
  assert records['whole'] == records['resumed']
  # Two training episodes per iteration; the evaluation episode between them is not counted.
  assert [record['train/positions_visited_total'] for record in records['whole']] == [2, 4, 6]
  assert [record['train/positions_visited'] for record in records['whole']] == [2, 2, 2]
  assert 'train/first_reward_step' not in records['whole'][0]
  assert os.path.exists(tmp_path / 'whole' / coverage.VISITATION_FILE)
  # The state is a file of its own beside the agent's, whose bundle stays the agent's.
  newest = tmp_path / 'whole' / 'checkpoints' / 'ckpt_2'
  assert os.path.exists(newest / coverage.CHECKPOINT_FILE)
