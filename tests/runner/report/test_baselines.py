"""Dopamine's baselines: found by the task and agent the zoo declares, at the steps ending each
Dopamine iteration; the files shipped with the package."""

import json
import os

import numpy as np

from runner.report import baselines, build, gin_text
from tests.runner.report.helpers import config_text, read, write_run


def test_baselines_are_found_by_task_and_agent_at_the_steps_ending_each_iteration(tmp_path):
  records = [{'Iteration': iteration, 'Value': value, 'Agent': agent}
             for iteration, agent, value in [(0, 'SAC', 1.0), (0, 'SAC', 3.0), (10, 'SAC', 6.0)]]
  (tmp_path / 'mj_hopper.json').write_text(json.dumps(records))
  bindings = gin_text.parse_bindings("create_agent.agent_class = @agents.sac.SACAgent\n"
                                     "create_mujoco_environment.environment_name = 'Hopper'\n")
  baseline, why_not = baselines.load_baseline(bindings, str(tmp_path))
  assert why_not == '' and (baseline.agent, baseline.seeds) == ('SAC', 2)
  np.testing.assert_array_equal(baseline.steps, [1000, 11000])  # Iteration in thousands of steps
  np.testing.assert_array_equal(baseline.mean, [2.0, 6.0])
  assert (baseline.at(6000), baseline.at(500), baseline.at(12000)) == (4.0, None, None)

  records = [{'Iteration': 0, 'Value': value, 'Agent': agent}
             for agent, value in [('DQN', 1.0), ('DQN (Adam + MSE in JAX)', 2.0)]]
  (tmp_path / 'spaceinvaders.json').write_text(json.dumps(records))
  atari = ("create_agent.agent_class = @DQNAgent\n"
           "create_atari_environment.game_name = 'SpaceInvaders'\n")
  assert baselines.load_baseline(gin_text.parse_bindings(atari), str(tmp_path))[0].agent == 'DQN'
  mse = gin_text.parse_bindings(atari + "DQNAgent.loss_type = 'mse'\n")
  assert baselines.load_baseline(mse, str(tmp_path))[0].mean.tolist() == [2.0]
  classic = gin_text.parse_bindings("create_agent.agent_class = @DQNAgent\n"
                                    "create_classic_environment.environment_name = 'CartPole-v1'\n")
  assert baselines.load_baseline(classic, str(tmp_path)) == (None, '')


def test_the_baselines_ship_with_the_package_and_are_the_default(tmp_path):
  assert os.path.dirname(baselines.DEFAULT_BASELINES_DIR) == os.path.dirname(baselines.__file__)
  shipped = sorted(os.listdir(baselines.DEFAULT_BASELINES_DIR))
  assert {'README.md', 'pong.json', 'breakout.json', 'mj_hopper.json'} <= set(shipped)
  assert not [name for name in shipped if '_CNN' in name or '_Impala' in name]
  for seed in range(2):
    write_run(tmp_path / f'seed={seed}', config_text(seed=seed), [-20.0, -19.0])
  report_path, _ = build.build_report(str(tmp_path), bootstrap_samples=10)
  markdown = read(report_path)
  assert f'from {baselines.DEFAULT_BASELINES_DIR};' in markdown
  assert 'Dopamine DQN (pong.json, 5 seeds)' in markdown


def test_baseline_file_names_by_hand():
  assert baselines.baseline_file_name('mj_{}.json', 'HalfCheetah-v5') == 'mj_halfcheetah.json'
  assert baselines.baseline_file_name('{}.json', 'SpaceInvaders') == 'spaceinvaders.json'
