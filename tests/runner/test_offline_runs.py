"""The offline and eval schedules, and components loaded from run directories: an offline run has
an online run's guarantees (records, resume after kill -9, determinism, bad input named with exit
2), and load_component rebuilds a component from its own run directory, isolated from the
caller's gin config."""

import json
import os
import signal
import subprocess
import sys
import time

import gin
import gymnasium
import numpy as np
import pytest

from offline import components
from offline import datasets
from runner import checkpoints
from runner import errors
from runner import run_experiment
from runner import train
from tests import fakes
from tests.fakes import ScriptedEnv, SpyAgent
from tests.offline import dataset_examples

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (3,), np.float32)


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.fixture(scope='module')
def dataset_path(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('data') / 'actions')
  episodes = dataset_examples.random_episodes(np.random.default_rng(0), OBSERVATIONS, ACTIONS,
                                              [30, 40, 50])
  datasets.write_dataset(path, episodes, OBSERVATIONS, ACTIONS)
  return path


def offline_bindings(dataset, iterations=3, steps=50, extra=()):
  return ['import tests.fakes', "create_runner.schedule = 'offline'",
          'create_learner.learner_class = @MeanActionLearner', f"load_dataset.path = '{dataset}'",
          f'Runner.num_iterations = {iterations}', f'OfflineRunner.training_steps = {steps}',
          'MLP.hidden_sizes = (3,)', 'Runner.progress_bar = False', *extra]


def records(run_dir):
  with open(os.path.join(run_dir, 'metrics.jsonl')) as file:
    return [json.loads(line) for line in file]


def command(run_dir, bindings):
  return [sys.executable, '-um', 'runner.train', '--base_dir', str(run_dir)] + sum(
      (['--gin_bindings', binding] for binding in bindings), [])


# -- the offline schedule -------------------------------------------------------------------------


def test_an_offline_run_records_iterations_checkpoints_and_what_it_trains(tmp_path, dataset_path):
  train.run(str(tmp_path / 'run'), [], offline_bindings(dataset_path))
  run = tmp_path / 'run'
  lines = records(run)
  assert [record['iteration'] for record in lines] == [0, 1, 2]
  assert [record['train/gradient_steps'] for record in lines] == [50, 100, 150]
  assert all(np.isfinite(record['train/loss']) for record in lines)
  # SGD with batches of 8 keeps the estimate within sampling noise of the dataset's mean action.
  assert all(0 <= record['eval/distance_to_mean'] < 0.3 for record in lines)
  assert sorted(os.listdir(run / 'checkpoints')) == ['ckpt_0', 'ckpt_1', 'ckpt_2']
  description = json.loads((run / 'run.json').read_text())
  assert description['schedule'] == 'offline' and description['trains'] == 'learner'
  assert description['class'] == 'tests.fakes.MeanActionLearner'
  assert "create_learner.learner_class = @MeanActionLearner" in (run / 'config.gin').read_text()


def test_the_same_seed_gives_the_same_file_and_splitting_iterations_changes_nothing(
    tmp_path, dataset_path):
  for name, extra in [('a', []), ('a_again', []),
                      ('split', ['OfflineRunner.steps_per_progress_update = 7']),
                      ('other_seed', ['Runner.seed = 1'])]:
    gin.clear_config()
    train.run(str(tmp_path / name), [], offline_bindings(dataset_path, extra=extra))
  text = {name: (tmp_path / name / 'metrics.jsonl').read_text()
          for name in ('a', 'a_again', 'split', 'other_seed')}
  assert text['a'] == text['a_again']
  assert text['a'] != text['other_seed']
  # The learner's state is the same; only the mean of the losses is summed in another order.
  for one, other in zip(records(tmp_path / 'a'), records(tmp_path / 'split')):
    assert one['eval/distance_to_mean'] == other['eval/distance_to_mean']
    assert one['train/loss'] == pytest.approx(other['train/loss'], rel=1e-12)


