"""Finding and reading runs, grouping them by everything but the seed, naming the groups, and the
iterations they are compared on."""

import os

import numpy as np

from runner.report import build, runs, statistics
from tests.runner.report.helpers import config_text, load_runs, make_sweep, read, write_run


def test_groups_by_everything_but_the_seed(tmp_path):
  groups = runs.group_runs(load_runs(make_sweep(tmp_path)))
  assert len(groups) == 4
  assert [len(group.runs) for group in groups] == [3, 3, 3, 3]
  assert [group.name for group in groups] == [
      "create_atari_environment.game_name='Breakout', create_agent.agent_class=@DQNAgent",
      "create_atari_environment.game_name='Breakout', create_agent.agent_class=@RainbowAgent",
      "create_atari_environment.game_name='Pong', create_agent.agent_class=@DQNAgent",
      "create_atari_environment.game_name='Pong', create_agent.agent_class=@RainbowAgent"]
  assert [group.label for group in groups] == ['DQNAgent', 'RainbowAgent'] * 2
  assert [group.task_label for group in groups] == ['Breakout', 'Breakout', 'Pong', 'Pong']
  for group in groups:
    assert sorted(run.seed for run in group.runs) == [0, 1, 2]
    agent, game = dict(group.bindings)['create_agent.agent_class'], group.task_label
    assert all(f'agent_class={agent[1:]},game_name={game}' in run.name for run in group.runs)
  # RainbowAgent.num_atoms is bound only where RainbowAgent is used: a difference, not a name.
  assert ('RainbowAgent.num_atoms', runs.UNSET) in groups[0].bindings


def test_grouping_ignores_the_seed_macro_and_paths_of_the_run_itself(tmp_path):
  for seed in range(2):
    for gamma in (0.9, 0.99):
      name = f'gamma={gamma},seed={seed}'
      extra = (f"SEED = {seed}\nRunner.seed = %SEED\nDQNAgent.gamma = {gamma}\n"
               f"Logger.directory = '{tmp_path / name}'\n")
      write_run(tmp_path / name, config_text(extra=extra).replace('Runner.seed = 0\n', ''), [1.0])
  loaded = load_runs(str(tmp_path))
  assert {'Runner.seed', 'SEED', 'Logger.directory'} <= runs.ignored_keys(loaded)
  groups = runs.group_runs(loaded)
  assert [group.name for group in groups] == ['DQNAgent.gamma=0.9', 'DQNAgent.gamma=0.99']
  assert [group.label for group in groups] == ['gamma=0.9', 'gamma=0.99']
  assert [group.task for group in groups] == [(), ()]


def test_bindings_that_follow_the_agent_are_listed_but_not_in_the_name(tmp_path):
  for agent, horizon in [('DQNAgent', 1), ('RainbowAgent', 3)]:
    for seed in range(2):
      write_run(tmp_path / f'{agent}_{seed}', config_text(agent, seed=seed, extra=(
          f'DQNAgent.update_horizon = {horizon}\n')), [float(horizon)])
  groups = runs.group_runs(load_runs(str(tmp_path)))
  assert [group.name for group in groups] == ['create_agent.agent_class=@DQNAgent',
                                              'create_agent.agent_class=@RainbowAgent']
  assert [group.task for group in groups] == [(), ()]
  report_path, _ = build.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=100)
  differences = read(report_path).split('## Configuration differences')[1]
  assert ('- `create_agent.agent_class=@RainbowAgent`: `create_agent.agent_class=@RainbowAgent`, '
          '`DQNAgent.update_horizon=3`') in differences
  assert 'num_atoms' not in differences


def test_groups_on_different_domains_are_named_by_their_own_task(tmp_path):
  classic = ("create_agent.agent_class = @DQNAgent\n"
             "create_classic_environment.environment_name = 'CartPole-v1'\n"
             "create_environment.fn = @create_classic_environment\n"
             "DQNAgent.gamma = 0.99\nRunner.training_steps = 1000\n")
  for seed in range(2):
    write_run(tmp_path / f'cartpole_{seed}', classic + f'Runner.seed = {seed}\n', [1.0])
    write_run(tmp_path / f'pong_{seed}', config_text(seed=seed), [2.0])
  groups = runs.group_runs(load_runs(str(tmp_path)))
  assert [group.name for group in groups] == [
      "create_atari_environment.game_name='Pong'",
      "create_classic_environment.environment_name='CartPole-v1'"]
  assert [group.task_label for group in groups] == ['Pong', 'CartPole-v1']
  assert [group.label for group in groups] == ['DQNAgent', 'DQNAgent']
  _, figures = build.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=100)
  assert [os.path.basename(path) for path in figures] == ['curves_pong.png',
                                                          'curves_cartpole_v1.png']


