"""The Runner end to end on a scripted environment with an agent that records its hook calls."""

import json
import math
import os
import shutil

import gin
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from runner import run_experiment
from tests.fakes import ScriptedEnv, SpyAgent


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def make_runner(base_dir, env=None, agent_class=SpyAgent, runner_class=run_experiment.Runner,
                **settings):
  env = env or ScriptedEnv()
  defaults = dict(num_iterations=2, training_steps=12, evaluation_steps=7,
                  max_steps_per_episode=100, progress_bar=False)
  defaults.update(settings)
  runner = runner_class(
      str(base_dir), create_environment_fn=lambda: env,
      create_agent_fn=lambda obs_space, act_space, seed, summary_writer: agent_class(
          obs_space, act_space, seed=seed, summary_writer=summary_writer),
      **defaults)
  return runner, env


def hook_names(calls):
  return [call[0] for call in calls]


def test_phases_run_whole_episodes_with_the_hooks_in_order(tmp_path):
  runner, env = make_runner(tmp_path, ScriptedEnv(episode_length=5))
  runner.run_experiment()
  calls = runner.agent.calls
  one_episode = ['begin_episode'] + ['step'] * 4 + ['end_episode']
  # Per iteration: training budget 12 -> 3 episodes of 5 (the last overruns), eval 7 -> 2 episodes.
  assert hook_names(calls) == one_episode * 5 * 2
  modes = [call[1] for call in calls if call[0] == 'begin_episode']
  assert modes == [False, False, False, True, True] * 2
  assert env.steps == 2 * (15 + 10)
  ends = [call for call in calls if call[0] == 'end_episode']
  assert all(call[2] == 1.0 and call[3] is True for call in ends)
  np.testing.assert_array_equal(ends[0][4], [5.0, 0.0])  # the final observation is passed on


@pytest.mark.parametrize('env, expected_final_t', [
    (ScriptedEnv(episode_length=4, ends_by='truncation'), 4.0),  # the environment's time limit
    (ScriptedEnv(episode_length=50), 3.0),                      # the Runner's episode cap
])
def test_truncation_reaches_the_agent_as_not_terminated(tmp_path, env, expected_final_t):
  runner, _ = make_runner(tmp_path, env, num_iterations=1, max_steps_per_episode=3 if
                          expected_final_t == 3.0 else 100)
  runner.run_experiment()
  ends = [call for call in runner.agent.calls if call[0] == 'end_episode']
  assert ends and all(call[3] is False for call in ends)
  assert all(call[4][0] == expected_final_t for call in ends)


@pytest.mark.parametrize('clip_rewards, seen', [(False, -3.0), (True, -1.0)])
def test_clipped_rewards_reach_the_agent_and_raw_returns_are_reported(tmp_path, clip_rewards,
                                                                     seen):
  runner, _ = make_runner(tmp_path, ScriptedEnv(episode_length=5, reward=-3.0), num_iterations=1,
                          clip_rewards=clip_rewards)
  runner.run_experiment()
  rewards = [call[2] for call in runner.agent.calls if call[0] in ('step', 'end_episode')]
  assert rewards and set(rewards) == {seen}
  with open(tmp_path / 'metrics.jsonl') as file:
    assert json.loads(file.readline())['train/average_return'] == -15.0


def test_metrics_jsonl_and_tensorboard_scalars(tmp_path):
  runner, _ = make_runner(tmp_path, ScriptedEnv(episode_length=5))
  runner.run_experiment()
  with open(tmp_path / 'metrics.jsonl') as file:
    records = [json.loads(line) for line in file]
  assert [record['iteration'] for record in records] == [0, 1]
  assert records[0]['train/average_return'] == 5.0
  assert records[0]['train/num_episodes'] == 3.0
  assert records[0]['train/average_episode_length'] == 5.0
  assert records[0]['eval/num_episodes'] == 2.0
  assert not any('per_second' in key for key in records[0])  # wall-clock stays out

  accumulator = event_accumulator.EventAccumulator(str(tmp_path))
  accumulator.Reload()
  tags = accumulator.Tags()['scalars']
  for tag in ['train/average_return', 'train/average_episode_length', 'train/num_episodes',
              'train/steps_per_second', 'eval/average_return', 'eval/steps_per_second']:
    assert tag in tags, tag
  assert [event.step for event in accumulator.Scalars('train/average_return')] == [0, 1]
  assert [event.value for event in accumulator.Scalars('eval/average_return')] == [5.0, 5.0]
  # One point per training episode, against the cumulative number of training steps, in its own
  # TensorBoard run.
  assert [event.step for event in episode_returns(tmp_path)] == [5, 10, 15, 20, 25, 30]