def test_an_offline_run_killed_mid_iteration_resumes_to_the_same_file(tmp_path, dataset_path):
  # Iterations of 20k Python-level steps (about half a second) so that the kill lands mid-run.
  bindings = offline_bindings(dataset_path, iterations=5, steps=20000)
  reference = subprocess.run(command(tmp_path / 'reference', bindings), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
  assert reference.returncode == 0, reference.stderr[-3000:]
  run = tmp_path / 'killed'
  process = subprocess.Popen(command(run, bindings), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while not os.path.exists(run / 'checkpoints' / 'ckpt_1') and time.time() < deadline:
    time.sleep(0.02)
  time.sleep(0.1)  # into the next iteration
  assert process.poll() is None, 'the run ended before it could be killed'
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert len(records(run)) < 5
  resumed = subprocess.run(command(run, bindings), cwd=REPO, capture_output=True, text=True,
                           timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'Resumed from the checkpoint of iteration' in resumed.stderr
  assert (run / 'metrics.jsonl').read_text() == (tmp_path / 'reference' / 'metrics.jsonl').read_text()


@pytest.mark.parametrize('problem, fragment', [
    ('missing', 'no dataset at'),
    ('partial', 'no complete dataset'),
    ('unbound', 'load_dataset.path is not bound'),
    ('discrete actions', 'MeanActionLearner cannot handle the action space Discrete'),
    ('nan', 'the learner reported loss = nan'),
])
def test_bad_input_is_named_with_exit_status_2(tmp_path, dataset_path, problem, fragment):
  bindings = offline_bindings(dataset_path, iterations=2)
  if problem == 'missing':
    bindings.append(f"load_dataset.path = '{tmp_path / 'nowhere'}'")
  elif problem == 'partial':
    os.makedirs(tmp_path / 'half.partial')
    bindings.append(f"load_dataset.path = '{tmp_path / 'half'}'")
  elif problem == 'unbound':
    bindings = [b for b in bindings if not b.startswith('load_dataset.path')]
  elif problem == 'discrete actions':
    path = str(tmp_path / 'discrete')
    datasets.write_dataset(path, dataset_examples.random_episodes(
        np.random.default_rng(0), OBSERVATIONS, dataset_examples.DISCRETE, [5]),
                           OBSERVATIONS, dataset_examples.DISCRETE)
    bindings.append(f"load_dataset.path = '{path}'")
  else:
    bindings.append('MeanActionLearner.nan_after_steps = 60')  # in the second iteration
  result = subprocess.run(command(tmp_path / 'run', bindings), cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-3000:]
  assert fragment in result.stderr and 'Traceback' not in result.stderr, result.stderr[-3000:]
  if problem == 'nan':  # the first iteration's checkpoint and record are kept as they were
    assert os.listdir(tmp_path / 'run' / 'checkpoints') == ['ckpt_0']
    assert len(records(tmp_path / 'run')) == 1


# -- components -----------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def component_dirs(tmp_path_factory, dataset_path):
  """Two offline runs: 'a' with MLP (3,), 'b' with MLP (4, 4) and another seed."""
  run_dirs = {}
  for name, extra in [('a', []), ('b', ['MLP.hidden_sizes = (4, 4)', 'Runner.seed = 3'])]:
    gin.clear_config()
    run_dirs[name] = str(tmp_path_factory.mktemp('components') / name)
    train.run(run_dirs[name], [], offline_bindings(dataset_path, extra=extra))
  gin.clear_config()
  return run_dirs


def layer_shapes(params):
  return [leaf.shape for leaf in __import__('jax').tree.leaves(params)]


@gin.configurable
def two_components(first=None, second=None):
  return first, second


def test_a_component_is_rebuilt_from_its_own_run_whatever_the_callers_config(component_dirs):
  # The caller configures the same class differently and binds things the component never saw.
  gin.parse_config(['MLP.hidden_sizes = (7, 7, 7)', 'MeanActionLearner.learning_rate = 0.5',
                    f"load_component.base_dir = '{component_dirs['a']}'"])
  component = components.load_component()
  assert isinstance(component, fakes.MeanActionLearner)
  assert sorted(layer_shapes(component.params)) == [(2,), (3,), (3, 2), (3, 3)]
  assert component.learning_rate == 0.1 and component.training_steps == 150
  assert component.dataset is None
  # Nothing of the component's configuration leaks into the caller's, and the caller's stays.
  assert gin.query_parameter('MLP.hidden_sizes') == (7, 7, 7)
  operative = gin.operative_config_str()
  assert 'create_learner' not in operative and 'MeanActionLearner' not in operative
  with pytest.raises(ValueError):
    gin.query_parameter('create_learner.learner_class')


def test_a_restored_agent_builds_its_torso_with_its_own_runs_bindings(tmp_path):
  # Rainbow's torso is built inside the network's call: with the caller's MLPTorso bindings it
  # would not fit the restored parameters.
  run_dir = str(tmp_path / 'rainbow')
  gin.clear_config()
  train.run(run_dir, ['gin_configs/rainbow/gridworld.gin'], [
      'Runner.num_iterations = 1', 'Runner.training_steps = 60', 'Runner.evaluation_steps = 0',
      'DQNAgent.min_replay_history = 20', 'MLPTorso.hidden_sizes = (5,)',
      'Runner.progress_bar = False'])
  gin.clear_config()
  gin.parse_config(['import agents.networks', 'MLPTorso.hidden_sizes = (9, 9)'])
  agent = components.restore_trained(run_dir, 'agent')
  observation = np.zeros(agent.observation_space.shape, np.float32)
  observation[0] = 1.0
  assert agent.act(observation) in range(4)
  assert (5, 5) not in layer_shapes(agent.params) and (104, 5) in layer_shapes(agent.params)


def test_several_components_through_gin_scopes(component_dirs):
  gin.parse_config(['two_components.first = @a/load_component()',
                    'two_components.second = @b/load_component()',
                    f"a/load_component.base_dir = '{component_dirs['a']}'",
                    f"b/load_component.base_dir = '{component_dirs['b']}'"])
  first, second = two_components()
  assert sorted(layer_shapes(first.params)) == [(2,), (3,), (3, 2), (3, 3)]
  assert sorted(layer_shapes(second.params)) == [(2,), (3, 4), (4,), (4,), (4, 2), (4, 4)]
  assert second.seed == 3
  assert not np.array_equal(first.estimate, second.estimate)


def test_a_component_that_cannot_be_loaded_is_named(tmp_path, component_dirs):
  online = tmp_path / 'online'
  runner = run_experiment.Runner(
      str(online), create_environment_fn=ScriptedEnv, create_agent_fn=SpyAgent, num_iterations=1,
      training_steps=5, evaluation_steps=0, progress_bar=False)
  runner.run_experiment()
  with open(online / 'config.gin', 'w') as file:
    file.write('')
  cases = [(tmp_path / 'nowhere', 'nowhere is not a run directory: it does not exist'),
           (online, "online is a 'continuous_train_and_eval' run of tests.fakes.SpyAgent, which "
                    'trains an agent, not a learner: load_component loads offline runs')]
  unfinished = tmp_path / 'unfinished'
  os.makedirs(unfinished)
  for name in ('run.json', 'config.gin'):
    with open(os.path.join(component_dirs['a'], name)) as source, open(unfinished / name, 'w') as target:
      target.write(source.read())
  cases.append((unfinished, 'unfinished has no complete checkpoint'))
  for directory, fragment in cases:
    with pytest.raises(errors.BadInputError, match=fragment):
      components.load_component(str(directory))
  with pytest.raises(errors.MissingBindingError, match='load_component.base_dir'):
    components.load_component()


def test_a_corrupt_component_is_named_and_left_in_place(tmp_path, component_dirs):
  import shutil  # pylint: disable=import-outside-toplevel
  copy = tmp_path / 'copy'
  shutil.copytree(component_dirs['a'], copy)
  for name in os.listdir(copy / 'checkpoints'):
    with open(copy / 'checkpoints' / name / checkpoints.STATE_FILE, 'ab') as file:
      file.write(b'tampered')
  with pytest.raises(errors.BadInputError, match='none of the checkpoints .* could be restored'):
    components.load_component(str(copy))
  assert sorted(os.listdir(copy / 'checkpoints')) == ['ckpt_0', 'ckpt_1', 'ckpt_2']


# -- the eval schedule ----------------------------------------------------------------------------


def test_the_eval_schedule_only_evaluates_and_allows_zero_training_steps(tmp_path):
  env = ScriptedEnv(episode_length=4)
  runner = run_experiment.EvalRunner(
      str(tmp_path), create_environment_fn=lambda: env, create_agent_fn=SpyAgent,
      num_iterations=2, training_steps=0, evaluation_steps=8, progress_bar=False)
  runner.run_experiment()
  assert all(call[1] for call in runner.agent.calls)  # every hook in evaluation mode
  lines = records(tmp_path)
  assert [record['eval/num_episodes'] for record in lines] == [2, 2]
  assert not any(key.startswith('train/') for key in lines[0])
  with pytest.raises(errors.InvalidSettingError, match='evaluation_steps must be >= 1'):
    run_experiment.EvalRunner(str(tmp_path / 'b'), create_environment_fn=lambda: env,
                              create_agent_fn=SpyAgent, evaluation_steps=0)
  with pytest.raises(errors.InvalidSettingError, match='training_steps must be >= 1'):
    run_experiment.Runner(str(tmp_path / 'c'), create_environment_fn=lambda: env,
                          create_agent_fn=SpyAgent, training_steps=0)
