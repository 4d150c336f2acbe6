"""Every shipped gin config parses, and each experiment config runs end to end on a tiny budget."""

import glob
import os

import gin
import pytest

import gin_configs
from runner import run_experiment
from runner import train

EXPERIMENTS = sorted(
    os.path.relpath(path, gin_configs.CONFIG_DIR)
    for path in glob.glob(os.path.join(gin_configs.CONFIG_DIR, '**', '*.gin'), recursive=True)
    # shared/ holds fragments; datasets/ holds collections (tests/offline/test_make_dataset.py).
    if not path.startswith((os.path.join(gin_configs.CONFIG_DIR, 'shared', ''),
                            os.path.join(gin_configs.CONFIG_DIR, 'datasets', ''))))
TINY = ['Runner.num_iterations=1', 'Runner.training_steps=60', 'Runner.evaluation_steps=20',
        'Runner.max_steps_per_episode=50', 'DQNAgent.min_replay_history=20',
        'DQNAgent.replay_capacity=1000', 'DQNAgent.batch_size=4', 'MLP.hidden_sizes=(8,)',
        'Runner.progress_bar=False', 'SACAgent.min_replay_history=20',
        'SACAgent.replay_capacity=1000', 'SACAgent.batch_size=4', 'TanhGaussianActor.hidden_sizes=(8,)',
        'EnsembleQNetwork.hidden_sizes=(8,)']


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def test_every_config_folder_is_a_package_so_includes_resolve_anywhere():
  for folder, _, files in os.walk(gin_configs.CONFIG_DIR):
    if any(name.endswith('.gin') for name in files):
      assert os.path.exists(os.path.join(folder, '__init__.py')), folder


@pytest.mark.parametrize('config', EXPERIMENTS)
def test_config_runs_one_tiny_iteration(config, tmp_path):
  train.parse_gin([config], TINY)
  runner = run_experiment.create_runner(str(tmp_path))
  runner.run_experiment()
  assert os.path.exists(tmp_path / 'metrics.jsonl')


def test_atari_configs_carry_dopamines_published_hyperparameters():
  expected = {
      'dqn/atari.gin': {('DQNAgent', 'update_horizon'): 1, ('DQNAgent', 'replay_scheme'): 'uniform',
                        ('DQNAgent', 'loss_type'): 'huber'},
      'rainbow/atari.gin': {('DQNAgent', 'update_horizon'): 3, ('RainbowAgent', 'num_atoms'): 51,
                            ('RainbowAgent', 'vmax'): 10.0, ('RainbowAgent', 'noisy'): True,
                            ('RainbowAgent', 'dueling'): True, ('RainbowAgent', 'double_dqn'): True,
                            ('RainbowAgent', 'replay_scheme'): 'prioritized'},
  }
  shared = {('DQNAgent', 'gamma'): 0.99, ('DQNAgent', 'min_replay_history'): 20000,
            ('DQNAgent', 'update_period'): 4, ('DQNAgent', 'target_update_period'): 8000,
            ('DQNAgent', 'epsilon_train'): 0.01, ('DQNAgent', 'epsilon_eval'): 0.001,
            ('DQNAgent', 'epsilon_decay_period'): 250000, ('DQNAgent', 'batch_size'): 32,
            ('DQNAgent', 'replay_capacity'): 1000000, ('DQNAgent', 'stack_size'): 4,
            ('create_optimizer', 'learning_rate'): 6.25e-5, ('create_optimizer', 'eps'): 1.5e-4,
            ('create_atari_environment', 'sticky_action_probability'): 0.25,
            ('create_atari_environment', 'max_episode_steps'): 27000,
            ('Runner', 'training_steps'): 250000, ('Runner', 'max_steps_per_episode'): 27000}
  for config, values in expected.items():
    gin.clear_config()
    train.parse_gin([config], [])
    for (configurable, parameter), value in {**shared, **values}.items():
      bound = gin.query_parameter(f'{configurable}.{parameter}')
      if isinstance(bound, gin.config.ConfigurableReference):  # a macro such as %STACK_SIZE
        bound = gin.query_parameter(f'%{bound.scoped_selector.split("/")[0]}')
      assert bound == value, (config, parameter)