def episode_returns(base_dir):
  accumulator = event_accumulator.EventAccumulator(str(base_dir / 'episodes'))
  accumulator.Reload()
  return accumulator.Scalars('train/episode_return')


def test_resume_keeps_the_tensorboard_history_of_both_step_units(tmp_path):
  # Iterations of 3 episodes of 5 steps; the run is "killed" during iteration 2 (its checkpoint
  # and metrics line missing) and resumed.
  reference, _ = make_runner(tmp_path / 'reference', ScriptedEnv(episode_length=5),
                             num_iterations=3)
  reference.run_experiment()
  run, _ = make_runner(tmp_path / 'run', ScriptedEnv(episode_length=5), num_iterations=3)
  run.run_experiment()
  shutil.rmtree(tmp_path / 'run' / 'checkpoints' / 'ckpt_2')
  resumed, _ = make_runner(tmp_path / 'run', ScriptedEnv(episode_length=5), num_iterations=3)
  resumed.run_experiment()
  assert resumed.start_iteration == 2
  steps = [event.step for event in episode_returns(tmp_path / 'reference')]
  assert steps == list(range(5, 46, 5))
  assert [event.step for event in episode_returns(tmp_path / 'run')] == steps
  accumulator = event_accumulator.EventAccumulator(str(tmp_path / 'run'))
  accumulator.Reload()
  assert [event.step for event in accumulator.Scalars('train/average_return')] == [0, 1, 2]


def test_environment_is_reseeded_at_each_phase_deterministically(tmp_path):
  runner_a, env_a = make_runner(tmp_path / 'a', ScriptedEnv(episode_length=5), seed=3)
  runner_b, env_b = make_runner(tmp_path / 'b', ScriptedEnv(episode_length=5), seed=3)
  runner_c, env_c = make_runner(tmp_path / 'c', ScriptedEnv(episode_length=5), seed=4)
  for runner in (runner_a, runner_b, runner_c):
    runner.run_experiment()
  seeded = [seed for seed in env_a.reset_seeds if seed is not None]
  assert len(seeded) == 4 and len(set(seeded)) == 4  # 2 iterations x (train, eval)
  assert env_a.reset_seeds == env_b.reset_seeds
  assert env_a.reset_seeds != env_c.reset_seeds
  assert env_a.reset_seeds[1] is None  # later episodes of a phase continue the env's RNG


def test_resume_continues_the_iteration_count(tmp_path):
  runner, _ = make_runner(tmp_path, ScriptedEnv(episode_length=5), num_iterations=2)
  runner.run_experiment()
  resumed, _ = make_runner(tmp_path, ScriptedEnv(episode_length=5), num_iterations=4)
  resumed.run_experiment()
  assert resumed.agent.restored_from == (1, 60)  # 2 iterations x 5 episodes x 6 calls
  assert hook_names(resumed.agent.calls).count('begin_episode') == 2 * 5
  with open(tmp_path / 'metrics.jsonl') as file:
    assert [json.loads(line)['iteration'] for line in file] == [0, 1, 2, 3]


def test_keeps_only_the_newest_checkpoints(tmp_path):
  runner, _ = make_runner(tmp_path, num_iterations=4, checkpoints_to_keep=2)
  runner.run_experiment()
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['ckpt_2', 'ckpt_3']


def test_train_only_schedule_never_evaluates(tmp_path):
  runner, _ = make_runner(tmp_path, ScriptedEnv(episode_length=5),
                          runner_class=run_experiment.TrainRunner, evaluation_steps=7)
  runner.run_experiment()
  assert not any(call[1] for call in runner.agent.calls)
  with open(tmp_path / 'metrics.jsonl') as file:
    assert not any(key.startswith('eval/') for key in json.loads(file.readline()))


class NanAgent(SpyAgent):

  def iteration_statistics(self):
    return {'loss': math.nan}


def test_nan_loss_stops_before_checkpointing(tmp_path):
  runner, _ = make_runner(tmp_path, agent_class=NanAgent)
  with pytest.raises(run_experiment.NonFiniteLossError, match='iteration 0.*loss = nan'):
    runner.run_experiment()
  assert not os.path.exists(tmp_path / 'checkpoints' / 'ckpt_0')


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path):
  runner, _ = make_runner(tmp_path, num_iterations=2)
  runner.run_experiment()
  with open(tmp_path / 'checkpoints' / 'ckpt_1' / 'state.npz', 'r+b') as file:
    file.seek(40)
    file.write(b'garbage')
  resumed, _ = make_runner(tmp_path, num_iterations=2)
  resumed.run_experiment()
  assert resumed.agent.restored_from[0] == 0
  assert resumed.start_iteration == 1
  names = sorted(os.listdir(tmp_path / 'checkpoints'))
  assert names == ['ckpt_0', 'ckpt_1', 'ckpt_1.corrupt']  # redone, and the bad one kept aside


