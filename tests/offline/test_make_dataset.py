"""offline.make_dataset: exact sizes, determinism for a seed, an interrupted collection never
looking complete, a trained agent as the source, and bad input named. That every config of
gin_configs/datasets/ collects is checked in tests/test_gin_configs.py."""

import os
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest

from offline import datasets
from offline import make_dataset
from runner import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Bindings without a gin file name the modules they use, as a gin file's import lines would.
PENDULUM_RANDOM = ['import continuous_domains.mujoco', 'import offline.controllers',
                   'create_environment.fn = @create_mujoco_environment',
                   "create_mujoco_environment.environment_name = 'Pendulum-v1'",
                   'collect.policy = @UniformRandomPolicy()', 'collect.progress_bar = False']


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def collect(bindings):
  gin.clear_config()
  return make_dataset.make_dataset([], bindings)


def test_exact_step_budget_and_the_same_dataset_for_the_same_seed(tmp_path):
  summaries = [collect(PENDULUM_RANDOM + [f"collect.output_dir = '{tmp_path / name}'",
                                          'collect.num_steps = 450', 'collect.seed = 3'])
               for name in ('a', 'b')]
  assert summaries[0]['steps'] == 450 and summaries[0]['episodes'] == 3  # 200 + 200 + 50
  a, b = (datasets.load_dataset(str(tmp_path / name)) for name in ('a', 'b'))
  assert a.num_steps == 450
  for key, values in a.transitions().items():
    np.testing.assert_array_equal(values, b.transitions()[key])
  episodes = list(a)
  assert len(episodes[-1].actions) == 50 and episodes[-1].truncations[-1]
  assert not np.any(a.transitions()['terminated'])
  other = collect(PENDULUM_RANDOM + [f"collect.output_dir = '{tmp_path / 'c'}'",
                                     'collect.num_steps = 450', 'collect.seed = 4'])
  assert other['steps'] == 450
  assert not np.array_equal(datasets.load_dataset(str(tmp_path / 'c')).transitions()['action'],
                            a.transitions()['action'])


def test_episode_budget_and_episode_cap(tmp_path):
  summary = collect(PENDULUM_RANDOM + [f"collect.output_dir = '{tmp_path / 'd'}'",
                                       'collect.num_episodes = 4',
                                       'collect.max_steps_per_episode = 30'])
  assert summary['episodes'] == 4 and summary['steps'] == 120
  assert all(episode.truncations[-1] for episode in datasets.load_dataset(str(tmp_path / 'd')))


def test_an_interrupted_collection_never_looks_complete(tmp_path):
  output = tmp_path / 'big'
  command = [sys.executable, '-um', 'offline.make_dataset']
  for binding in PENDULUM_RANDOM + [f"collect.output_dir = '{output}'", 'collect.num_steps = 10000000']:
    command += ['--gin_bindings', binding]
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while time.time() < deadline and not any(
      name.startswith('big') for name in os.listdir(tmp_path)):
    time.sleep(0.05)
  time.sleep(1.0)  # episodes are being written
  assert process.poll() is None
  process.send_signal(signal.SIGKILL)
  process.wait()
  with pytest.raises(datasets.DatasetError):
    datasets.load_dataset(str(output))
  for name in os.listdir(tmp_path):
    with pytest.raises(datasets.DatasetError, match='(?i)incomplete|partial|not a'):
      datasets.load_dataset(str(tmp_path / name))


def test_a_trained_agent_is_a_source(tmp_path):
  run_dir = tmp_path / 'sac_run'
  tiny = ['Runner.num_iterations=1', 'Runner.training_steps=300', 'Runner.evaluation_steps=0',
          'SACAgent.min_replay_history=100', 'SACAgent.batch_size=8',
          'TanhGaussianActor.hidden_sizes=(8,)', 'EnsembleQNetwork.hidden_sizes=(8,)',
          'Runner.progress_bar=False']
  command = [sys.executable, '-um', 'runner.train', '--base_dir', str(run_dir), '--gin_files',
             'gin_configs/sac/pendulum.gin'] + sum((['--gin_bindings', b] for b in tiny), [])
  subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=300)
  # The dataset config names the run, not its training config or the bindings above: the agent
  # (8-unit networks here, 256 by default) is rebuilt from the run directory alone.
  agent_bindings = [f"AgentPolicy.run_dir = '{run_dir}'", 'AgentPolicy.deterministic = True',
                    'collect.num_steps = None', 'collect.num_episodes = 1',
                    'collect.progress_bar = False']
  for name in ('a', 'b'):
    gin.clear_config()
    summary = make_dataset.make_dataset(['gin_configs/datasets/pendulum_sac.gin'],
                                        agent_bindings + [f"collect.output_dir = '{tmp_path / name}'"])
    assert summary['steps'] == 200
    assert 'TanhGaussianActor.hidden_sizes' not in gin.operative_config_str()
  a, b = (datasets.load_dataset(str(tmp_path / name)) for name in ('a', 'b'))
  np.testing.assert_array_equal(a.transitions()['action'], b.transitions()['action'])
  actions = a.transitions()['action']
  assert np.all(np.abs(actions) <= 2.0) and np.std(actions) > 0

  gin.clear_config()
  with pytest.raises(train.BadInputError, match='nothing is not a run directory'):
    make_dataset.make_dataset(['gin_configs/datasets/pendulum_sac.gin'], agent_bindings + [
        f"AgentPolicy.run_dir = '{tmp_path / 'nothing'}'", f"collect.output_dir = '{tmp_path / 'c'}'"])
  gin.clear_config()
  with pytest.raises(train.BadInputError, match='trained with the observation space'):
    make_dataset.make_dataset(['gin_configs/datasets/pendulum_sac.gin'], agent_bindings + [
        "create_mujoco_environment.environment_name = 'MountainCarContinuous-v0'",
        f"collect.output_dir = '{tmp_path / 'd'}'"])


