"""Whole reports on synthetic sweeps: the Markdown table, figures, baseline overlays, comparisons
between methods and notes."""

import json
import os

import pytest

from runner import errors
from runner.report import build, results as results_lib, runs
from runner.report.statistics import curve_statistics
from tests.runner.report.helpers import (config_text, load_runs, make_baselines, make_sweep, read,
                                         table_row, write_run)


def test_report_table_figures_and_baseline_overlay(tmp_path):
  sweep = make_sweep(tmp_path / 'sweep')
  baselines = make_baselines(tmp_path / 'baselines')
  report_path, figures = build.build_report(sweep, baselines_dir=baselines,
                                            bootstrap_samples=2000)
  assert report_path == os.path.join(sweep, 'report', 'report.md')
  assert sorted(os.path.basename(path) for path in figures) == [
      'curves_breakout.png', 'curves_pong.png', 'performance_profiles.png']
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
    path, _ = build.build_report(sweep, out_dir=str(tmp_path / name), baselines_dir='',
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
  report_path, figures = build.build_report(str(tmp_path), x_axis='iteration', baselines_dir='',
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
  report_path, _ = build.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=100)
  markdown = read(report_path)
  assert ('Reported with `train/average_return`, as their runs do not all record '
          '`eval/average_return` (no evaluation phase): create_agent.agent_class=@RainbowAgent.'
          ) in markdown
  assert table_row(markdown, 'create_agent.agent_class=@DQNAgent')[1:3] == [
      '`eval/average_return`', '1']
  rainbow = table_row(markdown, 'create_agent.agent_class=@RainbowAgent')
  assert rainbow[1] == '`train/average_return`'


def test_a_metric_some_runs_have_not_recorded_yet_leaves_them_out(tmp_path):
  for seed in range(3):
    write_run(tmp_path / f'seed={seed}', config_text(seed=seed), [1.0, 2.0])
  with open(tmp_path / 'seed=0' / 'metrics.jsonl', 'a') as file:
    file.write(json.dumps({'iteration': 2, 'train/average_return': 3.0, 'agent/loss': 0.5}) + '\n')
  report_path, _ = build.build_report(str(tmp_path), metric='agent/loss', baselines_dir='',
                                      bootstrap_samples=100)
  text = read(report_path)
  assert '`seed=1` has not recorded `agent/loss` yet; left out.' in text
  assert '`seed=2` has not recorded `agent/loss` yet; left out.' in text


def test_a_run_without_config_gin_is_named(tmp_path):
  write_run(tmp_path / 'a', config_text(), [1.0])
  os.remove(tmp_path / 'a' / 'config.gin')
  with pytest.raises(errors.BadInputError, match='has metrics.jsonl but no config.gin'):
    build.build_report(str(tmp_path))


def test_methods_are_compared_across_the_tasks_they_share(tmp_path):
  sweep = make_sweep(tmp_path / 'sweep')
  report_path, _ = build.build_report(sweep, baselines_dir='', bootstrap_samples=500)
  markdown = read(report_path)
  # Final values: Pong DQN [1, 2, 6], Rainbow [4, 5, 9]: 6 beats 4 and 5, 2 of 9 pairs; Breakout
  # DQN [10, 10, 10] never beats Rainbow [20, 30, 40]. P(DQN > Rainbow) = (2/9 + 0) / 2 = 1/9.
  (row,) = [line for line in markdown.splitlines() if line.startswith('| `DQNAgent` |')]
  cells = [cell.strip() for cell in row.strip('|').split(' | ')]
  assert cells[:3] == ['`DQNAgent`', '`RainbowAgent`', 'Breakout, Pong']
  assert cells[3].startswith('0.11 [')
  assert '![performance_profiles.png](performance_profiles.png)' in markdown

  results = []
  for group in runs.group_runs(load_runs(sweep)):
    iterations, values = runs.aligned_values(group.runs, 'train/average_return')
    statistics = curve_statistics(iterations, values, samples=10)
    results.append(results_lib.GroupResult(group, 'train/average_return', statistics, 250000,
                                           [3] * 3, values[:, -1]))
  comparison = results_lib.compare_groups(results, 0.95, 200, seed=0)
  (improvement,) = comparison.improvements
  assert improvement.estimate.value == pytest.approx(1 / 9)
  assert comparison.profile_tasks == ['Breakout', 'Pong']
  # Normalised per task (Pong: (x - 1) / 8, Breakout: (x - 10) / 30): DQN [0, 1/8, 5/8] and
  # [0, 0, 0], Rainbow [3/8, 1/2, 1] and [1/3, 2/3, 1]. Above 1/2: DQN (1/3 + 0) / 2 = 1/6,
  # Rainbow (1/3 + 2/3) / 2 = 1/2; above 0: DQN 1/3, Rainbow 1.
  thresholds = list(results_lib.PROFILE_THRESHOLDS)
  assert comparison.profiles['DQNAgent'].value[thresholds.index(0.5)] == pytest.approx(1 / 6)
  assert comparison.profiles['RainbowAgent'].value[thresholds.index(0.5)] == pytest.approx(0.5)
  assert comparison.profiles['DQNAgent'].value[0] == pytest.approx(1 / 3)
  assert comparison.profiles['RainbowAgent'].value[0] == 1.0


def test_one_method_has_no_comparison(tmp_path):
  for game in ('Pong', 'Breakout'):
    for seed in range(2):
      write_run(tmp_path / f'{game}_{seed}', config_text(game=game, seed=seed), [1.0 + seed])
  report_path, figures = build.build_report(str(tmp_path), baselines_dir='', bootstrap_samples=10)
  assert 'Probability of improvement' not in read(report_path)
  assert sorted(os.path.basename(path) for path in figures) == ['curves_breakout.png',
                                                                'curves_pong.png']
