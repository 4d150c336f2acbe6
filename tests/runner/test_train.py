"""`python -um runner.train` as a user runs it: bad input, config records, determinism, kill -9 and
resume, and a CartPole smoke run. Each test starts real subprocesses on tiny budgets."""

import os
import signal
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing import event_accumulator

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CARTPOLE = 'gin_configs/dqn/cartpole.gin'
TINY = ['Runner.num_iterations=3', 'Runner.training_steps=200', 'Runner.evaluation_steps=100',
        'DQNAgent.min_replay_history=50', 'MLP.hidden_sizes=(16,)', 'Runner.progress_bar=False']


def command(base_dir, gin_files=(CARTPOLE,), bindings=TINY, extra=()):
  args = [sys.executable, '-um', 'runner.train', '--base_dir', str(base_dir)]
  for gin_file in gin_files:
    args += ['--gin_files', gin_file]
  for binding in bindings:
    args += ['--gin_bindings', binding]
  return args + list(extra)


def train(base_dir, **kwargs):
  return subprocess.run(command(base_dir, **kwargs), cwd=REPO, capture_output=True, text=True,
                        timeout=300)


def read(path):
  with open(path) as file:
    return file.read()


def assert_bad_input(result, *fragments):
  assert result.returncode == 2, result.stderr[-3000:]
  message = result.stderr[result.stderr.index('runner.train: error:'):]
  assert 'Traceback' not in message
  for fragment in fragments:
    assert fragment in message, message


def test_cartpole_smoke_run_writes_config_metrics_checkpoints_and_events(tmp_path):
  result = train(tmp_path / 'run')
  assert result.returncode == 0, result.stderr[-3000:]
  run = tmp_path / 'run'
  config = read(run / 'config.gin')
  assert 'DQNAgent.target_update_period = 100' in config
  assert "create_classic_environment.environment_name = 'CartPole-v1'" in config
  assert len(read(run / 'metrics.jsonl').splitlines()) == 3
  assert sorted(os.listdir(run / 'checkpoints')) == ['ckpt_0', 'ckpt_1', 'ckpt_2']
  assert 'Iteration 2: train average return' in result.stderr
  accumulator = event_accumulator.EventAccumulator(
      str(run), size_guidance={event_accumulator.HISTOGRAMS: 0})
  accumulator.Reload()
  for tag in ['train/average_return', 'eval/average_return', 'agent/loss', 'agent/epsilon',
              'train/steps_per_second']:
    assert len(accumulator.Scalars(tag)) == 3, tag
  # The agent's own figures, one per iteration, beside the Runner's scalars.
  for tag in ['agent/q_values', 'agent/td_loss']:
    assert [event.step for event in accumulator.Histograms(tag)] == [0, 1, 2], tag


