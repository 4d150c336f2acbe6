"""Runs and groups: finding and reading run directories, grouping runs that differ only in the
seed, naming the groups, and choosing the metric and iterations they are compared on.

Runs whose bindings are equal except for `Runner.seed` (and display-only bindings, and any binding
whose value is the run's own directory) form a group. When the groups differ by task, a group's
name starts with its own task bindings (the parameters its domain factory declares, see
declarations.py); then come the fewest differing bindings that tell the groups apart, chosen in the
order `create_agent.agent_class`, bindings with different values, bindings present in only some
runs (those belong to configurables the other runs do not use). Labels are short (`RainbowAgent`,
`gamma=0.99`) and leave out the task, which is the figure's title.
"""

import dataclasses
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

from runner import metrics as run_metrics
from runner.errors import BadInputError
from runner.report import declarations as declarations_lib
from runner.report.gin_text import (MacroReference, configurable_name, find_binding,
                                    format_value, names_run_directory, parse_config,
                                    resolve_macros, split_key)

CONFIG_FILE = 'config.gin'
CHECKPOINTS_DIR = 'checkpoints'
DEFAULT_METRIC = 'eval/average_return'
FALLBACK_METRIC = 'train/average_return'
UNSET = '<unset>'


@dataclasses.dataclass
class Run:
  """One run directory: its name (path relative to the sweep directory), bindings and records."""
  name: str
  path: str
  bindings: Dict[str, Any]
  records: List[Dict[str, Any]]
  imports: Tuple[str, ...] = ()  # the modules its config.gin imports

  @property
  def seed(self) -> Any:
    return find_binding(self.bindings, 'Runner', 'seed')

  def values(self, metric: str) -> Dict[int, float]:
    """{iteration: value} of `metric` over the records that have it."""
    return {int(record['iteration']): float(record[metric])
            for record in self.records if metric in record}


@dataclasses.dataclass
class Group:
  """Runs that differ only in the seed, named by the bindings that tell it from the other groups."""
  bindings: Tuple[Tuple[str, str], ...]  # every differing binding: (key, formatted value)
  runs: List[Run]
  name: str = ''  # the distinguishing bindings, `key=value, ...`
  label: str = ''  # short, for legends; leaves out the task, which is the figure's title
  task: Tuple[Tuple[str, str], ...] = ()  # task_of(its config); () when all groups share the task
  task_label: str = ''  # the task's values, `Pong`, even when all groups share it
  naming_keys: Tuple[str, ...] = ()  # the bindings in `name`


# -- reading runs -------------------------------------------------------------------------------


def find_run_directories(sweep_dir: str) -> List[str]:
  """Every directory under `sweep_dir` (itself included, symbolic links followed) holding
  metrics.jsonl, sorted; each real directory once."""
  found = []
  visited = set()
  for directory, subdirectories, files in os.walk(sweep_dir, followlinks=True):
    real = os.path.realpath(directory)
    if real in visited:  # a link back up, or a second link to the same run
      subdirectories[:] = []
      continue
    visited.add(real)
    subdirectories[:] = sorted(name for name in subdirectories if name != CHECKPOINTS_DIR)
    if run_metrics.METRICS_FILE in files:
      found.append(directory)
  return found


def load_run(sweep_dir: str, directory: str) -> Run:
  """The run in `directory`; BadInputError naming the file for a missing or corrupt one."""
  config_path = os.path.join(directory, CONFIG_FILE)
  metrics_path = os.path.join(directory, run_metrics.METRICS_FILE)
  if not os.path.isfile(config_path):
    raise BadInputError(f'{directory} has {run_metrics.METRICS_FILE} but no {CONFIG_FILE}')
  with open(config_path) as file:
    bindings, imports = parse_config(file.read(), config_path)
  try:
    records = run_metrics.read_metrics(directory)
  except ValueError as error:
    raise BadInputError(str(error)) from error
  for number, record in enumerate(records, start=1):
    if not isinstance(record, dict) or not isinstance(record.get('iteration'), int):
      raise BadInputError(f'{metrics_path}, line {number}: a record without an integer iteration')
    for key, value in record.items():
      try:
        float(value)
      except (TypeError, ValueError):
        raise BadInputError(
            f'{metrics_path}, line {number}: {key} is not a number: {value!r}') from None
  return Run(os.path.relpath(directory, sweep_dir), directory, bindings, records, imports)


