r"""Sweep reports: learning curves and a summary table that compare the groups of runs of a sweep.

    python -um runner.report runs/sweep1 [--out DIR] [--metric eval/average_return] \
        [--baselines_dir PATH] [--x steps|iteration] [--confidence 0.95] \
        [--bootstrap_samples 10000] [--seed 0]

Every directory under the sweep directory that holds `metrics.jsonl` is a run (`checkpoints/` is not
searched); it is read from its run-directory files alone (`config.gin`, `metrics.jsonl`, see
DESIGN.md), so the report works on any runs, finished or still going, however they were started.
Writes to `--out` (default `<sweep dir>/report/`):

    report.md     one row per group: seeds, iterations, final mean [CI], final IQM, best mean, the
                  mean over iterations, Dopamine's value at the same step; notes; the runs
    curves*.png   learning curves, one figure per task (game or environment) when the groups differ
                  by task, else one: mean over seeds with a shaded CI, IQM dashed, Dopamine dotted

Groups. `config.gin` is the operative gin config; its bindings are parsed with gin's own parser
(references and macros kept as text, so nothing of the zoo is imported). Runs whose bindings are
equal except for `Runner.seed` (and any binding whose value is the run's own directory) form a
group. When the groups differ by task, a group's name starts with its own task bindings
(`create_atari_environment.game_name='Pong'`, `create_classic_environment.environment_name=...`;
one figure per task); then come the fewest differing bindings that tell the groups apart, chosen in
the order `create_agent.agent_class`, bindings with different values, bindings present in only some
runs (those belong to configurables the other runs do not use). The section "Configuration
differences" lists every binding whose value differs. Legends use short labels (`RainbowAgent`,
`gamma=0.99`) without the task, which is the figure's title.

Statistics, across the seeds of a group at every iteration that all its runs have recorded:
  - mean, with a percentile-bootstrap confidence interval: each of `--bootstrap_samples` samples
    draws as many runs as the group has, with replacement (whole runs, the same draw at every
    iteration), and the interval is the (1 - c)/2 and (1 + c)/2 quantiles of the samples' means;
    the generator is seeded from `--seed` and the group's name, so a report is reproducible and a
    group's interval does not change when other groups are added. One seed has no interval.
  - IQM, the interquartile mean: the mean of the middle 50% of the seeds' values, that is twice the
    integral of the empirical quantile function from 1/4 to 3/4. The i-th smallest of n values
    (i = 1..n) covers the quantiles ((i-1)/n, i/n] and weighs twice that interval's overlap with
    [1/4, 3/4]. For n a multiple of 4 this is the mean of the middle n/2 values (equal to
    scipy.stats.trim_mean(x, 0.25), which rliable's IQM uses); values at a quartile boundary count
    in part: n = 1 gives the value, n = 2 the mean, n = 3 weights (1/6, 2/3, 1/6), n = 5 weights
    (0, 0.3, 0.4, 0.3, 0).

Metric: `eval/average_return` by default; a group whose runs have no eval records (schedule
`continuous_train`, as in Dopamine's Atari protocol) is reported with `train/average_return`, and
the report says so. x axis: `steps`, the agent training steps at the end of each iteration,
(iteration + 1) * Runner.training_steps, or `iteration`.

Baselines: a group with `create_atari_environment.game_name` (or `create_mujoco_environment.
environment_name`) and an agent class that Dopamine published (DQNAgent: 'DQN', RainbowAgent:
'Rainbow', SACAgent: 'SAC'; 'DQN (Adam + MSE in JAX)' for `DQNAgent.loss_type = 'mse'`) gets
Dopamine's mean curve over its seeds from `<baselines_dir>/<game>.json` (`mj_<task>.json`), at the
agent steps that end each Dopamine iteration (250,000 on Atari, 1,000 on MuJoCo). Those curves
are training-episode returns; a missing file or agent is a note in the report.

Bad input (no runs, a corrupt metrics.jsonl or config.gin, an unknown metric, a missing baselines
directory) ends with a one-line message and exit status 2, as in runner.train.
"""

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import tokenize
import zlib
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
from gin import config_parser

from runner import metrics as run_metrics

CONFIG_FILE = 'config.gin'
CHECKPOINTS_DIR = 'checkpoints'
REPORT_FILE = 'report.md'
DEFAULT_METRIC = 'eval/average_return'
FALLBACK_METRIC = 'train/average_return'
EXIT_BAD_INPUT = 2
UNSET = '<unset>'
REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BASELINES_DIR = os.path.join(os.path.dirname(REPO_DIR), 'shared', 'dopamine_baselines')

