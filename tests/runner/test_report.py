"""Sweep reports on synthetic run directories (config.gin and metrics.jsonl written by hand): gin
parsing, grouping by everything but the seed, mean / IQM / bootstrap CI against hand-computed
numbers, the Markdown table, figures, Dopamine baseline overlays, the CLI and its errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

from runner import report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def config_text(agent='DQNAgent', game='Pong', seed=0, training_steps=250000, extra=''):
  """An operative config as gin writes it: sections, macros, references, multi-line values."""
  agent_section = ('# Parameters for RainbowAgent:\n'
                   '# ' + '=' * 78 + '\n'
                   'RainbowAgent.num_atoms = 51\n\n') if agent == 'RainbowAgent' else ''
  return (
      '# Macros:\n'
      '# ' + '=' * 78 + '\n'
      'STACK_SIZE = 4\n\n'
      '# Parameters for create_agent:\n'
      '# ' + '=' * 78 + '\n'
      f'create_agent.agent_class = @{agent}\n\n'
      '# Parameters for create_atari_environment:\n'
      '# ' + '=' * 78 + '\n'
      f"create_atari_environment.game_name = '{game}'\n"
      'create_atari_environment.stack_size = %STACK_SIZE\n\n'
      '# Parameters for create_environment:\n'
      '# ' + '=' * 78 + '\n'
      'create_environment.fn = @create_atari_environment\n\n'
      '# Parameters for DQNAgent:\n'
      '# ' + '=' * 78 + '\n'
      'DQNAgent.gamma = 0.99\n'
      'DQNAgent.optimizer = @create_optimizer()\n'
      'DQNAgent.hidden_sizes = \\\n'
      '    (512,\n'
      '     512)\n\n'
      + agent_section +
      '# Parameters for Runner:\n'
      '# ' + '=' * 78 + '\n'
      f'Runner.seed = {seed}\n'
      f'Runner.training_steps = {training_steps}\n'
      + extra)


def write_run(directory, config, values, metric='train/average_return', extra_metrics=None):
  """A run directory with one metrics.jsonl record per value (iterations 0, 1, ...)."""
  os.makedirs(os.path.join(directory, 'checkpoints', 'ckpt_0'), exist_ok=True)
  with open(os.path.join(directory, 'config.gin'), 'w') as file:
    file.write(config)
  with open(os.path.join(directory, 'metrics.jsonl'), 'w') as file:
    for iteration, value in enumerate(values):
      record = {'iteration': iteration, metric: value, 'train/num_episodes': 3.0,
                **(extra_metrics or {})}
      file.write(json.dumps(record, sort_keys=True) + '\n')


# Final-iteration returns per (agent, game), one per seed 0, 1, 2; earlier iterations are lower.
FINAL = {('DQNAgent', 'Pong'): [1.0, 2.0, 6.0],
         ('DQNAgent', 'Breakout'): [10.0, 10.0, 10.0],
         ('RainbowAgent', 'Pong'): [4.0, 5.0, 9.0],
         ('RainbowAgent', 'Breakout'): [20.0, 30.0, 40.0]}


def make_sweep(root):
  """2 agents x 2 games x 3 seeds, Atari style (training returns only), 3 iterations each."""
  for (agent, game), finals in FINAL.items():
    for seed, final in enumerate(finals):
      write_run(os.path.join(root, f'agent_class={agent},game_name={game},seed={seed}'),
                config_text(agent, game, seed), [final - 2, final - 1, final])
  return str(root)


def make_baselines(root):
  """A tiny Dopamine-style pong.json: DQN with two seeds over three iterations."""
  os.makedirs(root, exist_ok=True)
  records = [{'Iteration': iteration, 'Value': value, 'Agent': 'DQN'}
             for iteration, values in enumerate([[-20.0, -18.0], [-10.0, -12.0], [0.0, 2.0]])
             for value in values]
  records.append({'Iteration': 0, 'Value': 5.0, 'Agent': 'C51'})
  with open(os.path.join(root, 'pong.json'), 'w') as file:
    json.dump(records, file)
  return str(root)


def read(path):
  with open(path) as file:
    return file.read()


def load_runs(sweep_dir):
  return [report.load_run(sweep_dir, directory)
          for directory in report.find_run_directories(sweep_dir)]


# -- gin parsing ---------------------------------------------------------------------------------


def test_parse_bindings_reads_an_operative_config_without_importing_its_configurables():
  bindings = report.parse_bindings(config_text('RainbowAgent', 'Pong', 3) +
                                   "train/Runner.max_steps_per_episode = 10  # comment\n"
                                   "Foo.table = {'a': [1, 2], 'b': None}\n")
  assert bindings['create_agent.agent_class'] == report.ConfigurableReference('RainbowAgent')
  assert report.format_value(bindings['create_agent.agent_class']) == '@RainbowAgent'
  assert report.format_value(bindings['DQNAgent.optimizer']) == '@create_optimizer()'
  assert bindings['create_atari_environment.game_name'] == 'Pong'
  assert report.format_value(bindings['create_atari_environment.game_name']) == "'Pong'"
  assert bindings['DQNAgent.hidden_sizes'] == (512, 512)
  assert bindings['STACK_SIZE'] == 4
  assert bindings['train/Runner.max_steps_per_episode'] == 10
  assert bindings['Foo.table'] == {'a': [1, 2], 'b': None}
  assert report.find_binding(bindings, 'create_atari_environment', 'stack_size') == 4  # macro
  assert report.find_binding(bindings, 'Runner', 'seed') == 3
  assert report.find_binding(bindings, 'Runner', 'num_iterations') is None


def test_parse_bindings_names_the_file_of_a_broken_config():
  with pytest.raises(report.BadInputError, match='runs/x/config.gin: not a gin config'):
    report.parse_bindings('Runner.seed = = 3\n', 'runs/x/config.gin')


# -- grouping ------------------------------------------------------------------------------------


def test_groups_by_everything_but_the_seed(tmp_path):
  groups = report.group_runs(load_runs(make_sweep(tmp_path)))
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
  assert ('RainbowAgent.num_atoms', report.UNSET) in groups[0].bindings


def test_grouping_ignores_the_seed_macro_and_paths_of_the_run_itself(tmp_path):
  for seed in range(2):
    for gamma in (0.9, 0.99):
      name = f'gamma={gamma},seed={seed}'
      extra = (f"SEED = {seed}\nRunner.seed = %SEED\nDQNAgent.gamma = {gamma}\n"
               f"Logger.directory = '{tmp_path / name}'\n")
      write_run(tmp_path / name, config_text(extra=extra).replace('Runner.seed = 0\n', ''), [1.0])
  runs = load_runs(str(tmp_path))
  assert {'Runner.seed', 'SEED', 'Logger.directory'} <= report.ignored_keys(runs)
  groups = report.group_runs(runs)
  assert [group.name for group in groups] == ['DQNAgent.gamma=0.9', 'DQNAgent.gamma=0.99']
  assert [group.label for group in groups] == ['gamma=0.9', 'gamma=0.99']
  assert [group.task for group in groups] == [(), ()]


def test_bindings_that_follow_the_agent_are_listed_but_not_in_the_name(tmp_path):
  for agent, horizon in [('DQNAgent', 1), ('RainbowAgent', 3)]:
    for seed in range(2):
      write_run(tmp_path / f'{agent}_{seed}', config_text(agent, seed=seed, extra=(
          f'DQNAgent.update_horizon = {horizon}\n')), [float(horizon)])
  groups = report.group_runs(load_runs(str(tmp_path)))
  assert [group.name for group in groups] == ['create_agent.agent_class=@DQNAgent',
                                              'create_agent.agent_class=@RainbowAgent']
  assert [group.task for group in groups] == [(), ()]
  report_path, _ = report.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=100)
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
  groups = report.group_runs(load_runs(str(tmp_path)))
  assert [group.name for group in groups] == [
      "create_atari_environment.game_name='Pong'",
      "create_classic_environment.environment_name='CartPole-v1'"]
  assert [group.task_label for group in groups] == ['Pong', 'CartPole-v1']
  assert [group.label for group in groups] == ['DQNAgent', 'DQNAgent']
  _, figures = report.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=100)
  assert [os.path.basename(path) for path in figures] == ['curves_pong.png',
                                                          'curves_cartpole_v1.png']


def test_a_directory_named_after_its_task_does_not_merge_tasks(tmp_path):
  classic = ("create_agent.agent_class = @DQNAgent\n"
             "create_classic_environment.environment_name = '{}'\n"
             "create_environment.fn = @create_classic_environment\n"
             "Runner.seed = 0\nRunner.training_steps = 1000\n")
  write_run(tmp_path / 'CartPole-v1', classic.format('CartPole-v1'), [10.0])
  write_run(tmp_path / 'acrobot_seed1', classic.format('Acrobot-v1'), [-100.0])
  groups = report.group_runs(load_runs(str(tmp_path)))
  assert [group.task_label for group in groups] == ['Acrobot-v1', 'CartPole-v1']


def test_display_only_bindings_do_not_split_groups(tmp_path):
  # A sweep turns the progress bar off; a run started by hand has it on: the same experiment.
  for seed, extra in [(0, 'Runner.progress_bar = False\n'), (1, 'Runner.progress_bar = False\n'),
                      (2, '')]:
    write_run(tmp_path / f'seed={seed}', config_text(seed=seed, extra=extra), [1.0])
  (group,) = report.group_runs(load_runs(str(tmp_path)))
  assert len(group.runs) == 3


def test_runs_behind_symbolic_links_are_found_once(tmp_path):
  for seed in range(2):
    write_run(tmp_path / 'runs' / f'seed={seed}', config_text(seed=seed), [1.0])
  (tmp_path / 'compare').mkdir()
  for seed in range(2):
    os.symlink(tmp_path / 'runs' / f'seed={seed}', tmp_path / 'compare' / f'link{seed}')
  os.symlink(tmp_path / 'compare', tmp_path / 'compare' / 'loop')
  directories = report.find_run_directories(str(tmp_path / 'compare'))
  assert [os.path.basename(directory) for directory in directories] == ['link0', 'link1']


def test_a_metric_some_runs_have_not_recorded_yet_leaves_them_out(tmp_path):
  for seed in range(3):
    write_run(tmp_path / f'seed={seed}', config_text(seed=seed), [1.0, 2.0])
  with open(tmp_path / 'seed=0' / 'metrics.jsonl', 'a') as file:
    file.write(json.dumps({'iteration': 2, 'train/average_return': 3.0, 'agent/loss': 0.5}) + '\n')
  report_path, _ = report.build_report(str(tmp_path), metric='agent/loss', baselines_dir='',
                                       bootstrap_samples=100)
  text = read(report_path)
  assert '`seed=1` has not recorded `agent/loss` yet; left out.' in text
  assert '`seed=2` has not recorded `agent/loss` yet; left out.' in text


def test_a_sweep_without_differences_is_one_group(tmp_path):
  for seed in range(3):
    write_run(tmp_path / f'seed={seed}', config_text(seed=seed), [1.0, 2.0])
  (group,) = report.group_runs(load_runs(str(tmp_path)))
  assert (group.name, group.label, len(group.runs)) == ('all runs', 'DQNAgent', 3)


# -- statistics ----------------------------------------------------------------------------------


def test_mean_and_iqm_of_four_seeds_by_hand():
  values = [1.0, 2.0, 3.0, 10.0]
  assert np.mean(values) == 4.0
  # Four seeds: the middle two, (2 + 3) / 2.
  assert report.interquartile_mean(values) == pytest.approx(2.5)
  assert report.interquartile_mean([10.0, 3.0, 1.0, 2.0]) == pytest.approx(2.5)  # order-free


def test_iqm_weights_for_few_seeds_by_hand():
  np.testing.assert_allclose(report.iqm_weights(1), [1.0])
  np.testing.assert_allclose(report.iqm_weights(2), [0.5, 0.5])
  np.testing.assert_allclose(report.iqm_weights(3), [1 / 6, 2 / 3, 1 / 6])
  np.testing.assert_allclose(report.iqm_weights(4), [0, 0.5, 0.5, 0])
  np.testing.assert_allclose(report.iqm_weights(5), [0, 0.3, 0.4, 0.3, 0])
  assert report.interquartile_mean([7.0]) == 7.0
  assert report.interquartile_mean([1.0, 3.0]) == pytest.approx(2.0)
  assert report.interquartile_mean([0.0, 1.0, 5.0]) == pytest.approx(0 / 6 + 2 / 3 * 1 + 5 / 6)
  assert report.interquartile_mean([1.0, 2.0, 6.0]) == pytest.approx(2.5)
  assert report.interquartile_mean([1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(3.0)


def test_iqm_is_scipys_trimmed_mean_when_seeds_are_a_multiple_of_four():
  values = np.random.default_rng(0).normal(size=(8, 5))
  np.testing.assert_allclose(report.interquartile_mean(values, axis=0),
                             scipy.stats.trim_mean(values, 0.25, axis=0))
  np.testing.assert_allclose(report.interquartile_mean(values.T, axis=1),
                             scipy.stats.trim_mean(values, 0.25, axis=0))


def test_iqm_is_nan_when_a_seed_is_nan():
  assert np.isnan(report.interquartile_mean([1.0, 2.0, 3.0, np.nan]))


def test_bootstrap_ci_of_two_seeds_by_hand():
  # Resampled means of [0, 1] are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4: the 95% CI is [0, 1].
  low, high = report.bootstrap_mean_ci([0.0, 1.0], 0.95, samples=4000, seed=0)
  assert (low, high) == (0.0, 1.0)
  low, high = report.bootstrap_mean_ci([0.0, 1.0], 0.4, samples=4000, seed=0)
  assert (low, high) == (0.5, 0.5)


def test_bootstrap_ci_contains_the_mean_and_shrinks_as_seeds_agree():
  spread = np.array([[1.0, 0.0], [2.0, 5.0], [3.0, 10.0], [10.0, 20.0]])  # (seeds, iterations)
  low, high = report.bootstrap_mean_ci(spread, 0.95, samples=2000, seed=1)
  mean = spread.mean(axis=0)
  assert np.all(low <= mean) and np.all(mean <= high)
  assert np.all(high - low > 0)
  closer = mean + (spread - mean) / 10
  close_low, close_high = report.bootstrap_mean_ci(closer, 0.95, samples=2000, seed=1)
  np.testing.assert_allclose(close_high - close_low, (high - low) / 10)
  same_low, same_high = report.bootstrap_mean_ci(np.full((3, 2), 5.0), 0.95, 2000, seed=1)
  np.testing.assert_array_equal(same_low, [5.0, 5.0])
  np.testing.assert_array_equal(same_high, [5.0, 5.0])


def test_bootstrap_ci_is_deterministic_for_a_seed():
  values = np.random.default_rng(3).normal(size=(5, 7))
  first = report.bootstrap_mean_ci(values, 0.9, samples=1000, seed=7)
  np.testing.assert_array_equal(first, report.bootstrap_mean_ci(values, 0.9, samples=1000, seed=7))
  assert not np.array_equal(first, report.bootstrap_mean_ci(values, 0.9, samples=1000, seed=8))


def test_runs_of_different_lengths_use_the_iterations_all_have(tmp_path):
  write_run(tmp_path / 'a', config_text(seed=0), [1.0, 2.0, 3.0, 4.0])
  write_run(tmp_path / 'b', config_text(seed=1), [3.0, 4.0])
  iterations, values = report.aligned_values(load_runs(str(tmp_path)), 'train/average_return')
  assert iterations == [0, 1]
  np.testing.assert_array_equal(values, [[1.0, 2.0], [3.0, 4.0]])
  stats = report.curve_statistics(iterations, values, samples=100)
  np.testing.assert_array_equal(stats.mean, [2.0, 3.0])
  np.testing.assert_array_equal(stats.iqm, [2.0, 3.0])


def test_baselines_are_found_by_task_and_agent_at_the_steps_ending_each_iteration(tmp_path):
  records = [{'Iteration': iteration, 'Value': value, 'Agent': agent}
             for iteration, agent, value in [(0, 'SAC', 1.0), (0, 'SAC', 3.0), (10, 'SAC', 6.0)]]
  (tmp_path / 'mj_hopper.json').write_text(json.dumps(records))
  bindings = report.parse_bindings("create_agent.agent_class = @agents.sac.SACAgent\n"
                                   "create_mujoco_environment.environment_name = 'Hopper'\n")
  baseline, why_not = report.load_baseline(bindings, str(tmp_path))
  assert why_not == '' and (baseline.agent, baseline.seeds) == ('SAC', 2)
  np.testing.assert_array_equal(baseline.steps, [1000, 11000])  # Iteration in thousands of steps
  np.testing.assert_array_equal(baseline.mean, [2.0, 6.0])
  assert (baseline.at(6000), baseline.at(500), baseline.at(12000)) == (4.0, None, None)

  records = [{'Iteration': 0, 'Value': value, 'Agent': agent}
             for agent, value in [('DQN', 1.0), ('DQN (Adam + MSE in JAX)', 2.0)]]
  (tmp_path / 'spaceinvaders.json').write_text(json.dumps(records))
  atari = ("create_agent.agent_class = @DQNAgent\n"
           "create_atari_environment.game_name = 'SpaceInvaders'\n")
  assert report.load_baseline(report.parse_bindings(atari), str(tmp_path))[0].agent == 'DQN'
  mse = report.parse_bindings(atari + "DQNAgent.loss_type = 'mse'\n")
  assert report.load_baseline(mse, str(tmp_path))[0].mean.tolist() == [2.0]
  classic = report.parse_bindings("create_agent.agent_class = @DQNAgent\n"
                                  "create_classic_environment.environment_name = 'CartPole-v1'\n")
  assert report.load_baseline(classic, str(tmp_path)) == (None, '')


# -- the report ----------------------------------------------------------------------------------


def table_row(markdown, group_name):
  (row,) = [line for line in markdown.splitlines() if line.startswith(f'| `{group_name}`')]
  return [cell.strip() for cell in row.strip('|').split(' | ')]


def test_report_table_figures_and_baseline_overlay(tmp_path):
  sweep = make_sweep(tmp_path / 'sweep')
  baselines = make_baselines(tmp_path / 'baselines')
  report_path, figures = report.build_report(sweep, baselines_dir=baselines,
                                             bootstrap_samples=2000)
  assert report_path == os.path.join(sweep, 'report', 'report.md')
  assert sorted(os.path.basename(path) for path in figures) == ['curves_breakout.png',
                                                                 'curves_pong.png']
  for path in figures:
    with open(path, 'rb') as file:
      assert file.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(report_path) as file:
    markdown = file.read()
  dqn_pong = table_row(markdown, "create_atari_environment.game_name='Pong', "
                                 "create_agent.agent_class=@DQNAgent")
  # Seeds [1, 2, 6] at the last of 3 iterations of 250k steps: mean 3, IQM 1/6 + 4/3 + 1 = 2.5,
  # best at the last iteration, mean over iterations (1 + 2 + 3) / 3 = 2; Dopamine's DQN mean at
  # its iteration 2 (750k steps) is (0 + 2) / 2 = 1.
  assert dqn_pong[1:4] == ['3', '3', '2 (750,000)']
  assert dqn_pong[4].startswith('3.00 [') and dqn_pong[5:] == ['2.50', '3.00 (2)', '2.00',
                                                               '1.00 (DQN)']
  low, high = (float(x) for x in dqn_pong[4][len('3.00 ['):-1].split(', '))
  assert 1.0 <= low < 3.0 < high <= 6.0
  dqn_breakout = table_row(markdown, "create_atari_environment.game_name='Breakout', "
                                     "create_agent.agent_class=@DQNAgent")
  assert dqn_breakout[4:8] == ['10.00 [10.00, 10.00]', '10.00', '10.00 (2)', '9.00']
  assert dqn_breakout[8] == '—'
  assert ('The runs do not record `eval/average_return` (no evaluation phase): every group is '
          'reported with `train/average_return`.') in markdown
  assert "has no agent 'Rainbow' (it has C51, DQN)" in markdown
  assert 'breakout.json does not exist' in markdown
  assert 'Dopamine DQN (pong.json, 2 seeds)' in markdown
  assert '![curves_pong.png](curves_pong.png)' in markdown
  assert '## Configuration differences' not in markdown  # the names say it all


def test_report_is_deterministic_for_a_fixed_seed(tmp_path):
  sweep = make_sweep(tmp_path / 'sweep')
  texts = []
  for name, seed in [('a', 5), ('b', 5), ('c', 6)]:
    path, _ = report.build_report(sweep, out_dir=str(tmp_path / name), baselines_dir='',
                                  bootstrap_samples=500, seed=seed)
    with open(path) as file:
      texts.append(file.read())
  assert texts[0] == texts[1]
  assert texts[0] != texts[2]  # Rainbow on Pong has spread seeds, so its CI moves with the seed.


def test_report_of_eval_metric_iterations_and_uneven_runs(tmp_path):
  for seed, values in enumerate([[1.0, 2.0, 3.0, 10.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0],
                                 [1.0, 2.0, 3.0]]):
    write_run(tmp_path / f's{seed}', config_text(seed=seed, training_steps=100),
              [values[0]] * len(values), metric='eval/average_return',
              extra_metrics={'train/average_return': 0.0})
  # Make the last common iteration's values [1, 2, 3, 10] across the four seeds.
  for seed, final in enumerate([1.0, 2.0, 3.0, 10.0]):
    path = tmp_path / f's{seed}' / 'metrics.jsonl'
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record['eval/average_return'] = final
    lines[2] = json.dumps(record)
    path.write_text('\n'.join(lines) + '\n')
  report_path, figures = report.build_report(str(tmp_path), x_axis='iteration', baselines_dir='',
                                             bootstrap_samples=1000)
  assert [os.path.basename(path) for path in figures] == ['curves.png']
  markdown = read(report_path)
  row = table_row(markdown, 'all runs')
  assert row[1:6] == ['4', '3 (runs: 3–4)', '2 (300)', row[4], '2.50']
  assert row[4].startswith('4.00 [')
  assert 'runs have 3 to 4 iterations; the 3 that all have are used' in markdown
  assert 'reported with' not in markdown


def test_only_groups_without_eval_records_fall_back_to_training_returns(tmp_path):
  write_run(tmp_path / 'dqn', config_text('DQNAgent'), [1.0], metric='eval/average_return',
            extra_metrics={'train/average_return': 0.0})
  write_run(tmp_path / 'rainbow', config_text('RainbowAgent'), [2.0])
  report_path, _ = report.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=100)
  markdown = read(report_path)
  assert ('Reported with `train/average_return`, as their runs do not all record '
          '`eval/average_return` (no evaluation phase): create_agent.agent_class=@RainbowAgent.'
          ) in markdown
  assert table_row(markdown, 'create_agent.agent_class=@DQNAgent')[1:3] == [
      '`eval/average_return`', '1']
  rainbow = table_row(markdown, 'create_agent.agent_class=@RainbowAgent')
  assert rainbow[1] == '`train/average_return`'


def test_cli_writes_the_report(tmp_path, capsys):
  sweep = make_sweep(tmp_path / 'sweep')
  out = tmp_path / 'out'
  assert report.main([sweep, '--out', str(out), '--baselines_dir', make_baselines(tmp_path / 'b'),
                      '--bootstrap_samples', '200', '--x', 'iteration']) == 0
  assert sorted(os.listdir(out)) == ['curves_breakout.png', 'curves_pong.png', 'report.md']
  assert str(out / 'report.md') in capsys.readouterr().out


def test_cli_rejects_an_empty_directory_with_status_2(tmp_path):
  (tmp_path / 'empty' / 'checkpoints').mkdir(parents=True)
  (tmp_path / 'empty' / 'checkpoints' / 'metrics.jsonl').write_text('{}\n')  # not a run
  result = subprocess.run([sys.executable, '-m', 'runner.report', str(tmp_path / 'empty')],
                          check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
  assert result.returncode == 2
  assert result.stderr.strip() == (f'runner.report: error: no runs in {tmp_path / "empty"}: no '
                                   'directory under it holds metrics.jsonl')


def test_bad_input_messages(tmp_path, capsys):
  write_run(tmp_path / 'a', config_text(), [1.0, 2.0])
  assert report.main([str(tmp_path), '--metric', 'agent/loss']) == 2
  message = capsys.readouterr().err
  assert message == ("runner.report: error: unknown metric 'agent/loss': no run record it; "
                     'available: train/average_return, train/num_episodes\n')

  with open(tmp_path / 'a' / 'metrics.jsonl', 'a') as file:
    file.write('not json\n{"iteration": 2}\n')
  assert report.main([str(tmp_path)]) == 2
  message = capsys.readouterr().err
  assert message.startswith(f'runner.report: error: {tmp_path / "a" / "metrics.jsonl"}, line 3: '
                            'not a JSON record')
  assert message.count('\n') == 1

  assert report.main([str(tmp_path / 'missing')]) == 2
  assert f'{tmp_path / "missing"} is not a directory' in capsys.readouterr().err
  assert report.main([str(tmp_path), '--seed', '-1']) == 2
  assert '--seed must not be negative' in capsys.readouterr().err


def test_a_run_without_config_gin_is_named(tmp_path):
  write_run(tmp_path / 'a', config_text(), [1.0])
  os.remove(tmp_path / 'a' / 'config.gin')
  with pytest.raises(report.BadInputError, match='has metrics.jsonl but no config.gin'):
    report.build_report(str(tmp_path))
