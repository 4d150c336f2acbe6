"""The gin factories that build a run's environment and agent: `create_environment` and
`create_agent`.

They live apart from the Runner so that learning code (an offline learner evaluating its policy,
a dataset collection restoring an agent) builds environments and agents exactly as a run does,
without importing the drivers. Which domain and which agent are gin references:

    create_environment.fn = @create_classic_environment
    create_agent.agent_class = @DQNAgent

This module is part of the layer everyone may import (with runner/checkpoints.py, runner/errors.py
and runner/metrics.py) and imports nothing else from the zoo but runner/errors.py.
"""

import functools
import inspect
from typing import Any, Callable, Optional

import gin
import gymnasium

from runner import errors


def with_bindings_now(fn: Callable[..., Any]) -> Callable[..., Any]:
  """`fn` with the gin bindings in force now for its parameters (a functools.partial), or `fn`
  itself when it is not a gin configurable or has none.

  A function bound by reference (`make_environment = @create_mujoco_environment`) takes its
  parameters' bindings when it is called, not when it is bound. A component rebuilt from its run's
  config.gin (offline/components.py) and called once that configuration is gone would otherwise
  get the caller's bindings, or none: hold such references through this.
  """
  try:
    bindings = gin.get_bindings(fn)
  except (ValueError, TypeError):  # not in gin's registry
    return fn
  return functools.partial(fn, **bindings) if bindings else fn


@gin.configurable
def create_environment(fn: Optional[Callable[[], gymnasium.Env]] = None) -> gymnasium.Env:
  """Builds the environment with the domain factory bound in gin (`create_environment.fn`).

  A factory rejecting its settings (ValueError), a simulator that is not installed (ImportError,
  whose message names the extra) or an environment id gymnasium does not know is bad input.
  """
  errors.require_binding(fn, 'create_environment.fn', 'a domain factory such as '
                         '@create_classic_environment')
  check_callable_as(fn, 'create_environment.fn', 'a domain factory', 'fn()')
  with errors.bad_input_from((ValueError, ImportError, gymnasium.error.Error)):
    environment = fn()
  if not isinstance(environment, gymnasium.Env):
    raise errors.BadInputError(f'create_environment.fn = {fn!r} returned '
                               f'{type(environment).__name__}, not a gymnasium.Env')
  return environment


@gin.configurable
def create_agent(observation_space: gymnasium.Space, action_space: gymnasium.Space, seed: int,
                 summary_writer: Any, agent_class: Optional[Callable[..., Any]] = None):
  """Builds the agent class bound in gin (`create_agent.agent_class`) for the given spaces.

  A class whose constructor does not take the Agent contract's arguments, or an agent rejecting
  its settings or the spaces (ValueError, agents.base.IncompatibleSpaceError), is bad input.
  """
  errors.require_binding(agent_class, 'create_agent.agent_class', 'an agent class such as '
                         '@DQNAgent')
  arguments = dict(seed=seed, summary_writer=summary_writer)
  check_callable_as(agent_class, 'create_agent.agent_class', 'an agent class',
                     'agent_class(observation_space, action_space, seed=..., summary_writer=...)',
                     observation_space, action_space, **arguments)
  with errors.bad_input_from((ValueError,)):
    return agent_class(observation_space, action_space, **arguments)


def check_callable_as(target: Any, name: str, kind: str, call: str, *args, **kwargs) -> None:
  """BadInputError unless `target` accepts the arguments the zoo will call it with (a gin
  reference to the wrong thing would otherwise fail with a TypeError from deep inside the call)."""
  if not callable(target):
    raise errors.BadInputError(f'{name} = {target!r} is not {kind}: it is not callable')
  try:
    inspect.signature(target).bind(*args, **kwargs)
  except TypeError as error:
    raise errors.BadInputError(f'{name} = {target!r} is not {kind}: it cannot be called as '
                               f'{call} ({error})') from error
  except ValueError:
    pass  # no signature to inspect (a builtin): the call itself will tell
