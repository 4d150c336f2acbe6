"""config.gin read as text: bindings, references, macros and imports, without importing the
configurables it names."""

import pytest

from runner import errors
from runner.report import gin_text
from tests.runner.report.helpers import config_text


def test_parse_bindings_reads_an_operative_config_without_importing_its_configurables():
  bindings = gin_text.parse_bindings(config_text('RainbowAgent', 'Pong', 3) +
                                     "train/Runner.max_steps_per_episode = 10  # comment\n"
                                     "Foo.table = {'a': [1, 2], 'b': None}\n")
  assert bindings['create_agent.agent_class'] == gin_text.ConfigurableReference('RainbowAgent')
  assert gin_text.format_value(bindings['create_agent.agent_class']) == '@RainbowAgent'
  assert gin_text.format_value(bindings['DQNAgent.optimizer']) == '@create_optimizer()'
  assert bindings['create_atari_environment.game_name'] == 'Pong'
  assert gin_text.format_value(bindings['create_atari_environment.game_name']) == "'Pong'"
  assert bindings['DQNAgent.hidden_sizes'] == (512, 512)
  assert bindings['STACK_SIZE'] == 4
  assert bindings['train/Runner.max_steps_per_episode'] == 10
  assert bindings['Foo.table'] == {'a': [1, 2], 'b': None}
  assert gin_text.find_binding(bindings, 'create_atari_environment', 'stack_size') == 4  # macro
  assert gin_text.find_binding(bindings, 'Runner', 'seed') == 3
  assert gin_text.find_binding(bindings, 'Runner', 'num_iterations') is None


def test_parse_bindings_names_the_file_of_a_broken_config():
  with pytest.raises(errors.BadInputError, match='runs/x/config.gin: not a gin config'):
    gin_text.parse_bindings('Runner.seed = = 3\n', 'runs/x/config.gin')