def test_the_collection_seed_decides_a_restored_agents_exploration(tmp_path):
  # DQN explores with its numpy Generator, which the checkpoint restores: without reseeding, every
  # collection seed would replay the training run's stream.
  run_dir = tmp_path / 'dqn_run'
  tiny = ['Runner.num_iterations=1', 'Runner.training_steps=100', 'Runner.evaluation_steps=0',
          'DQNAgent.min_replay_history=50', 'DQNAgent.batch_size=8', 'MLP.hidden_sizes=(8,)',
          'DQNAgent.epsilon_eval=1.0', 'Runner.progress_bar=False']
  command = [sys.executable, '-um', 'runner.train', '--base_dir', str(run_dir), '--gin_files',
             'gin_configs/dqn/cartpole.gin'] + sum((['--gin_bindings', b] for b in tiny), [])
  subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=300)
  actions = {}
  for name, seed in [('a', 0), ('b', 0), ('c', 1)]:
    gin.clear_config()
    make_dataset.make_dataset(['gin_configs/dqn/cartpole.gin'], [
        b.replace('=', ' = ', 1) for b in tiny] + [
        'collect.policy = @AgentPolicy()', f"AgentPolicy.run_dir = '{run_dir}'",
        'AgentPolicy.deterministic = False', 'collect.num_steps = 60', f'collect.seed = {seed}',
        'collect.progress_bar = False', f"collect.output_dir = '{tmp_path / name}'"])
    actions[name] = datasets.load_dataset(str(tmp_path / name)).transitions()['action']
  np.testing.assert_array_equal(actions['a'], actions['b'])
  assert not np.array_equal(actions['a'], actions['c'])


def test_bad_input_is_named(tmp_path):
  with pytest.raises(train.BadInputError, match='exactly one of'):
    collect(PENDULUM_RANDOM + [f"collect.output_dir = '{tmp_path / 'x'}'"])
  collect(PENDULUM_RANDOM + [f"collect.output_dir = '{tmp_path / 'y'}'", 'collect.num_steps = 10'])
  with pytest.raises(train.BadInputError, match='exists'):
    collect(PENDULUM_RANDOM + [f"collect.output_dir = '{tmp_path / 'y'}'", 'collect.num_steps = 10'])
  result = subprocess.run([sys.executable, '-um', 'offline.make_dataset', '--gin_files',
                           'no/such.gin'], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and 'gin file not found' in result.stderr
  with pytest.raises(train.BadInputError, match='SFPRoomGoalController needs an environment with'):
    collect(['import discrete_domains.classic', 'import offline.controllers',
             'create_environment.fn = @create_classic_environment',
             "create_classic_environment.environment_name = 'CartPole-v1'",
             'collect.policy = @SFPRoomGoalController()', 'collect.num_steps = 10',
             'collect.progress_bar = False', f"collect.output_dir = '{tmp_path / 'z'}'"])
  with pytest.raises(train.BadInputError, match='NoSuchTask'):
    collect(PENDULUM_RANDOM + ["create_mujoco_environment.environment_name = 'NoSuchTask-v0'",
                               'collect.num_steps = 10',
                               f"collect.output_dir = '{tmp_path / 'w'}'"])


def test_the_agent_dataset_config_names_its_run_and_environment():
  train.parse_gin(['datasets/pendulum_sac.gin'], [])
  assert gin.query_parameter('AgentPolicy.run_dir') == 'runs/sac_pendulum'
  assert gin.query_parameter('create_mujoco_environment.environment_name') == 'Pendulum-v1'
  assert gin.query_parameter('collect.num_steps') == 500000