def declarations_for(runs: Iterable[Run]) -> declarations_lib.Declarations:
  """What the zoo and the modules the runs' configs import declare (see declarations.py)."""
  return declarations_lib.find_declarations(module for run in runs for module in run.imports)


# -- grouping -----------------------------------------------------------------------------------


def _is_parameter(key: str, configurable: str, parameter: str) -> bool:
  _, selector, name = split_key(key)
  return configurable_name(selector) == configurable and name == parameter


def is_seed_key(key: str) -> bool:
  return _is_parameter(key, 'Runner', 'seed')


def is_agent_key(key: str) -> bool:
  return _is_parameter(key, 'create_agent', 'agent_class')


def is_display_only_key(key: str) -> bool:
  return any(_is_parameter(key, *pair) for pair in run_metrics.DISPLAY_ONLY_PARAMETERS)


def ignored_keys(runs: Sequence[Run],
                 declarations: Optional[declarations_lib.Declarations] = None) -> Set[str]:
  """Bindings that do not define a group: Runner.seed (and a macro it is bound to), display-only
  ones (the progress bar), and bindings whose value is the run's own directory (never the task's
  or the agent's)."""
  declarations = declarations or declarations_for(runs)
  ignored = set()
  for run in runs:
    for key, value in run.bindings.items():
      if is_seed_key(key) or is_display_only_key(key):
        ignored.add(key)
        if isinstance(value, MacroReference):
          ignored.add(value.name)
      elif (names_run_directory(value, run.name, run.path) and not declarations.is_task_key(key)
            and not is_agent_key(key)):
        ignored.add(key)
  return ignored


def differing_keys(bindings: Sequence[Dict[str, Any]], ignored: Set[str] = frozenset()
                   ) -> Tuple[List[str], List[str]]:
  """(keys bound to at least two different values, keys bound in only some configs), sorted."""
  valued, presence_only = [], []
  for key in sorted(set().union(*bindings) - set(ignored)):
    present = [config[key] for config in bindings if key in config]
    if len({format_value(value) for value in present}) > 1:
      valued.append(key)
    elif len(present) < len(bindings):
      presence_only.append(key)
  return valued, presence_only


def short_value(formatted: str) -> str:
  """`'Pong'` -> Pong, `@agents.rainbow.RainbowAgent` -> RainbowAgent."""
  if formatted.startswith('@'):
    return configurable_name(formatted[1:].removesuffix('()'))
  if len(formatted) >= 2 and formatted[0] == formatted[-1] and formatted[0] in '\'"':
    return formatted[1:-1]
  return formatted


def _short_key(key: str, keys: Sequence[str]) -> str:
  """The parameter name when no other key in `keys` has it, else the whole key."""
  name = split_key(key)[2] or split_key(key)[1]
  others = [split_key(other)[2] or split_key(other)[1] for other in keys if other != key]
  return key if name in others else name


def task_of(bindings: Dict[str, Any],
            declarations: declarations_lib.Declarations) -> Tuple[Tuple[str, str], ...]:
  """The bindings that name a run's task (the parameters its domain factory declares, such as
  `create_atari_environment.game_name`), or its `create_environment.fn` when none does:
  ((key, formatted value), ...), macros resolved (`layout = %LAYOUT` names the layout)."""
  keys = [key for key in bindings if declarations.is_task_key(key)]
  naming = [key for key in keys
            if (configurable_name(split_key(key)[1]), split_key(key)[2])
            != declarations_lib.ENVIRONMENT_FN]
  return tuple(sorted((key, format_value(resolve_macros(bindings, bindings[key])))
                      for key in naming or keys))


def _naming_keys(groups: Sequence[Group], ordered_keys: Sequence[str]) -> List[str]:
  """The keys, taken in order, that split groups still sharing a name (which starts with the
  group's task); enough to tell all groups apart."""
  chosen = []
  for key in ordered_keys:
    names = {}
    for group in groups:
      values = dict(group.bindings)
      names.setdefault((group.task, *(values[k] for k in chosen)), set()).add(values[key])
    if any(len(values) > 1 for values in names.values()):
      chosen.append(key)
  return chosen


