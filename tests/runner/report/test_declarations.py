"""What agents and domains declare for reports is found without a list of them: a new agent class
or domain factory needs no edit of the report."""

import os
import subprocess
import sys

from agents import base
from runner import metrics
from runner.report import build, declarations, gin_text, runs
from tests.runner.report.helpers import REPO, load_runs, read, write_run


class ReportTestAgent(base.Agent):
  """An agent the zoo does not have, declaring a Dopamine name of its own."""

  @classmethod
  def dopamine_baseline_names(cls, binding):
    return ('C51',) if binding('ReportTestAgent', 'atoms') == 51 else ()


def create_report_test_environment():
  """A domain the zoo does not have."""


create_report_test_environment.report_task = metrics.TaskDeclaration(('level',))


def test_the_zoos_declarations_are_found():
  found = declarations.find_declarations()
  assert found.tasks['create_atari_environment'] == metrics.TaskDeclaration(
      ('game_name',), '{}.json', 250_000)
  assert found.tasks['create_mujoco_environment'].dopamine_file == 'mj_{}.json'
  assert found.tasks['create_classic_environment'].parameters == ('environment_name',)
  assert found.is_task_key("create_classic_environment.environment_name")
  assert found.is_task_key('create_environment.fn')
  assert not found.is_task_key('create_classic_environment.max_episode_steps')
  names = lambda text: found.baseline_names(gin_text.parse_bindings(text))
  assert names('create_agent.agent_class = @DQNAgent\n') == ('DQN',)
  assert names("create_agent.agent_class = @agents.dqn.DQNAgent\nDQNAgent.loss_type = 'mse'\n"
               ) == ('DQN (Adam + MSE in JAX)', 'DQN')
  assert names('create_agent.agent_class = @RainbowAgent\n') == ('Rainbow',)
  assert names('create_agent.agent_class = @SACAgent\n') == ('SAC',)
  assert names('create_agent.agent_class = @UnknownAgent\n') == ()


def test_a_new_agent_and_a_new_domain_are_picked_up(tmp_path):
  for seed in range(2):
    for level in ('easy', 'hard'):
      # The config imports this module, as gin's operative config lists the modules it used.
      write_run(tmp_path / f'{level}_{seed}', (
          f'import {__name__}\n\n'
          'create_agent.agent_class = @ReportTestAgent\n'
          'ReportTestAgent.atoms = 51\n'
          f"create_report_test_environment.level = '{level}'\n"
          'create_environment.fn = @create_report_test_environment\n'
          f'Runner.seed = {seed}\nRunner.training_steps = 10\n'), [1.0])
  loaded = load_runs(str(tmp_path))
  assert loaded[0].imports == (__name__,)
  found = runs.declarations_for(loaded)
  assert found.agent_class(gin_text.ConfigurableReference('ReportTestAgent')) is ReportTestAgent
  assert found.baseline_names(loaded[0].bindings) == ('C51',)
  groups = runs.group_runs(loaded, found)
  assert [group.task_label for group in groups] == ['easy', 'hard']
  assert [group.name for group in groups] == ["create_report_test_environment.level='easy'",
                                              "create_report_test_environment.level='hard'"]


def test_a_module_that_cannot_be_imported_is_a_note(tmp_path):
  write_run(tmp_path / 'a', 'import no_such_module_of_the_zoo\n' + (
      'create_agent.agent_class = @DQNAgent\nRunner.seed = 0\nRunner.training_steps = 10\n'),
      [1.0])
  report_path, _ = build.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=10)
  assert "- Cannot import no_such_module_of_the_zoo (named in a config.gin: No module named " in (
      read(report_path))


def test_the_report_never_imports_the_drivers():
  code = ('import sys\nfrom runner.report import declarations\ndeclarations.find_declarations()\n'
          "print(sorted(m for m in ('runner.train', 'runner.run_experiment') if m in sys.modules))")
  result = subprocess.run([sys.executable, '-c', code], check=True, cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert result.stdout.strip() == '[]'
