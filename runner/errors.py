"""The zoo's one bad-input error type and exit status, shared by every command.

Whatever is wrong with what a user asked for (a missing file, an unknown gin parameter, an agent
that cannot handle the environment's spaces, a corrupt checkpoint or dataset, a NaN loss) is raised
as `BadInputError` or one of its subclasses, wherever in the zoo it is found. Every command
(`runner.train`, `runner.sweep`, `runner.report`, `offline.make_dataset`) catches that one type in
`run_command` and ends with `<command>: error: <message>` on stderr and exit status
`EXIT_BAD_INPUT`; anything else is a bug and ends with its traceback. Errors are told apart by
their type, never by their message text.

Errors raised by libraries (gin rejecting a binding, gymnasium not knowing an environment id, an
optional simulator not installed) become BadInputError where the zoo calls them with user input,
by type (`bad_input_from`).

This module is part of the layer everyone may import (with runner/checkpoints.py and
runner/metrics.py) and imports nothing from the zoo.
"""

import contextlib
import sys
from typing import Any, Callable, Iterator, Tuple, Type

EXIT_BAD_INPUT = 2


class BadInputError(Exception):
  """Something wrong with what the user asked for; reported as a message, not a traceback."""


class InvalidSettingError(BadInputError, ValueError):
  """A setting (a gin parameter, a flag) given a value its user rejects; still a ValueError."""


class MissingBindingError(BadInputError):
  """A gin parameter that has no usable default is not bound."""


def require_binding(value: Any, name: str, hint: str = '') -> Any:
  """`value` unless it is None (the zoo's configurables use None, not gin.REQUIRED, for parameters
  that must be bound, so a missing binding is an error of its own type): MissingBindingError
  naming the parameter `name` ('create_environment.fn')."""
  if value is None:
    raise MissingBindingError(f'{name} is not bound: add a `{name} = ...` line to a gin file or '
                              f'a --gin_bindings flag' + (f' ({hint})' if hint else ''))
  return value


@contextlib.contextmanager
def bad_input_from(error_types: Tuple[Type[BaseException], ...] = (),
                   context: str = '') -> Iterator[None]:
  """Inside the block, an error of `error_types` (raised by a library given the user's input)
  becomes a BadInputError; with a `context` ('cannot build the run'), every bad-input error leaving
  the block is a BadInputError saying `<context>: <message>`, the original as its __cause__ (gin
  re-raises errors from configurables as proxies whose message cannot be edited in place)."""
  try:
    yield
  except BadInputError as error:
    if not context:
      raise
    raise BadInputError(f'{context}: {error}') from error
  except error_types as error:
    raise BadInputError(f'{context}: {error}' if context else str(error)) from error


def run_command(command: str, function: Callable[[], Any]) -> Any:
  """`function()`; on BadInputError prints `<command>: error: <message>` to stderr and exits with
  EXIT_BAD_INPUT."""
  try:
    return function()
  except BadInputError as error:
    print(f'{command}: error: {error}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)
