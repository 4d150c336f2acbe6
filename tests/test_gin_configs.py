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
    if not path.startswith(os.path.join(gin_configs.CONFIG_DIR, 'shared', '')))  # fragments
TINY = ['Runner.num_iterations=1', 'Runner.training_steps=60', 'Runner.evaluation_steps=20',
        'Runner.max_steps_per_episode=50', 'DQNAgent.min_replay_history=20',
        'DQNAgent.replay_capacity=1000', 'DQNAgent.batch_size=4', 'MLP.hidden_sizes=(8,)',
        'Runner.progress_bar=False']


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
