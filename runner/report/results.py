"""What the report computed: per group, its curve statistics; across groups, how they compare.

Comparisons are between methods: groups with the same label (the bindings that tell groups apart,
task left out), so a method spans the tasks it ran on. They use each seed's final value (at the last
iteration all runs of its group have), on the tasks both methods ran with the same metric:
  - the probability of improvement P(X > Y) of every pair of methods (statistics.py), over the tasks
    the two share;
  - performance profiles (run-score distributions) over the tasks every method ran. Returns differ
    in scale from task to task, so each task's final values are first normalised together, min-max
    over all the compared methods' runs on it: 0 is the lowest final value any run reached on the
    task, 1 the highest. A task where every run ended with the same value ranks no method above
    another and is left out, as is one with a value that is not finite.
A sweep of one method has no comparison.
"""

import dataclasses
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from runner.report import statistics
from runner.report.baselines import Baseline
from runner.report.runs import Group

PROFILE_THRESHOLDS = np.linspace(0.0, 1.0, 101)
PROFILES_FIGURE = 'performance_profiles.png'


@dataclasses.dataclass
class GroupResult:
  """A group's curves across its seeds, and the baseline it is drawn against."""
  group: Group
  metric: str
  statistics: statistics.CurveStatistics
  training_steps: Optional[int]
  run_lengths: List[int]  # iterations each run has recorded of the metric
  final_values: np.ndarray  # each run's value at the last iteration all runs have
  baseline: Optional[Baseline] = None

  @property
  def steps(self) -> Optional[np.ndarray]:
    """Agent training steps at the end of each iteration."""
    if self.training_steps is None:
      return None
    return (self.statistics.iterations + 1) * self.training_steps


@dataclasses.dataclass
class Improvement:
  """P(X > Y) between two methods over the tasks they share."""
  x: str
  y: str
  tasks: List[str]
  estimate: statistics.Estimate


@dataclasses.dataclass
class Comparison:
  """How the methods of a sweep compare across tasks."""
  improvements: List[Improvement]
  profile_tasks: List[str]  # the tasks of the performance profiles; [] for none
  profiles: Dict[str, statistics.Estimate]  # method -> profile at PROFILE_THRESHOLDS
  notes: List[str]


def stream_seed(seed: int, name: str) -> List[int]:
  """The seed of one bootstrap: the report's `--seed` and a hash of what is resampled, so an
  interval does not change when other groups are added."""
  return [seed, zlib.crc32(name.encode())]


def _by_method(results: Sequence[GroupResult]) -> Dict[str, Dict[Tuple, GroupResult]]:
  """method label -> {task: its group's result}, in the order the methods first appear."""
  methods: Dict[str, Dict[Tuple, GroupResult]] = {}
  for result in results:
    methods.setdefault(result.group.label, {}).setdefault(result.group.task, result)
  return methods


def _shared_tasks(members: Sequence[Dict[Tuple, GroupResult]]) -> List[Tuple]:
  """The tasks every method in `members` ran, with the same metric."""
  tasks = set.intersection(*(set(member) for member in members))
  return sorted(task for task in tasks if len({member[task].metric for member in members}) == 1)


def compare_groups(results: Sequence[GroupResult], confidence: float, samples: int,
                   seed: int) -> Optional[Comparison]:
  """P(X > Y) between every two methods and their performance profiles; None with one method."""
  methods = _by_method(results)
  if len(methods) < 2:
    return None
  labels = list(methods)
  improvements, notes = [], []
  for i, x in enumerate(labels):
    for y in labels[i + 1:]:
      tasks = _shared_tasks([methods[x], methods[y]])
      if not tasks:
        continue
      estimate = statistics.probability_of_improvement_estimate(
          [methods[x][task].final_values for task in tasks],
          [methods[y][task].final_values for task in tasks], confidence, samples,
          stream_seed(seed, f'P({x} > {y})'))
      improvements.append(Improvement(x, y, [methods[x][t].group.task_label for t in tasks],
                                      estimate))
  normalised: Dict[str, List[np.ndarray]] = {label: [] for label in labels}
  profile_tasks = []
  common_tasks = _shared_tasks(list(methods.values()))
  if not common_tasks:
    notes.append('Performance profiles: no task was run by every method with the same metric; '
                 'none drawn.')
  for task in common_tasks:
    scores = statistics.min_max_normalise([methods[label][task].final_values for label in labels])
    task_label = methods[labels[0]][task].group.task_label or 'the task'
    if scores is None:
      notes.append(f'Performance profiles: {task_label} is left out, its runs\' final values are '
                   'all equal or not all finite.')
      continue
    profile_tasks.append(task_label)
    for label, task_scores in zip(labels, scores):
      normalised[label].append(task_scores)
  profiles = {}
  if profile_tasks:
    profiles = {label: statistics.performance_profile(
        normalised[label], PROFILE_THRESHOLDS, confidence=confidence, samples=samples,
        seed=stream_seed(seed, f'profile {label}')) for label in labels}
  return Comparison(improvements, profile_tasks, profiles, notes)