# Environment factories' parameters that name the task; a figure is drawn per task.
TASK_PARAMETERS = ('fn', 'game_name', 'environment_name', 'task_name', 'maze')
TASK_CONFIGURABLE = re.compile(r'^create_(\w+_)?environment$')

# Agent class -> Dopamine's name for it in the baseline files.
BASELINE_AGENTS = {'DQNAgent': 'DQN', 'RainbowAgent': 'Rainbow', 'SACAgent': 'SAC'}
MSE_DQN = 'DQN (Adam + MSE in JAX)'
# What Dopamine's agents are, for the report: they are not this zoo's configurations.
BASELINE_REMARKS = {
    'DQN': "Dopamine's \"DQN\" curve is its original DQN (RMSProp, Huber loss).",
    MSE_DQN: "Dopamine's \"DQN (Adam + MSE in JAX)\" curve is its JAX DQN with the MSE loss.",
    'Rainbow': "Dopamine's \"Rainbow\" is its compact Rainbow (C51, 3-step returns, prioritized "
               "replay; no double DQN, dueling or noisy nets), not full Rainbow.",
}
# (configurable, parameter naming the task, baseline file name, agent steps per Dopamine iteration)
BASELINE_DOMAINS = (('create_atari_environment', 'game_name', '{}.json', 250_000),
                    ('create_mujoco_environment', 'environment_name', 'mj_{}.json', 1_000))


class BadInputError(Exception):
  """Bad input, reported as a one-line message with exit status 2.

  The same convention as runner.train's BadInputError; not imported from there, because importing
  runner.train imports every agent (and JAX) and a report needs none of them.
  """


# -- config.gin ---------------------------------------------------------------------------------


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


def parse_bindings(text: str, source: str = 'config') -> Dict[str, Any]:
  """The bindings of a gin config text: `{'[scope/]Selector.param': value, 'MACRO': value}`.

  Values are Python literals, with ConfigurableReference and MacroReference for `@...` and `%...`.
  Imports and includes are skipped (an operative config has neither); a later binding of a key
  replaces an earlier one, as in gin.
  """
  bindings = {}
  try:
    for statement in config_parser.ConfigParser(text, _TextualDelegate()):
      if isinstance(statement, config_parser.BindingStatement):
        key = statement.selector + (f'.{statement.arg_name}' if statement.arg_name else '')
        bindings[f'{statement.scope}/{key}' if statement.scope else key] = statement.value
  except (SyntaxError, ValueError, tokenize.TokenError) as error:
    message = ' '.join(str(error).split())
    raise BadInputError(f'{source}: not a gin config ({message})') from error
  return bindings


def split_key(key: str) -> Tuple[str, str, str]:
  """(scope, selector, parameter) of a binding key; a macro's parameter is ''."""
  scope, _, name = key.rpartition('/')
  selector, _, parameter = name.rpartition('.')
  return (scope, name, '') if not selector else (scope, selector, parameter)


def format_value(value: Any) -> str:
  """A binding's value as gin writes it: `'Pong'`, `0.99`, `@RainbowAgent`, `%GAMMA`."""
  return repr(value)


def resolve_macros(bindings: Dict[str, Any], value: Any) -> Any:
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
    if name == parameter and selector.split('.')[-1] == configurable:
      matches.append((bool(scope), key, value))
  if not matches:
    return None
  return resolve_macros(bindings, min(matches, key=lambda match: match[:2])[2])


def is_seed_key(key: str) -> bool:
  _, selector, parameter = split_key(key)
  return selector.split('.')[-1] == 'Runner' and parameter == 'seed'


def is_task_key(key: str) -> bool:
  _, selector, parameter = split_key(key)
  return bool(TASK_CONFIGURABLE.match(selector.split('.')[-1])) and parameter in TASK_PARAMETERS


def is_agent_key(key: str) -> bool:
  _, selector, parameter = split_key(key)
  return selector.split('.')[-1] == 'create_agent' and parameter == 'agent_class'


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


# -- runs and groups -----------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
  """One run directory: its name (path relative to the sweep directory), bindings and records."""
  name: str
  path: str
  bindings: Dict[str, Any]
  records: List[Dict[str, Any]]

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


def is_display_only_key(key: str) -> bool:
  _, selector, parameter = split_key(key)
  return (selector.split('.')[-1], parameter) in run_metrics.DISPLAY_ONLY_PARAMETERS


