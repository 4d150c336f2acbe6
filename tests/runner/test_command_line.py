"""The commands' shared pieces: flags defined only by a command's own main, gin files parsed into
typed bad input, and the one error type with its exit status."""

import subprocess
import sys

import gin
import pytest

from runner import command_line
from runner import errors

REPO = __file__.rsplit('/tests/', 1)[0]


def test_importing_the_commands_defines_no_flags_and_needs_no_other_command():
  script = ('import sys\n'
            'from absl import flags\n'
            'import offline.make_dataset, runner.sweep\n'
            "assert 'runner.train' not in sys.modules, 'a command imported runner.train'\n"
            'import runner.train, runner.report\n'
            "defined = [name for name in ('gin_files', 'gin_bindings', 'base_dir', 'grid') "
            'if name in flags.FLAGS]\n'
            "assert not defined, defined\n")
  result = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]


def test_gin_problems_are_bad_input_by_type(tmp_path):
  gin.clear_config()
  with pytest.raises(errors.BadInputError, match='gin file not found: no/such.gin'):
    command_line.parse_gin(['no/such.gin'], [])
  with pytest.raises(errors.BadInputError, match="invalid gin configuration: .*'@NoSuchAgent'"):
    command_line.parse_gin([], ['create_agent.agent_class = @NoSuchAgent'])
  bad = tmp_path / 'bad.gin'
  bad.write_text('import no_such_module_of_the_zoo\n')
  with pytest.raises(errors.BadInputError, match='no_such_module_of_the_zoo'):
    command_line.parse_gin([str(bad)], [])
  gin.clear_config()


def test_a_context_names_where_bad_input_came_from_and_keeps_the_cause():
  with pytest.raises(errors.BadInputError, match='^cannot build the run: x is not bound') as info:
    with errors.bad_input_from(context='cannot build the run'):
      errors.require_binding(None, 'x')
  assert isinstance(info.value.__cause__, errors.MissingBindingError)
  with pytest.raises(errors.BadInputError, match='^unknown id$'):
    with errors.bad_input_from((LookupError,)):
      raise LookupError('unknown id')
  with pytest.raises(ZeroDivisionError):  # not bad input: a bug keeps its traceback
    with errors.bad_input_from((LookupError,), 'context'):
      raise ZeroDivisionError


def test_run_command_prints_the_message_and_exits_with_status_2(capsys):
  def fails():
    raise errors.InvalidSettingError('Runner.seed must be a whole number')
  with pytest.raises(SystemExit) as info:
    errors.run_command('runner.train', fails)
  assert info.value.code == errors.EXIT_BAD_INPUT == 2
  assert capsys.readouterr().err == 'runner.train: error: Runner.seed must be a whole number\n'
  assert errors.run_command('runner.train', lambda: 7) == 7
