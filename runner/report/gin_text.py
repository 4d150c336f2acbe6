"""A run's config.gin read as text: its bindings and imports, with gin's own parser.

References (`@DQNAgent`) and macros (`%GAMMA`) are kept as text, so reading a config registers and
imports nothing: the report reads runs of agents it may not be able to import.
"""

import dataclasses
import os
import tokenize
from typing import Any, Dict, Tuple

from gin import config_parser

from runner.errors import BadInputError


@dataclasses.dataclass(frozen=True)
class ConfigurableReference:
  """`@name` or `@name()` in a gin config, kept as text."""
  name: str
  evaluate: bool = False

  def __repr__(self):
    return f'@{self.name}' + ('()' if self.evaluate else '')


@dataclasses.dataclass(frozen=True)
class MacroReference:
  """`%NAME` in a gin config, kept as text."""
  name: str

  def __repr__(self):
    return f'%{self.name}'


class _TextualDelegate(config_parser.ParserDelegate):
  """Lets gin's parser read any config without the configurables it names being registered."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return ConfigurableReference(scoped_configurable_name, evaluate)

  def macro(self, macro_name):
    return MacroReference(macro_name)


def parse_config(text: str, source: str = 'config') -> Tuple[Dict[str, Any], Tuple[str, ...]]:
  """(bindings, imported modules) of a gin config text; see parse_bindings. The modules are those
  of its `import` lines (an operative config lists the modules its configurables come from); for
  `from a.b import c`, 'a.b.c'."""
  bindings, imports = {}, []
  try:
    for statement in config_parser.ConfigParser(text, _TextualDelegate()):
      if isinstance(statement, config_parser.BindingStatement):
        key = statement.selector + (f'.{statement.arg_name}' if statement.arg_name else '')
        bindings[f'{statement.scope}/{key}' if statement.scope else key] = statement.value
      elif isinstance(statement, config_parser.ImportStatement):
        imports.append(statement.module)
  except (SyntaxError, ValueError, tokenize.TokenError) as error:
    message = ' '.join(str(error).split())
    raise BadInputError(f'{source}: not a gin config ({message})') from error
  return bindings, tuple(imports)


def parse_bindings(text: str, source: str = 'config') -> Dict[str, Any]:
  """The bindings of a gin config text: `{'[scope/]Selector.param': value, 'MACRO': value}`.

  Values are Python literals, with ConfigurableReference and MacroReference for `@...` and `%...`.
  Imports and includes are not followed; a later binding of a key replaces an earlier one, as in
  gin. BadInputError naming `source` for a text that is not a gin config.
  """
  return parse_config(text, source)[0]


def split_key(key: str) -> Tuple[str, str, str]:
  """(scope, selector, parameter) of a binding key; a macro's parameter is ''."""
  scope, _, name = key.rpartition('/')
  selector, _, parameter = name.rpartition('.')
  return (scope, name, '') if not selector else (scope, selector, parameter)


def configurable_name(selector: str) -> str:
  """The configurable's own name in a selector or reference: `agents.dqn.DQNAgent` -> DQNAgent."""
  return selector.split('/')[-1].split('.')[-1]


def format_value(value: Any) -> str:
  """A binding's value as gin writes it: `'Pong'`, `0.99`, `@RainbowAgent`, `%GAMMA`."""
  return repr(value)


def resolve_macros(bindings: Dict[str, Any], value: Any) -> Any:
  """`value`, or the value of the macro it names, followed through macros bound to macros."""
  seen = set()
  while isinstance(value, MacroReference) and value.name in bindings and value.name not in seen:
    seen.add(value.name)
    value = bindings[value.name]
  return value


def find_binding(bindings: Dict[str, Any], configurable: str, parameter: str) -> Any:
  """The value of `configurable.parameter` (module prefix ignored, unscoped first), macros resolved;
  None when unbound."""
  matches = []
  for key, value in bindings.items():
    scope, selector, name = split_key(key)
    if name == parameter and configurable_name(selector) == configurable:
      matches.append((bool(scope), key, value))
  if not matches:
    return None
  return resolve_macros(bindings, min(matches, key=lambda match: match[:2])[2])


def names_run_directory(value: Any, run_name: str, run_path: str) -> bool:
  """Whether a binding's value is the path of the run's own directory (it differs in every run)."""
  if not isinstance(value, str) or not value:
    return False
  path = os.path.normpath(value)
  if os.path.abspath(path) == os.path.abspath(run_path):
    return True
  # Only a path names a directory: a bare word equal to the run's name ('CartPole-v1') is not one.
  return (run_name != '.' and os.sep in path
          and (path == run_name or path.endswith(os.sep + run_name)))