def group_runs(runs: Sequence[Run],
               declarations: Optional[declarations_lib.Declarations] = None) -> List[Group]:
  """Groups runs by every binding but the seed; names and labels the groups (see the module doc).
  `declarations`: what the agents and domains declare, found from the runs when not given."""
  declarations = declarations or declarations_for(runs)
  ignored = ignored_keys(runs, declarations)
  valued, presence_only = differing_keys([run.bindings for run in runs], ignored)
  ordered = valued + presence_only
  by_bindings: Dict[Tuple[Tuple[str, str], ...], List[Run]] = {}
  for run in runs:
    bindings = tuple((key, format_value(run.bindings[key]) if key in run.bindings else UNSET)
                     for key in ordered)
    by_bindings.setdefault(bindings, []).append(run)
  groups = [Group(bindings, sorted(members, key=lambda run: run.name))
            for bindings, members in by_bindings.items()]
  tasks = {task_of(group.runs[0].bindings, declarations) for group in groups}
  for group in groups:
    task = task_of(group.runs[0].bindings, declarations)
    # A task shared by every group is no group's distinction: one figure, titled by that task.
    group.task = task if len(tasks) > 1 else ()
    group.task_label = ' '.join(short_value(value) for _, value in task)
  # Then the agent class, bindings with different values, bindings present in only some runs; a
  # task binding only where the task does not already tell groups apart.
  is_task_key = declarations.is_task_key
  naming = _naming_keys(groups, [key for key in ordered if is_agent_key(key)]
                        + [key for key in ordered if not is_agent_key(key) and not is_task_key(key)]
                        + [key for key in ordered if is_task_key(key)])
  for group in groups:
    values = dict(group.bindings)
    group.naming_keys = tuple(key for key, _ in group.task) + tuple(naming)
    parts = [f'{key}={value}' for key, value in group.task]
    parts += [f'{key}={values[key]}' for key in naming]
    group.name = ', '.join(parts) or 'all runs'
    labels = [short_value(values[key]) if is_agent_key(key)
              else f'{_short_key(key, naming)}={short_value(values[key])}' for key in naming]
    agent = find_binding(group.runs[0].bindings, 'create_agent', 'agent_class')
    fallback = short_value(format_value(agent)) if agent is not None else 'mean'
    group.label = ', '.join(labels) or fallback
  return sorted(groups, key=lambda group: (group.task, group.name))


# -- what groups are compared on ------------------------------------------------------------------


def aligned_values(runs: Sequence[Run], metric: str) -> Tuple[List[int], np.ndarray]:
  """The iterations every run has recorded `metric` for, and the (runs, iterations) values."""
  series = [run.values(metric) for run in runs]
  iterations = sorted(set.intersection(*(set(values) for values in series)))
  return iterations, np.array([[values[i] for i in iterations] for values in series]).reshape(
      len(runs), len(iterations))


def choose_metric(runs: Sequence[Run], metric: str) -> str:
  """`metric` if every run records it; train/average_return for the default eval metric when some
  run has no eval records; `metric` if some runs record it (the caller leaves out the others); else
  BadInputError listing the keys the runs have."""
  def has(run, name):
    return any(name in record for record in run.records)
  if all(has(run, metric) for run in runs):
    return metric
  if metric == DEFAULT_METRIC and all(has(run, FALLBACK_METRIC) for run in runs):
    return FALLBACK_METRIC
  if any(has(run, metric) for run in runs):
    return metric  # the others have not recorded it yet (e.g. a loss from the first update on)
  available = sorted({key for run in runs for record in run.records for key in record}
                     - {'iteration'})
  missing = [run.name for run in runs if not has(run, metric)]
  where = 'no run' if len(missing) == len(runs) else f'runs {", ".join(missing)} do not'
  raise BadInputError(f'unknown metric {metric!r}: {where} record it; available: '
                      f'{", ".join(available)}')
