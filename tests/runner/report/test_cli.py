"""The command line: `python -um runner.report`, its output files, and bad input ending with
status 2."""

import os
import subprocess
import sys

from runner import errors, report
from runner.report import cli
from tests.runner.report.helpers import REPO, config_text, make_baselines, make_sweep, write_run


def test_cli_writes_the_report(tmp_path, capsys):
  sweep = make_sweep(tmp_path / 'sweep')
  out = tmp_path / 'out'
  assert cli.main([sweep, '--out', str(out), '--baselines_dir', make_baselines(tmp_path / 'b'),
                  '--bootstrap_samples', '200', '--x', 'iteration']) == 0
  assert sorted(os.listdir(out)) == ['curves_breakout.png', 'curves_pong.png',
                                     'performance_profiles.png', 'report.md']
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
  assert cli.main([str(tmp_path), '--metric', 'agent/loss']) == 2
  message = capsys.readouterr().err
  assert message == ("runner.report: error: unknown metric 'agent/loss': no run record it; "
                     'available: train/average_return, train/num_episodes\n')

  with open(tmp_path / 'a' / 'metrics.jsonl', 'a') as file:
    file.write('not json\n{"iteration": 2}\n')
  assert cli.main([str(tmp_path)]) == 2
  message = capsys.readouterr().err
  assert message.startswith(f'runner.report: error: {tmp_path / "a" / "metrics.jsonl"}, line 3: '
                            'not a JSON record')
  assert message.count('\n') == 1

  assert cli.main([str(tmp_path / 'missing')]) == 2
  assert f'{tmp_path / "missing"} is not a directory' in capsys.readouterr().err
  assert cli.main([str(tmp_path), '--seed', '-1']) == 2
  assert '--seed must not be negative' in capsys.readouterr().err


def test_the_package_keeps_the_names_of_the_former_module():
  for name in ('build_report', 'main', 'parse_bindings', 'group_runs', 'interquartile_mean',
               'bootstrap_mean_ci', 'iqm_weights', 'curve_statistics', 'aligned_values',
               'load_baseline', 'load_run', 'find_run_directories', 'find_binding', 'format_value',
               'ignored_keys', 'ConfigurableReference', 'UNSET'):
    assert hasattr(report, name), name
  assert report.BadInputError is errors.BadInputError
