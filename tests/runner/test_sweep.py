"""runner.sweep: grid parsing and run naming by hand, and whole sweeps of tiny CartPole runs on a
local Ray cluster: every combination runs in its own directory, a rerun skips finished runs and
resumes an interrupted one, and a failing run is reported without stopping the others."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runner import metrics
from runner import sweep

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CARTPOLE = 'gin_configs/dqn/cartpole.gin'
TINY = ['Runner.training_steps=100', 'Runner.evaluation_steps=50', 'DQNAgent.min_replay_history=50',
        'MLP.hidden_sizes=(8,)']


def test_grid_values_keep_their_gin_text():
  assert sweep.parse_grid_axis('Runner.seed=[0, 1,2]') == ('Runner.seed', ['0', '1', '2'])
  assert sweep.parse_grid_axis("create_atari_environment.game_name=['Pong', 'Breakout']") == (
      'create_atari_environment.game_name', ["'Pong'", "'Breakout'"])
  assert sweep.parse_grid_axis('create_agent.agent_class=[@DQNAgent, @RainbowAgent]')[1] == [
      '@DQNAgent', '@RainbowAgent']
  # Commas inside tuples and strings do not split values.
  assert sweep.parse_grid_axis("MLP.hidden_sizes=[(64, 64), (8,), 'a,b']")[1] == [
      '(64, 64)', '(8,)', "'a,b'"]
  # An escaped quote stays inside its string; an escaped backslash before a quote does not.
  assert sweep.parse_grid_axis(r"X.s=['a\',b', 'c']")[1] == [r"'a\',b'", "'c'"]
  assert sweep.parse_grid_axis(r"X.s=['a\\', 'b']")[1] == [r"'a\\'", "'b'"]


@pytest.mark.parametrize('text, fragment', [
    ('Runner.seed', 'expected'), ('seed=[0]', 'not a gin parameter'),
    ('Runner.seed=0', 'bracketed list'), ('Runner.seed=[]', 'no values'),
    ('Runner.seed=[1, 1]', 'repeated')])
def test_bad_grid_axes_are_named(text, fragment):
  with pytest.raises(sweep.SweepInputError, match=fragment):
    sweep.parse_grid_axis(text)


def test_the_grid_expands_to_its_cartesian_product_with_readable_names(tmp_path):
  runs = sweep.expand_grid(str(tmp_path), [
      "create_atari_environment.game_name=['Pong', 'Breakout']", 'Runner.seed=[0, 1, 2]'])
  assert [run.name for run in runs] == [
      'game_name=Pong,seed=0', 'game_name=Pong,seed=1', 'game_name=Pong,seed=2',
      'game_name=Breakout,seed=0', 'game_name=Breakout,seed=1', 'game_name=Breakout,seed=2']
  assert runs[4].bindings == ("create_atari_environment.game_name='Breakout'", 'Runner.seed=1')
  assert runs[4].directory == str(tmp_path / 'game_name=Breakout,seed=1')
  # The order of the --grid flags changes the order of the runs, not their directories.
  reordered = sweep.expand_grid(str(tmp_path), [
      'Runner.seed=[0, 1, 2]', "create_atari_environment.game_name=['Pong', 'Breakout']"])
  assert sorted(run.name for run in reordered) == sorted(run.name for run in runs)
  with pytest.raises(sweep.SweepInputError, match='longer than 255 bytes'):
    sweep.expand_grid('d', [f"X.name=['{'a' * 300}']"])
  # Parameters that share a last name are named in full.
  names = [run.name for run in sweep.expand_grid('d', ['A.rate=[1]', 'B.rate=[2]'])]
  assert names == ['A.rate=1,B.rate=2']
  assert [run.name for run in sweep.expand_grid('d', [])] == ['run']
  with pytest.raises(sweep.SweepInputError, match='same run directory'):
    sweep.expand_grid('d', ["X.name=['a b', 'a_b']"])


def run_sweep(base_dir, grid, bindings=TINY, extra=()):
  args = [sys.executable, '-um', 'runner.sweep', '--base_dir', str(base_dir), '--gin_files',
          CARTPOLE, '--num_cpus', '2']
  for binding in bindings:
    args += ['--gin_bindings', binding]
  for axis in grid:
    args += ['--grid', axis]
  return subprocess.run(args + list(extra), cwd=REPO, capture_output=True, text=True, timeout=600)


def states_of(base_dir):
  return {name: run['state']
          for name, run in json.loads((base_dir / 'sweep.json').read_text())['runs'].items()}


def test_a_sweep_runs_skips_finished_runs_resumes_interrupted_ones_and_reports_failures(tmp_path):
  base_dir = tmp_path / 'sweep'
  # Iterations long enough (about 0.3 s) that the kill below lands mid-run.
  bindings = TINY + ['Runner.num_iterations=4', 'Runner.training_steps=1000']
  grid = ['Runner.seed=[0, 1]',
          "create_classic_environment.environment_name=['CartPole-v1', 'NoSuchTask-v0']"]
  # Interrupt one run the way a crash or a kill of the sweep would: start the very command the
  # sweep runs for it, and kill -9 it after its second checkpoint.
  runs = {run.name: run for run in sweep.expand_grid(str(base_dir), grid)}
  interrupted = runs['environment_name=CartPole-v1,seed=1']
  command = sweep.train_command(interrupted, [os.path.join(REPO, CARTPOLE)], bindings)
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             env={**os.environ, **sweep.run_environment(1)})
  deadline = time.time() + 240
  while (not os.path.exists(os.path.join(interrupted.directory, 'checkpoints', 'ckpt_1'))
         and time.time() < deadline):
    time.sleep(0.02)
  time.sleep(0.1)
  assert process.poll() is None, 'the run ended before it could be killed'
  process.send_signal(signal.SIGKILL)
  process.wait()
  before_kill = metrics.read_metrics(interrupted.directory)
  assert 2 <= len(before_kill) < 4

  result = run_sweep(base_dir, grid, bindings)
  assert result.returncode == 1, result.stderr[-3000:]  # the NoSuchTask runs fail
  assert states_of(base_dir) == {
      'environment_name=CartPole-v1,seed=0': 'finished',
      'environment_name=NoSuchTask-v0,seed=0': 'failed',
      'environment_name=CartPole-v1,seed=1': 'finished',
      'environment_name=NoSuchTask-v0,seed=1': 'failed'}
  failed_log = os.path.join(runs['environment_name=NoSuchTask-v0,seed=0'].directory, 'train.log')
  assert failed_log in result.stdout and 'NoSuchTask' in open(failed_log).read()
  assert 'runner.train: error: cannot build the run' in result.stdout + result.stderr
  # The interrupted run resumed from its checkpoint, keeping what it had recorded.
  resumed = metrics.read_metrics(interrupted.directory)
  assert [record['iteration'] for record in resumed] == [0, 1, 2, 3]
  assert resumed[:len(before_kill)] == before_kill
  assert 'Resumed from the checkpoint of iteration' in open(
      os.path.join(interrupted.directory, 'train.log')).read()
  assert len(metrics.read_metrics(runs['environment_name=CartPole-v1,seed=0'].directory)) == 4

  # Rerun: finished runs are skipped, failed ones tried again (and fail again).
  again = run_sweep(base_dir, grid, bindings)
  assert again.returncode == 1
  assert states_of(base_dir) == {
      'environment_name=CartPole-v1,seed=0': 'skipped',
      'environment_name=NoSuchTask-v0,seed=0': 'failed',
      'environment_name=CartPole-v1,seed=1': 'skipped',
      'environment_name=NoSuchTask-v0,seed=1': 'failed'}
  assert len(metrics.read_metrics(interrupted.directory)) == 4


def test_a_run_size_the_cluster_cannot_hold_is_refused():
  sweep.check_resources({'CPU': 2.0}, 2, 0)
  with pytest.raises(sweep.SweepInputError, match='--cpus_per_run 3: the Ray cluster has 2 CPUs'):
    sweep.check_resources({'CPU': 2.0}, 3, 0)
  with pytest.raises(sweep.SweepInputError, match='--gpus_per_run 0.5: the Ray cluster has 0 GPUs'):
    sweep.check_resources({'CPU': 2.0}, 1, 0.5)


def test_run_environment_threads_and_gpu_memory(monkeypatch):
  monkeypatch.delenv('XLA_FLAGS', raising=False)
  monkeypatch.delenv('XLA_PYTHON_CLIENT_PREALLOCATE', raising=False)
  assert sweep.run_environment(1) == {'XLA_FLAGS': '--xla_cpu_multi_thread_eigen=false'}
  assert sweep.run_environment(4) == {}
  assert sweep.run_environment(4, 0.25) == {'XLA_PYTHON_CLIENT_PREALLOCATE': 'false'}
  assert sweep.run_environment(4, 1) == {}
  monkeypatch.setenv('XLA_FLAGS', '--mine')
  assert sweep.run_environment(1) == {}  # the user's own settings win


def test_a_failure_is_shown_from_its_error_message(tmp_path):
  log = tmp_path / 'train.log'
  log.write_text('\n==== first attempt\nTraceback (most recent call last):\n  old\nOldError\n'
                 '\n==== second attempt\nI0101 Building\n  In call to configurable X\n'
                 "runner.train: error: cannot build the run: unknown optimizer 'nonsense'\n"
                 '  In call to configurable create_optimizer\n')
  excerpt = sweep.failure_excerpt(str(log))
  assert excerpt.startswith("runner.train: error: cannot build the run: unknown optimizer")
  assert 'OldError' not in excerpt and 'create_optimizer' in excerpt
  # A crash: its whole chained traceback, the root cause first.
  log.write_text('\n==== attempt\nI0101 Building\nTraceback (most recent call last):\n  a\n'
                 'KeyError: root\n\nDuring handling of the above exception, another exception '
                 'occurred:\n\nTraceback (most recent call last):\n  b\nRuntimeError: outer\n')
  excerpt = sweep.failure_excerpt(str(log))
  assert excerpt.startswith('Traceback') and 'KeyError: root' in excerpt
  assert excerpt.endswith('RuntimeError: outer\n')


def test_a_dry_run_shows_failed_runs_and_creates_nothing(tmp_path):
  (run,) = sweep.expand_grid(str(tmp_path / 'sweep'), ['Runner.seed=[0]'])
  gin_file = os.path.join(REPO, CARTPOLE)
  outcomes = sweep.sweep(str(tmp_path / 'sweep'), [gin_file], [], ['Runner.seed=[0]'],
                         dry_run=True)
  assert outcomes == {'seed=0': {'state': 'new'}}
  assert not os.path.exists(tmp_path / 'sweep')
  command = sweep.train_command(run, [gin_file], [])
  os.makedirs(run.directory)
  (tmp_path / 'sweep' / 'seed=0' / sweep.RUN_RECORD).write_text(
      json.dumps({'command': command[1:], 'returncode': 2}))
  assert sweep.run_state(run, command) == 'failed'
  listing = subprocess.run([sys.executable, '-um', 'runner.sweep', '--base_dir',
                            str(tmp_path / 'sweep'), '--gin_files', gin_file, '--grid',
                            'Runner.seed=[0]', '--dry_run'], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
  assert listing.returncode == 0, listing.stderr[-2000:]
  assert listing.stdout.split() == ['seed=0', 'failed']


def test_bad_sweep_input_is_a_one_line_error(tmp_path):
  result = run_sweep(tmp_path, ['Runner.seed=0'])
  assert result.returncode == 2
  assert 'runner.sweep: error:' in result.stderr and 'bracketed list' in result.stderr
  result = subprocess.run([sys.executable, '-um', 'runner.sweep', '--base_dir', str(tmp_path),
                           '--gin_files', 'no/such.gin'], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2 and 'gin file not found: no/such.gin' in result.stderr