def test_all_checkpoints_unusable_is_an_error_not_a_silent_restart(tmp_path):
  runner, _ = make_runner(tmp_path, num_iterations=1)
  runner.run_experiment()
  os.remove(tmp_path / 'checkpoints' / 'ckpt_0' / 'manifest.json')
  resumed, _ = make_runner(tmp_path, num_iterations=2)
  with pytest.raises(run_experiment.NoUsableCheckpointError, match='nothing was deleted'):
    resumed.run_experiment()


def test_all_checkpoints_set_aside_stays_an_error_on_the_next_attempt(tmp_path):
  runner, _ = make_runner(tmp_path, num_iterations=2)
  runner.run_experiment()
  metrics_before = (tmp_path / 'metrics.jsonl').read_text()
  for name in ['ckpt_0', 'ckpt_1']:
    os.remove(tmp_path / 'checkpoints' / name / 'manifest.json')
  for _ in range(2):
    resumed, _ = make_runner(tmp_path, num_iterations=3)
    assert resumed.has_checkpoint()
    with pytest.raises(run_experiment.NoUsableCheckpointError,
                       match=r'ckpt_0\.corrupt, ckpt_1\.corrupt failed verification'):
      resumed.run_experiment()
  assert (tmp_path / 'metrics.jsonl').read_text() == metrics_before


class IncompatibleAgent(SpyAgent):

  def unbundle(self, checkpoint_dir, iteration, bundle):
    return bundle['no such entry']


def test_a_checkpoint_the_agent_cannot_unbundle_is_an_error_and_stays_in_place(tmp_path):
  runner, _ = make_runner(tmp_path, num_iterations=2)
  runner.run_experiment()
  metrics_before = (tmp_path / 'metrics.jsonl').read_text()
  resumed, _ = make_runner(tmp_path, agent_class=IncompatibleAgent, num_iterations=3)
  with pytest.raises(run_experiment.NoUsableCheckpointError,
                     match=r"ckpt_1 verifies, but the agent \(IncompatibleAgent\) cannot restore it "
                           r"\(KeyError: 'no such entry'\).*Nothing was moved or deleted"):
    resumed.run_experiment()
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['ckpt_0', 'ckpt_1']
  assert (tmp_path / 'metrics.jsonl').read_text() == metrics_before


def test_unknown_schedule_is_named(tmp_path):
  with pytest.raises(ValueError, match="'sometimes'.*continuous_train"):
    run_experiment.create_runner(str(tmp_path), schedule='sometimes')


@pytest.mark.parametrize('budget, match', [
    (dict(training_steps=0), 'training_steps must be >= 1'),
    (dict(num_iterations='3'), "num_iterations must be a whole number, got '3'"),
    (dict(training_steps=1.5), 'training_steps must be a whole number, got 1.5'),
    (dict(evaluation_steps=True), 'evaluation_steps must be a whole number, got True'),
])
def test_invalid_budgets_are_rejected(tmp_path, budget, match):
  with pytest.raises(ValueError, match=match):
    make_runner(tmp_path, **budget)


def test_resume_tolerates_a_metrics_line_torn_by_a_kill(tmp_path):
  runner, _ = make_runner(tmp_path, num_iterations=2)
  runner.run_experiment()
  with open(tmp_path / 'metrics.jsonl', 'a') as file:
    file.write('{"iteration": 2, "train/avera')
  resumed, _ = make_runner(tmp_path, num_iterations=3)
  resumed.run_experiment()
  with open(tmp_path / 'metrics.jsonl') as file:
    assert [json.loads(line)['iteration'] for line in file] == [0, 1, 2]


class GoalEnv(ScriptedEnv):
  """Reports info['success'] true at the second step of every other episode (the even ones)."""

  def step(self, action):
    observation, reward, terminated, truncated, info = super().step(action)
    return observation, reward, terminated, truncated, {
        **info, 'success': self._t == 2 and (self.resets - 1) % 2 == 0}


def test_success_rate_is_the_share_of_episodes_that_ever_report_success(tmp_path):
  runner, _ = make_runner(tmp_path, env=GoalEnv(episode_length=4), num_iterations=1,
                          training_steps=16, evaluation_steps=12)
  runner.run_experiment()
  with open(tmp_path / 'metrics.jsonl') as file:
    record = json.loads(file.readline())
  assert record['train/num_episodes'] == 4 and record['train/success_rate'] == 0.5
  assert record['eval/num_episodes'] == 3 and record['eval/success_rate'] == pytest.approx(2 / 3)
  runner, _ = make_runner(tmp_path / 'plain', num_iterations=1)
  runner.run_experiment()
  with open(tmp_path / 'plain' / 'metrics.jsonl') as file:
    assert not any('success' in key for key in json.loads(file.readline()))