def test_gin_file_is_found_from_another_directory(tmp_path):
  result = subprocess.run(command(tmp_path / 'run', gin_files=['dqn/cartpole.gin'],
                                  bindings=TINY + ['Runner.num_iterations=1']),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(tmp_path):
  results = [train(tmp_path / name, bindings=TINY + [f'Runner.seed={seed}'])
             for name, seed in [('a', 7), ('b', 7), ('c', 8)]]
  assert all(result.returncode == 0 for result in results)
  metrics = [read(tmp_path / name / 'metrics.jsonl') for name in 'abc']
  assert metrics[0] == metrics[1]
  assert metrics[0] != metrics[2]


# (gin files, bindings): DQN on CartPole, and PSDRL on DeepSea, whose resume must bring back the
# posterior's draw, the networks, the replay and the GRU state of the episode in progress.
KILLED_RUNS = {
    'dqn': ((CARTPOLE,), TINY + ['Runner.num_iterations=6', 'Runner.training_steps=1000']),
    'psdrl': (('gin_configs/psdrl/deep_sea.gin',), [
        'Runner.num_iterations=6', 'Runner.training_steps=300', 'Runner.evaluation_steps=20',
        'create_deep_sea_environment.size=6', 'PSDRLAgent.update_period=30',
        'PSDRLAgent.late_update_period=30', 'PSDRLAgent.batch_size=4',
        'PSDRLAgent.sequence_length=6', 'PSDRLAgent.posterior_chunk_size=128',
        'Runner.progress_bar=False']),
}


@pytest.mark.parametrize('agent', sorted(KILLED_RUNS))
def test_kill_9_mid_run_then_resume_gives_the_same_metrics(tmp_path, agent):
  # Iterations long enough (about 0.3 s and more) that the kill lands mid-run, not after the end.
  gin_files, bindings = KILLED_RUNS[agent]
  reference = train(tmp_path / 'reference', gin_files=gin_files, bindings=bindings)
  assert reference.returncode == 0, reference.stderr[-3000:]

  run = tmp_path / 'killed'
  process = subprocess.Popen(command(run, gin_files=gin_files, bindings=bindings), cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while not os.path.exists(run / 'checkpoints' / 'ckpt_2') and time.time() < deadline:
    time.sleep(0.02)
  time.sleep(0.1)  # into the next iteration
  assert process.poll() is None, 'the run ended before it could be killed'
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert len(read(run / 'metrics.jsonl').splitlines()) < 6

  resumed = train(run, gin_files=gin_files, bindings=bindings)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'Resumed from the checkpoint of iteration' in resumed.stderr
  assert read(run / 'metrics.jsonl') == read(tmp_path / 'reference' / 'metrics.jsonl')
  accumulator = event_accumulator.EventAccumulator(str(run))
  accumulator.Reload()
  assert [event.step for event in accumulator.Scalars('train/average_return')] == list(range(6))


def test_rerunning_a_finished_run_does_nothing_more(tmp_path):
  assert train(tmp_path).returncode == 0
  before = read(tmp_path / 'metrics.jsonl')
  again = train(tmp_path)
  assert again.returncode == 0 and 'Nothing to do' in again.stderr
  assert read(tmp_path / 'metrics.jsonl') == before


def test_corrupt_newest_checkpoint_warns_and_falls_back(tmp_path):
  assert train(tmp_path).returncode == 0
  reference = read(tmp_path / 'metrics.jsonl')
  state = tmp_path / 'checkpoints' / 'ckpt_2' / 'state.npz'
  with open(state, 'r+b') as file:
    file.truncate(os.path.getsize(state) // 2)
  result = train(tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Checkpoint of iteration 2 is unusable' in result.stderr
  assert 'Resumed from the checkpoint of iteration 1' in result.stderr
  assert os.path.isdir(tmp_path / 'checkpoints' / 'ckpt_2.corrupt')
  assert read(tmp_path / 'metrics.jsonl') == reference


def test_resuming_with_a_different_config_shows_the_difference(tmp_path):
  assert train(tmp_path).returncode == 0
  changed = TINY + ['DQNAgent.gamma=0.9', 'Runner.num_iterations=4']
  assert_bad_input(train(tmp_path, bindings=changed), 'different operative config',
                   '-DQNAgent.gamma = 0.99', '+DQNAgent.gamma = 0.9', '--allow_config_change')
  allowed = train(tmp_path, bindings=changed, extra=['--allow_config_change'])
  assert allowed.returncode == 0, allowed.stderr[-3000:]
  assert 'DQNAgent.gamma = 0.9\n' in read(tmp_path / 'config.gin')
  assert len(read(tmp_path / 'metrics.jsonl').splitlines()) == 4


def test_a_checkpoint_the_new_config_cannot_restore_keeps_the_run_as_it_was(tmp_path):
  assert train(tmp_path, bindings=TINY + ['Runner.num_iterations=1']).returncode == 0
  recorded = read(tmp_path / 'config.gin')
  resized = train(tmp_path, bindings=TINY + ['MLP.hidden_sizes=(32,)'],
                  extra=['--allow_config_change'])
  assert_bad_input(resized, 'ckpt_0 verifies, but the agent (DQNAgent) cannot restore it',
                   'has shape (16, 2) in the checkpoint but (32, 2) in this agent')
  assert read(tmp_path / 'config.gin') == recorded
  assert os.listdir(tmp_path / 'checkpoints') == ['ckpt_0']
  # The original config still resumes it.
  resumed = train(tmp_path, bindings=TINY + ['Runner.num_iterations=2'],
                  extra=['--allow_config_change'])
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert len(read(tmp_path / 'metrics.jsonl').splitlines()) == 2


def test_a_display_only_change_is_not_a_config_change(tmp_path):
  from runner import train as train_module  # pylint: disable=import-outside-toplevel
  recorded = 'Runner.num_iterations = 3\nRunner.progress_bar = False\nRunner.seed = 0\n'
  (tmp_path / 'config.gin').write_text(recorded)
  train_module.check_config_unchanged(str(tmp_path), recorded.replace('False', 'True'), False)
  without_the_bar = recorded.replace('Runner.progress_bar = False\n', '')
  train_module.check_config_unchanged(str(tmp_path), without_the_bar, False)
  with pytest.raises(train_module.BadInputError, match=r'-Runner.seed = 0'):
    train_module.check_config_unchanged(str(tmp_path), recorded.replace('seed = 0', 'seed = 1'),
                                        False)


def test_missing_gin_file(tmp_path):
  assert_bad_input(train(tmp_path, gin_files=['gin_configs/dqn/nothere.gin']),
                   'gin file not found: gin_configs/dqn/nothere.gin')


def test_missing_included_gin_file(tmp_path):
  gin_file = tmp_path / 'broken.gin'
  gin_file.write_text("include 'gin_configs/dqn/nothere.gin'\n")
  assert_bad_input(train(tmp_path / 'run', gin_files=[str(gin_file)]), 'nothere.gin',
                   str(gin_file))


def test_unknown_configurable_in_a_binding(tmp_path):
  assert_bad_input(train(tmp_path, bindings=TINY + ['NoSuchAgent.gamma=0.9']),
                   "No configurable matching 'NoSuchAgent'", 'bindings')


def test_unknown_parameter_in_a_gin_file(tmp_path):
  gin_file = tmp_path / 'typo.gin'
  gin_file.write_text(f"include '{CARTPOLE}'\nDQNAgent.gama = 0.9\n")
  assert_bad_input(train(tmp_path / 'run', gin_files=[str(gin_file)]),
                   "'DQNAgent' doesn't have a parameter named 'gama'", str(gin_file), 'line 2')


def test_missing_required_binding(tmp_path):
  result = train(tmp_path, gin_files=[],
                 bindings=['import discrete_domains.classic',
                           'create_environment.fn=@create_classic_environment'])
  assert_bad_input(result, 'create_agent', 'agent_class')


def test_agent_that_cannot_handle_the_spaces(tmp_path):
  result = train(tmp_path, bindings=TINY + [
      "create_classic_environment.environment_name='Pendulum-v1'"])
  assert_bad_input(result, 'DQNAgent cannot handle the action space Box', 'Discrete')


@pytest.mark.parametrize('binding, fragments', [
    ("create_classic_environment.environment_name='NoSuchEnv-v0'", ('NoSuchEnv',)),
    ('Runner.num_iterations=2.5', ('Runner.num_iterations must be a whole number', '2.5')),
])
def test_unknown_environment_and_fractional_budget(tmp_path, binding, fragments):
  result = train(tmp_path, bindings=TINY + [binding])
  assert_bad_input(result, 'cannot build the run', *fragments)
  assert not os.path.exists(tmp_path / 'checkpoints')


def test_unwritable_base_dir(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a directory')
  assert_bad_input(train(blocker / 'run'), 'cannot write to --base_dir', str(blocker / 'run'))


def test_nan_loss_is_reported_and_checkpoints_survive(tmp_path):
  assert train(tmp_path, bindings=TINY + ['Runner.num_iterations=1']).returncode == 0
  result = train(tmp_path, bindings=TINY + ['Runner.num_iterations=2',
                                            'create_optimizer.learning_rate=1e30'],
                 extra=['--allow_config_change'])
  assert_bad_input(result, 'iteration 1', 'loss = nan')
  assert os.listdir(tmp_path / 'checkpoints') == ['ckpt_0']
