"""What agents and domains declare about themselves for a report, found without a list of them.

An agent class declares Dopamine's names for its curves (`Agent.dopamine_baseline_names`); a domain
factory declares the parameters that name its task and, where Dopamine published curves, its
baseline file (`factory.report_task = runner.metrics.TaskDeclaration(...)`). The report imports the
modules named by the `import` lines of the runs' config.gin (an operative config lists the modules
its configurables come from) and every module of the zoo's packages `agents`, `discrete_domains`
and `continuous_domains` (the domains import their simulators inside their factories, so this is
cheap; the agents import JAX, once). It then looks an agent class up by its name among the
subclasses of `agents.base.Agent`, and a factory by its name among those modules' functions that
carry a declaration. So a new agent or domain needs no edit of the report. A module that cannot be
imported (an optional dependency missing) is a note in the report, not an error.

A run whose factory declares nothing is on the task named by `create_environment.fn`.
"""

import dataclasses
import importlib
import pkgutil
from types import ModuleType
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from runner import metrics
from runner.report import gin_text

ZOO_PACKAGES = ('agents', 'discrete_domains', 'continuous_domains')
# The generic factory's parameter: the task of runs whose domain factory declares nothing.
ENVIRONMENT_FN = ('create_environment', 'fn')


@dataclasses.dataclass
class Declarations:
  """The declarations found in the modules a report imported."""
  tasks: Dict[str, metrics.TaskDeclaration]  # factory name -> its declaration
  agent_classes: Dict[str, List[type]]  # class name -> the Agent subclasses of that name
  notes: List[str] = dataclasses.field(default_factory=list)  # modules that could not be imported

  def is_task_key(self, key: str) -> bool:
    """Whether a binding key names the run's task: a declared parameter of a declared factory,
    or `create_environment.fn`."""
    _, selector, parameter = gin_text.split_key(key)
    name = gin_text.configurable_name(selector)
    declaration = self.tasks.get(name)
    return ((name, parameter) == ENVIRONMENT_FN
            or (declaration is not None and parameter in declaration.parameters))

  def agent_class(self, reference: Any) -> Optional[type]:
    """The Agent subclass a `@DQNAgent` (or `@agents.dqn.DQNAgent`) reference names; None for
    one not found. Among classes of the same name, the one whose module the reference names."""
    if not isinstance(reference, gin_text.ConfigurableReference):
      return None
    path = reference.name.split('/')[-1]
    candidates = self.agent_classes.get(gin_text.configurable_name(path), [])
    exact = [cls for cls in candidates if f'{cls.__module__}.{cls.__qualname__}' == path]
    return (exact or candidates or [None])[0]

  def baseline_names(self, bindings: Dict[str, Any]) -> Sequence[str]:
    """Dopamine's names for the run's agent, best match first; () when it has none."""
    agent_class = self.agent_class(
        gin_text.find_binding(bindings, 'create_agent', 'agent_class'))
    if agent_class is None:
      return ()
    return tuple(agent_class.dopamine_baseline_names(
        lambda configurable, parameter: gin_text.find_binding(bindings, configurable, parameter)))

  def dopamine_tasks(self, bindings: Dict[str, Any]) -> List[Tuple[str, metrics.TaskDeclaration]]:
    """(task, declaration) for each factory with a Dopamine baseline file whose task parameter the
    run binds to a name."""
    found = []
    for factory, declaration in sorted(self.tasks.items()):
      if declaration.dopamine_file is None:
        continue
      values = [gin_text.find_binding(bindings, factory, parameter)
                for parameter in declaration.parameters]
      task = next((value for value in values if isinstance(value, str)), None)
      if task is not None:
        found.append((task, declaration))
    return found


def _import(name: str, where: str, notes: List[str]) -> Optional[ModuleType]:
  try:
    return importlib.import_module(name)
  except ImportError as error:
    notes.append(f'cannot import {name} ({where}: {error}); what it declares for reports is not '
                 f'used.')
    return None


def _zoo_modules(notes: List[str]) -> List[ModuleType]:
  """Every module of the zoo's packages, imported."""
  modules = []
  for package_name in ZOO_PACKAGES:
    package = _import(package_name, 'a package of the zoo', notes)
    if package is None:
      continue
    modules.append(package)
    for info in pkgutil.walk_packages(package.__path__, package_name + '.',
                                      onerror=lambda name: None):  # noted when imported below
      module = _import(info.name, 'a module of the zoo', notes)
      if module is not None:
        modules.append(module)
  return modules


def _subclasses(cls: type) -> Iterable[type]:
  for subclass in cls.__subclasses__():
    yield subclass
    yield from _subclasses(subclass)


def _declared_factories(modules: Iterable[ModuleType]) -> Dict[str, metrics.TaskDeclaration]:
  tasks = {}
  for module in modules:
    for attribute, value in vars(module).items():
      # Read from the function's own attributes: a module's __getattr__ is never asked.
      declaration = getattr(value, '__dict__', {}).get(metrics.TASK_DECLARATION_ATTRIBUTE)
      if callable(value) and isinstance(declaration, metrics.TaskDeclaration):
        tasks.setdefault(getattr(value, '__name__', attribute), declaration)
  return tasks


def find_declarations(config_imports: Iterable[str] = ()) -> Declarations:
  """Imports the zoo's packages and the modules `config_imports` names (those of the runs'
  config.gin), and collects what their agent classes and domain factories declare."""
  notes = []
  modules = _zoo_modules(notes)
  for name in sorted(set(config_imports)):
    module = _import(name, 'named in a config.gin', notes)
    if module is not None:
      modules.append(module)
  agent_classes: Dict[str, List[type]] = {}
  base = importlib.import_module('agents.base')
  for cls in sorted(set(_subclasses(base.Agent)), key=lambda c: (c.__module__, c.__qualname__)):
    agent_classes.setdefault(cls.__name__, []).append(cls)
  return Declarations(_declared_factories(modules), agent_classes, notes)