def ignored_keys(runs: Sequence[Run]) -> Set[str]:
  """Bindings that do not define a group: Runner.seed (and a macro it is bound to), display-only
  ones (the progress bar), and bindings whose value is the run's own directory (never the task's
  or the agent's)."""
  ignored = set()
  for run in runs:
    for key, value in run.bindings.items():
      if is_seed_key(key) or is_display_only_key(key):
        ignored.add(key)
        if isinstance(value, MacroReference):
          ignored.add(value.name)
      elif (names_run_directory(value, run.name, run.path) and not is_task_key(key)
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


def _short_value(formatted: str) -> str:
  """`'Pong'` -> Pong, `@agents.rainbow.RainbowAgent` -> RainbowAgent."""
  if formatted.startswith('@'):
    return formatted[1:].removesuffix('()').split('/')[-1].split('.')[-1]
  if len(formatted) >= 2 and formatted[0] == formatted[-1] and formatted[0] in '\'"':
    return formatted[1:-1]
  return formatted


def _short_key(key: str, keys: Sequence[str]) -> str:
  """The parameter name when no other key in `keys` has it, else the whole key."""
  name = split_key(key)[2] or split_key(key)[1]
  others = [split_key(other)[2] or split_key(other)[1] for other in keys if other != key]
  return key if name in others else name


def task_of(bindings: Dict[str, Any]) -> Tuple[Tuple[str, str], ...]:
  """The bindings that name a run's task (`create_atari_environment.game_name` and the like), or
  its `create_environment.fn` when none does: ((key, formatted value), ...)."""
  keys = [key for key in bindings if is_task_key(key)]
  naming = [key for key in keys if split_key(key)[2] != 'fn']
  return tuple(sorted((key, format_value(bindings[key])) for key in naming or keys))


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


def group_runs(runs: Sequence[Run]) -> List[Group]:
  """Groups runs by every binding but the seed; names and labels the groups (see the module doc)."""
  ignored = ignored_keys(runs)
  valued, presence_only = differing_keys([run.bindings for run in runs], ignored)
  ordered = valued + presence_only
  by_bindings: Dict[Tuple[Tuple[str, str], ...], List[Run]] = {}
  for run in runs:
    bindings = tuple((key, format_value(run.bindings[key]) if key in run.bindings else UNSET)
                     for key in ordered)
    by_bindings.setdefault(bindings, []).append(run)
  groups = [Group(bindings, sorted(members, key=lambda run: run.name))
            for bindings, members in by_bindings.items()]
  tasks = {task_of(group.runs[0].bindings) for group in groups}
  for group in groups:
    # A task shared by every group is no group's distinction: one figure, titled by that task.
    group.task = task_of(group.runs[0].bindings) if len(tasks) > 1 else ()
    group.task_label = ' '.join(_short_value(value)
                                for _, value in task_of(group.runs[0].bindings))
  # Then the agent class, bindings with different values, bindings present in only some runs; a
  # task binding only where the task does not already tell groups apart.
  naming = _naming_keys(groups, [key for key in ordered if is_agent_key(key)]
                        + [key for key in ordered if not is_agent_key(key) and not is_task_key(key)]
                        + [key for key in ordered if is_task_key(key)])
  for group in groups:
    values = dict(group.bindings)
    group.naming_keys = tuple(key for key, _ in group.task) + tuple(naming)
    parts = [f'{key}={value}' for key, value in group.task]
    parts += [f'{key}={values[key]}' for key in naming]
    group.name = ', '.join(parts) or 'all runs'
    labels = [_short_value(values[key]) if is_agent_key(key)
              else f'{_short_key(key, naming)}={_short_value(values[key])}' for key in naming]
    agent = find_binding(group.runs[0].bindings, 'create_agent', 'agent_class')
    fallback = _short_value(format_value(agent)) if agent is not None else 'mean'
    group.label = ', '.join(labels) or fallback
  return sorted(groups, key=lambda group: (group.task, group.name))


# -- statistics ----------------------------------------------------------------------------------


def iqm_weights(n: int) -> np.ndarray:
  """Weights of the sorted values in the interquartile mean of n values (see the module doc)."""
  edges = np.arange(n + 1) / n
  overlap = np.minimum(edges[1:], 0.75) - np.maximum(edges[:-1], 0.25)
  return 2 * np.clip(overlap, 0.0, None)


def interquartile_mean(values, axis: int = 0) -> np.ndarray:
  """The mean of the middle 50% of `values` along `axis`, boundary values weighted in part.

  NaN when any value along the axis is NaN (sorting would otherwise hide it in a zero-weight tail).
  """
  values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
  result = np.sort(values, axis=-1) @ iqm_weights(values.shape[-1])
  return np.where(np.isnan(values).any(axis=-1), np.nan, result)


def bootstrap_mean_ci(values, confidence: float = 0.95, samples: int = 10000, seed: int = 0
                      ) -> Tuple[np.ndarray, np.ndarray]:
  """Percentile-bootstrap interval of the mean over seeds (axis 0) at each point (axis 1).

  Each sample draws n of the n runs with replacement, the same draw at every point (a resampled
  curve is a mix of whole runs); returns the (1 - c)/2 and (1 + c)/2 quantiles of the samples'
  means. Deterministic for a seed. Equal runs give a zero-width interval, and so does one run.
  """
  values = np.asarray(values, dtype=float)
  squeeze = values.ndim == 1
  values = values.reshape(len(values), -1)
  n, points = values.shape
  rng = np.random.default_rng(seed)
  counts = rng.multinomial(n, np.full(n, 1.0 / n), size=samples).astype(float)
  quantiles = [(1 - confidence) / 2, (1 + confidence) / 2]
  low, high = np.empty(points), np.empty(points)
  chunk = max(1, 2**22 // samples)  # bounds the (samples, chunk) matrix of means to 32 MB
  for start in range(0, points, chunk):
    means = counts @ values[:, start:start + chunk] / n
    low[start:start + chunk], high[start:start + chunk] = np.quantile(means, quantiles, axis=0)
  return (low[0], high[0]) if squeeze else (low, high)


@dataclasses.dataclass
class CurveStatistics:
  """Per-iteration statistics of a group across its seeds."""
  iterations: np.ndarray
  mean: np.ndarray
  low: np.ndarray
  high: np.ndarray
  iqm: np.ndarray


def curve_statistics(iterations: Sequence[int], values, confidence: float = 0.95,
                     samples: int = 10000, seed: int = 0) -> CurveStatistics:
  """Mean, bootstrap CI of the mean and IQM over seeds; `values` is (seeds, iterations)."""
  values = np.asarray(values, dtype=float)
  low, high = bootstrap_mean_ci(values, confidence, samples, seed)
  return CurveStatistics(np.asarray(iterations), values.mean(axis=0), low, high,
                         interquartile_mean(values, axis=0))


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


# -- Dopamine baselines --------------------------------------------------------------------------


@dataclasses.dataclass
class Baseline:
  """Dopamine's mean curve for one agent and task: value at the agent step ending each iteration."""
  agent: str
  path: str
  steps: np.ndarray
  mean: np.ndarray
  seeds: int

  @property
  def description(self) -> str:
    return f"Dopamine {self.agent} ({os.path.basename(self.path)}, {self.seeds} seeds)"

  def at(self, steps: float) -> Optional[float]:
    """The curve at `steps`, linearly interpolated; None outside the curve."""
    if not len(self.steps) or not self.steps[0] <= steps <= self.steps[-1]:
      return None
    return float(np.interp(steps, self.steps, self.mean))


def _baseline_agents(bindings: Dict[str, Any]) -> List[str]:
  """Dopamine's names for the run's agent class, best match first; [] if Dopamine has none."""
  agent_class = find_binding(bindings, 'create_agent', 'agent_class')
  if not isinstance(agent_class, ConfigurableReference):
    return []
  agent = BASELINE_AGENTS.get(agent_class.name.split('/')[-1].split('.')[-1])
  if agent == 'DQN' and find_binding(bindings, 'DQNAgent', 'loss_type') == 'mse':
    return [MSE_DQN, agent]  # Dopamine's JAX DQN (Adam, MSE) where the file has it
  return [agent] if agent else []


def load_baseline(bindings: Dict[str, Any], baselines_dir: str) -> Tuple[Optional[Baseline], str]:
  """Dopamine's curve for a run's task and agent class, or (None, why not; '' when the run is not
  on a task Dopamine published)."""
  for configurable, parameter, file_pattern, steps_per_iteration in BASELINE_DOMAINS:
    task = find_binding(bindings, configurable, parameter)
    if not isinstance(task, str):
      continue
    candidates = _baseline_agents(bindings)
    if not candidates:
      agent_class = find_binding(bindings, 'create_agent', 'agent_class')
      return None, f'no Dopamine baseline for agent {format_value(agent_class)} on {task}'
    stem = re.sub(r'[^a-z0-9]', '', re.sub(r'-v\d+$', '', task.lower()))
    path = os.path.join(baselines_dir, file_pattern.format(stem))
    if not os.path.isfile(path):
      return None, f'no Dopamine baseline file for {task}: {path} does not exist'
    try:
      with open(path) as file:
        records = json.load(file)
      agents = {record['Agent'] for record in records}
      agent = next((name for name in candidates if name in agents), candidates[-1])
      by_iteration: Dict[float, List[float]] = {}
      for record in records:
        if record['Agent'] == agent:
          by_iteration.setdefault(float(record['Iteration']), []).append(float(record['Value']))
    except (ValueError, KeyError, TypeError) as error:
      raise BadInputError(f'{path}: not a Dopamine baseline file ({error!r})') from error
    if not by_iteration:
      return None, (f'{path} has no agent {agent!r} (it has {", ".join(sorted(map(str, agents)))})')
    iterations = np.array(sorted(by_iteration))
    return Baseline(agent, path, (iterations + 1) * steps_per_iteration,
                    np.array([np.mean(by_iteration[i]) for i in iterations]),
                    max(len(values) for values in by_iteration.values())), ''
  return None, ''


# -- the report ----------------------------------------------------------------------------------


@dataclasses.dataclass
class GroupResult:
  group: Group
  metric: str
  statistics: CurveStatistics
  training_steps: Optional[int]
  run_lengths: List[int]  # iterations each run has recorded of the metric
  baseline: Optional[Baseline] = None

  @property
  def steps(self) -> Optional[np.ndarray]:
    """Agent training steps at the end of each iteration."""
    if self.training_steps is None:
      return None
    return (self.statistics.iterations + 1) * self.training_steps


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
  config_path = os.path.join(directory, CONFIG_FILE)
  metrics_path = os.path.join(directory, run_metrics.METRICS_FILE)
  if not os.path.isfile(config_path):
    raise BadInputError(f'{directory} has {run_metrics.METRICS_FILE} but no {CONFIG_FILE}')
  with open(config_path) as file:
    bindings = parse_bindings(file.read(), config_path)
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
  return Run(os.path.relpath(directory, sweep_dir), directory, bindings, records)


def _number(value: Optional[float]) -> str:
  if value is None:
    return '—'
  if not math.isfinite(value):
    return str(value)
  if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-2):
    return f'{value:.3g}'
  return f'{value:.2f}'


def _cell(text: str) -> str:
  return text.replace('|', '\\|')


def _slug(text: str) -> str:
  return re.sub(r'[^a-z0-9]+', '_', text.lower()).strip('_') or 'task'


def _group_seed(seed: int, name: str) -> List[int]:
  return [seed, zlib.crc32(name.encode())]


def plot_figure(path: str, title: str, results: Sequence[GroupResult], x_axis: str,
                y_label: str) -> None:
  """One PNG: per group the mean over seeds with its CI shaded and the IQM dashed; the groups'
  Dopamine baselines dotted in the colour of the first group that has each, over the groups' x
  range."""
  # The object-oriented API: no pyplot, so no global backend is chosen for whoever imports this.
  from matplotlib import ticker
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  figure = Figure(figsize=(7, 4.5), dpi=100)
  FigureCanvasAgg(figure)
  axes = figure.add_subplot()
  x_max = max(float(result.steps[-1] if x_axis == 'steps' else result.statistics.iterations[-1])
              for result in results)
  drawn = set()
  for result in results:
    stats = result.statistics
    x = result.steps if x_axis == 'steps' else stats.iterations
    seeds = len(result.group.runs)
    (line,) = axes.plot(x, stats.mean, label=f'{result.group.label} (mean, {seeds} seeds)')
    color = line.get_color()
    if seeds > 1:
      axes.fill_between(x, stats.low, stats.high, color=color, alpha=0.2, linewidth=0)
    axes.plot(x, stats.iqm, color=color, linestyle='--', label=f'{result.group.label} (IQM)')
    baseline = result.baseline
    if baseline is None or (baseline.path, baseline.agent) in drawn:
      continue
    drawn.add((baseline.path, baseline.agent))
    x = baseline.steps if x_axis == 'steps' else baseline.steps / result.training_steps - 1
    shown = x <= x_max
    if shown.any():
      axes.plot(x[shown], baseline.mean[shown], color=color, linestyle=':', linewidth=2,
                label=f'Dopamine {baseline.agent} (train return)')
  axes.set_title(title)
  if x_axis == 'steps':
    axes.set_xlabel('agent training steps')
    axes.xaxis.set_major_formatter(ticker.EngFormatter(sep=''))
  else:
    axes.set_xlabel('iteration')
  axes.set_ylabel(y_label)
  axes.grid(alpha=0.3)
  axes.legend(fontsize='small')
  figure.tight_layout()
  figure.savefig(path)


def build_report(sweep_dir: str, out_dir: Optional[str] = None, metric: str = DEFAULT_METRIC,
                 baselines_dir: Optional[str] = None, x_axis: str = 'steps',
                 confidence: float = 0.95, bootstrap_samples: int = 10000, seed: int = 0
                 ) -> Tuple[str, List[str]]:
  """Writes report.md and the figures; returns their paths. BadInputError on bad input.

  `baselines_dir`: None for the default (../shared/dopamine_baselines next to the repository, if it
  exists), '' for no baselines.
  """
  if x_axis not in ('steps', 'iteration'):
    raise BadInputError(f'--x must be steps or iteration, not {x_axis!r}')
  if not 0 < confidence < 1:
    raise BadInputError(f'--confidence must be between 0 and 1, not {confidence}')
  if bootstrap_samples < 1:
    raise BadInputError(f'--bootstrap_samples must be positive, not {bootstrap_samples}')
  if seed < 0:
    raise BadInputError(f'--seed must not be negative, not {seed}')
  if not os.path.isdir(sweep_dir):
    raise BadInputError(f'{sweep_dir} is not a directory')
  if baselines_dir is None:
    baselines_dir = DEFAULT_BASELINES_DIR if os.path.isdir(DEFAULT_BASELINES_DIR) else ''
  elif baselines_dir and not os.path.isdir(baselines_dir):
    raise BadInputError(f'--baselines_dir {baselines_dir} is not a directory')
  out_dir = out_dir or os.path.join(sweep_dir, 'report')

  notes = []
  all_runs = [load_run(sweep_dir, directory) for directory in find_run_directories(sweep_dir)]
  if not all_runs:
    raise BadInputError(f'no runs in {sweep_dir}: no directory under it holds '
                        f'{run_metrics.METRICS_FILE}')
  runs = [run for run in all_runs if run.records]
  if not runs:
    raise BadInputError(f'no runs in {sweep_dir} have recorded an iteration yet')
  for run in all_runs:
    if not run.records:
      notes.append(f'`{run.name}` has recorded no iteration yet; left out.')

  results, fallen_back = [], []
  groups = group_runs(runs)
  for group in groups:
    group_metric = choose_metric(group.runs, metric)
    if group_metric != metric:
      fallen_back.append(group.name)
    recording = []
    for run in group.runs:
      if run.values(group_metric):
        recording.append(run)
      else:
        notes.append(f'`{run.name}` has not recorded `{group_metric}` yet; left out.')
    group.runs = recording
    iterations, values = aligned_values(group.runs, group_metric)
    lengths = [len(run.values(group_metric)) for run in group.runs]
    if not iterations:
      notes.append(f'{group.name}: its runs have no iteration in common; left out.')
      continue
    if min(lengths) != max(lengths) or len(iterations) != max(lengths):
      notes.append(f'{group.name}: runs have {min(lengths)} to {max(lengths)} iterations; the '
                   f'{len(iterations)} that all have are used.')
    seeds = [format_value(run.seed) for run in group.runs]
    if len(set(seeds)) < len(seeds):
      notes.append(f'{group.name}: several runs have the same seed ({", ".join(seeds)}).')
    if np.isnan(values).any():
      notes.append(f'{group.name}: some values are NaN.')
    training_steps = find_binding(group.runs[0].bindings, 'Runner', 'training_steps')
    statistics = curve_statistics(iterations, values, confidence, bootstrap_samples,
                                  _group_seed(seed, group.name))
    result = GroupResult(group, group_metric, statistics,
                         training_steps if isinstance(training_steps, int) else None, lengths)
    if baselines_dir:
      result.baseline, why_not = load_baseline(group.runs[0].bindings, baselines_dir)
      if why_not:
        notes.append(f'{group.name}: {why_not}.')
    results.append(result)

  if fallen_back:
    if len(fallen_back) == len(groups):
      notes.insert(0, f'The runs do not record `{metric}` (no evaluation phase): every group is '
                   f'reported with `{FALLBACK_METRIC}`.')
    else:
      notes.insert(0, f'Reported with `{FALLBACK_METRIC}`, as their runs do not all record '
                   f'`{metric}` (no evaluation phase): {"; ".join(fallen_back)}.')
  if x_axis == 'steps' and any(result.training_steps is None for result in results):
    x_axis = 'iteration'
    notes.append('Some runs have no `Runner.training_steps` in config.gin; the x axis is the '
                 'iteration.')
  for result in results:
    if result.baseline is not None and result.training_steps is None:
      notes.append(f'{result.group.name}: no `Runner.training_steps`, so no Dopamine baseline.')
      result.baseline = None
    if result.baseline is not None and result.metric != FALLBACK_METRIC:
      notes.append(f'{result.group.name}: Dopamine\'s curve is the training-episode return; this '
                   f'group is plotted with `{result.metric}`.')

  os.makedirs(out_dir, exist_ok=True)
  figures = []
  tasks = sorted({result.group.task for result in results})
  for task in tasks:
    members = [result for result in results if result.group.task == task]
    title = members[0].group.task_label or os.path.basename(
        os.path.normpath(os.path.abspath(sweep_dir)))
    x_end = max(int(result.steps[-1]) for result in members if result.steps is not None) if any(
        result.steps is not None for result in members) else 0
    late = {result.baseline.description: int(result.baseline.steps[0]) for result in members
            if result.baseline is not None and result.baseline.steps[0] > x_end}
    notes += [f'{description} starts at step {start:,}, after the runs end ({x_end:,}); not drawn.'
              for description, start in sorted(late.items())]
    path = os.path.join(out_dir, f'curves_{_slug(title)}.png' if task else 'curves.png')
    if path in figures:  # two tasks whose titles differ only in case or punctuation
      path = path.removesuffix('.png') + f'_{len(figures)}.png'
    y_label = ' / '.join(sorted({result.metric for result in members}))
    plot_figure(path, f'{title}: {y_label}', members, x_axis, y_label)
    figures.append(path)

  report_path = os.path.join(out_dir, REPORT_FILE)
  with open(report_path, 'w') as file:
    file.write(_markdown(sweep_dir, results, notes, figures, metric, baselines_dir, x_axis,
                         confidence, bootstrap_samples, seed))
  return report_path, figures


def _markdown(sweep_dir, results, notes, figures, metric, baselines_dir, x_axis, confidence,
              bootstrap_samples, seed) -> str:
  percent = f'{100 * confidence:g}%'
  metrics_used = sorted({result.metric for result in results})
  lines = [f'# Sweep report: {sweep_dir}', '',
           f'Metric: {", ".join(f"`{m}`" for m in metrics_used)}'
           + (f' (asked for `{metric}`). ' if metrics_used != [metric] else '. ') +
           f'Mean over seeds with a {percent} percentile-bootstrap CI ({bootstrap_samples} '
           f'resamples of whole runs, seed {seed}); IQM = mean of the middle 50% of seeds, '
           f'values at the quartiles weighted in part (n < 4: 1 seed = the value, 2 = the mean, '
           f'3 = weights 1/6, 2/3, 1/6). With few seeds a percentile bootstrap understates the '
           f'uncertainty (its interval never leaves the range of the seeds\' values). "Final" is '
           f'the last iteration all runs of a group have; "mean over iterations" is the area under '
           f'the mean curve per iteration. Steps are agent training steps at the end of an '
           f'iteration; the figures\' x axis is the '
           f'{"agent step" if x_axis == "steps" else "iteration"}.',
           '']
  with_baseline = any(result.baseline is not None for result in results)
  header = ['group', 'seeds', 'iterations', 'final iteration (steps)',
            f'final mean [{percent} CI]', 'final IQM', 'best mean (iteration)',
            'mean over iterations']
  if with_baseline:
    header.append('Dopamine at final steps')
  if len(metrics_used) > 1:
    header.insert(1, 'metric')
  lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for result in results:
    stats = result.statistics
    seeds = len(result.group.runs)
    lengths = result.run_lengths
    iterations = str(len(stats.iterations))
    if min(lengths) != max(lengths) or len(stats.iterations) != max(lengths):
      iterations += f' (runs: {min(lengths)}–{max(lengths)})'
    final_steps = None if result.steps is None else int(result.steps[-1])
    final = f'{stats.iterations[-1]}' + ('' if final_steps is None else f' ({final_steps:,})')
    mean = _number(float(stats.mean[-1]))
    ci = (f' [{_number(float(stats.low[-1]))}, {_number(float(stats.high[-1]))}]'
          if seeds > 1 else ' (1 seed, no CI)')
    if np.isnan(stats.mean).all():
      best = 'nan'
    else:
      best_index = int(np.nanargmax(stats.mean))
      best = f'{_number(float(stats.mean[best_index]))} ({stats.iterations[best_index]})'
    row = [f'`{result.group.name}`', str(seeds), iterations, final, mean + ci,
           _number(float(stats.iqm[-1])), best, _number(float(np.mean(stats.mean)))]
    if with_baseline:
      value = result.baseline.at(final_steps) if result.baseline is not None else None
      row.append('—' if value is None else f'{_number(value)} ({result.baseline.agent})')
    if len(metrics_used) > 1:
      row.insert(1, f'`{result.metric}`')
    lines.append('| ' + ' | '.join(_cell(cell) for cell in row) + ' |')
  lines.append('')
  used = [result.baseline for result in results if result.baseline is not None]
  if used:
    remarks = [BASELINE_REMARKS[agent] for agent in sorted({baseline.agent for baseline in used})
               if agent in BASELINE_REMARKS]
    described = ', '.join(sorted({baseline.description for baseline in used}))
    lines += [(f'Dopamine baselines (from {baselines_dir}; mean over its seeds of the training-'
               f'episode return, at the agent step that ends each Dopamine iteration, linearly '
               f'interpolated): {described}. ' + ' '.join(remarks)).strip(), '']
  if notes:
    lines += ['## Notes', ''] + [f'- {note}' for note in notes] + ['']
  lines += ['## Figures', '']
  lines += [f'![{os.path.basename(path)}]({os.path.basename(path)})' for path in figures] + ['']
  lines += ['## Runs', '']
  for result in results:
    runs = ', '.join(f'`{run.name}` (seed {format_value(run.seed)})' for run in result.group.runs)
    lines.append(f'- `{result.group.name}` (label "{result.group.label}"): {runs}')
  lines.append('')
  differing = [(result.group, sorted(
      [(key, value) for key, value in result.group.bindings if not _presence_only(key, results)],
      key=lambda binding, group=result.group: binding[0] not in group.naming_keys))
      for result in results]
  if any({key for key, _ in bindings} - set(group.naming_keys) for group, bindings in differing):
    lines += ['## Configuration differences', '',
              ('Every binding whose value differs between groups (Runner.seed and bindings present '
               'in only some runs, which belong to configurables other runs do not use, are left '
               'out).'), '']
    for group, bindings in differing:
      lines.append(f'- `{group.name}`: ' + ', '.join(f'`{k}={v}`' for k, v in bindings))
    lines.append('')
  return '\n'.join(lines)


def _presence_only(key: str, results: Sequence[GroupResult]) -> bool:
  values = {dict(result.group.bindings)[key] for result in results}
  return UNSET in values and len(values - {UNSET}) <= 1


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='runner.report', description='Learning curves and a summary table for a sweep.')
  parser.add_argument('sweep_dir', help='Directory holding the run directories of a sweep.')
  parser.add_argument('--out', default=None, help='Output directory (default: <sweep_dir>/report).')
  parser.add_argument('--metric', default=DEFAULT_METRIC,
                      help='Key of metrics.jsonl to report (default: %(default)s; falls back to '
                      f'{FALLBACK_METRIC} for runs without an evaluation phase).')
  parser.add_argument('--baselines_dir', default=None,
                      help='Dopamine baseline curves (default: ../shared/dopamine_baselines next '
                      'to the repository, if it exists); "" for none.')
  parser.add_argument('--x', default='steps', choices=['steps', 'iteration'],
                      help='x axis: agent training steps or iteration (default: %(default)s).')
  parser.add_argument('--confidence', type=float, default=0.95)
  parser.add_argument('--bootstrap_samples', type=int, default=10000)
  parser.add_argument('--seed', type=int, default=0, help='Seed of the bootstrap.')
  args = parser.parse_args(argv)
  try:
    report_path, figures = build_report(args.sweep_dir, args.out, args.metric, args.baselines_dir,
                                        args.x, args.confidence, args.bootstrap_samples, args.seed)
  except BadInputError as error:
    print(f'runner.report: error: {error}', file=sys.stderr)
    return EXIT_BAD_INPUT
  print(f'Wrote {report_path} and {len(figures)} figure(s): {", ".join(figures)}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