def test_a_directory_named_after_its_task_does_not_merge_tasks(tmp_path):
  classic = ("create_agent.agent_class = @DQNAgent\n"
             "create_classic_environment.environment_name = '{}'\n"
             "create_environment.fn = @create_classic_environment\n"
             "Runner.seed = 0\nRunner.training_steps = 1000\n")
  write_run(tmp_path / 'CartPole-v1', classic.format('CartPole-v1'), [10.0])
  write_run(tmp_path / 'acrobot_seed1', classic.format('Acrobot-v1'), [-100.0])
  groups = runs.group_runs(load_runs(str(tmp_path)))
  assert [group.task_label for group in groups] == ['Acrobot-v1', 'CartPole-v1']


def test_display_only_bindings_do_not_split_groups(tmp_path):
  # A sweep turns the progress bar off; a run started by hand has it on: the same experiment.
  for seed, extra in [(0, 'Runner.progress_bar = False\n'), (1, 'Runner.progress_bar = False\n'),
                      (2, '')]:
    write_run(tmp_path / f'seed={seed}', config_text(seed=seed, extra=extra), [1.0])
  (group,) = runs.group_runs(load_runs(str(tmp_path)))
  assert len(group.runs) == 3


def test_runs_behind_symbolic_links_are_found_once(tmp_path):
  for seed in range(2):
    write_run(tmp_path / 'runs' / f'seed={seed}', config_text(seed=seed), [1.0])
  (tmp_path / 'compare').mkdir()
  for seed in range(2):
    os.symlink(tmp_path / 'runs' / f'seed={seed}', tmp_path / 'compare' / f'link{seed}')
  os.symlink(tmp_path / 'compare', tmp_path / 'compare' / 'loop')
  directories = runs.find_run_directories(str(tmp_path / 'compare'))
  assert [os.path.basename(directory) for directory in directories] == ['link0', 'link1']


def test_a_sweep_without_differences_is_one_group(tmp_path):
  for seed in range(3):
    write_run(tmp_path / f'seed={seed}', config_text(seed=seed), [1.0, 2.0])
  (group,) = runs.group_runs(load_runs(str(tmp_path)))
  assert (group.name, group.label, len(group.runs)) == ('all runs', 'DQNAgent', 3)


def test_runs_of_different_lengths_use_the_iterations_all_have(tmp_path):
  write_run(tmp_path / 'a', config_text(seed=0), [1.0, 2.0, 3.0, 4.0])
  write_run(tmp_path / 'b', config_text(seed=1), [3.0, 4.0])
  iterations, values = runs.aligned_values(load_runs(str(tmp_path)), 'train/average_return')
  assert iterations == [0, 1]
  np.testing.assert_array_equal(values, [[1.0, 2.0], [3.0, 4.0]])
  stats = statistics.curve_statistics(iterations, values, samples=100)
  np.testing.assert_array_equal(stats.mean, [2.0, 3.0])
  np.testing.assert_array_equal(stats.iqm, [2.0, 3.0])


def test_a_task_named_through_a_macro_is_labelled_by_its_value(tmp_path):
  # gin_configs/shared/gridworld.gin binds the layout as `layout = %LAYOUT`.
  for game in ('Pong', 'Breakout'):
    for seed in range(2):
      text = config_text(game=game, seed=seed).replace(
          f"create_atari_environment.game_name = '{game}'",
          'create_atari_environment.game_name = %GAME').replace(
              'STACK_SIZE = 4\n', f"GAME = '{game}'\nSTACK_SIZE = 4\n")
      write_run(tmp_path / f'{game}_{seed}', text, [1.0])
  groups = runs.group_runs(load_runs(str(tmp_path)))
  assert sorted(group.task_label for group in groups) == ['Breakout', 'Pong']
