"""build_report: reads the runs of a sweep, groups them, computes the statistics and writes
report.md and the figures (the package docstring says what is in them)."""

import dataclasses
import os
import re
from typing import List, Optional, Tuple

import numpy as np

from runner import metrics as run_metrics
from runner.errors import BadInputError
from runner.report import baselines, figures as figures_lib, markdown, results as results_lib, runs
from runner.report.gin_text import find_binding, format_value
from runner.report.statistics import curve_statistics

REPORT_FILE = 'report.md'


def _slug(text: str) -> str:
  return re.sub(r'[^a-z0-9]+', '_', text.lower()).strip('_') or 'task'


def _check_settings(sweep_dir: str, baselines_dir: Optional[str], x_axis: str, confidence: float,
                    bootstrap_samples: int, seed: int) -> str:
  """The baselines directory to use ('' for none); BadInputError for a setting out of range."""
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
    return baselines.DEFAULT_BASELINES_DIR if os.path.isdir(baselines.DEFAULT_BASELINES_DIR) else ''
  if baselines_dir and not os.path.isdir(baselines_dir):
    raise BadInputError(f'--baselines_dir {baselines_dir} is not a directory')
  return baselines_dir


def _load_runs(sweep_dir: str, notes: List[str]) -> List[runs.Run]:
  all_runs = [runs.load_run(sweep_dir, directory)
              for directory in runs.find_run_directories(sweep_dir)]
  if not all_runs:
    raise BadInputError(f'no runs in {sweep_dir}: no directory under it holds '
                        f'{run_metrics.METRICS_FILE}')
  recorded = [run for run in all_runs if run.records]
  if not recorded:
    raise BadInputError(f'no runs in {sweep_dir} have recorded an iteration yet')
  notes += [f'`{run.name}` has recorded no iteration yet; left out.'
            for run in all_runs if not run.records]
  return recorded


def _group_result(group: runs.Group, group_metric: str, settings: markdown.ReportSettings,
                  notes: List[str]) -> Optional[results_lib.GroupResult]:
  """The group's statistics over the runs that recorded `group_metric`; None (and a note) when
  they have no iteration in common."""
  recording = []
  for run in group.runs:
    if run.values(group_metric):
      recording.append(run)
    else:
      notes.append(f'`{run.name}` has not recorded `{group_metric}` yet; left out.')
  group.runs = recording
  iterations, values = runs.aligned_values(group.runs, group_metric)
  lengths = [len(run.values(group_metric)) for run in group.runs]
  if not iterations:
    notes.append(f'{group.name}: its runs have no iteration in common; left out.')
    return None
  if min(lengths) != max(lengths) or len(iterations) != max(lengths):
    notes.append(f'{group.name}: runs have {min(lengths)} to {max(lengths)} iterations; the '
                 f'{len(iterations)} that all have are used.')
  seeds = [format_value(run.seed) for run in group.runs]
  if len(set(seeds)) < len(seeds):
    notes.append(f'{group.name}: several runs have the same seed ({", ".join(seeds)}).')
  if np.isnan(values).any():
    notes.append(f'{group.name}: some values are NaN.')
  training_steps = find_binding(group.runs[0].bindings, 'Runner', 'training_steps')
  statistics = curve_statistics(iterations, values, settings.confidence,
                                settings.bootstrap_samples,
                                results_lib.stream_seed(settings.seed, group.name))
  return results_lib.GroupResult(group, group_metric, statistics,
                                 training_steps if isinstance(training_steps, int) else None,
                                 lengths, values[:, -1])


def _fallback_notes(fallen_back: List[str], groups: int, metric: str) -> List[str]:
  if not fallen_back:
    return []
  if len(fallen_back) == groups:
    return [f'The runs do not record `{metric}` (no evaluation phase): every group is reported '
            f'with `{runs.FALLBACK_METRIC}`.']
  return [f'Reported with `{runs.FALLBACK_METRIC}`, as their runs do not all record `{metric}` '
          f'(no evaluation phase): {"; ".join(fallen_back)}.']


def _baseline_notes(results: List[results_lib.GroupResult]) -> List[str]:
  """Drops baselines of groups without a step count; notes what the baselines are not."""
  notes = []
  for result in results:
    if result.baseline is not None and result.training_steps is None:
      notes.append(f'{result.group.name}: no `Runner.training_steps`, so no Dopamine baseline.')
      result.baseline = None
    if result.baseline is not None and result.metric != runs.FALLBACK_METRIC:
      notes.append(f'{result.group.name}: Dopamine\'s curve is the training-episode return; this '
                   f'group is plotted with `{result.metric}`.')
  return notes


def _curve_figures(sweep_dir: str, out_dir: str, results: List[results_lib.GroupResult],
                   x_axis: str, notes: List[str]) -> List[str]:
  """One figure of learning curves per task; their paths."""
  paths = []
  for task in sorted({result.group.task for result in results}):
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
    if path in paths:  # two tasks whose titles differ only in case or punctuation
      path = path.removesuffix('.png') + f'_{len(paths)}.png'
    y_label = ' / '.join(sorted({result.metric for result in members}))
    figures_lib.plot_figure(path, f'{title}: {y_label}', members, x_axis, y_label)
    paths.append(path)
  return paths


def build_report(sweep_dir: str, out_dir: Optional[str] = None,
                 metric: str = runs.DEFAULT_METRIC, baselines_dir: Optional[str] = None,
                 x_axis: str = 'steps', confidence: float = 0.95, bootstrap_samples: int = 10000,
                 seed: int = 0) -> Tuple[str, List[str]]:
  """Writes report.md and the figures; returns their paths. BadInputError on bad input.

  `baselines_dir`: None for the default (the Dopamine baselines shipped with this package), ''
  for no baselines, or any directory of files in Dopamine's format.
  """
  baselines_dir = _check_settings(sweep_dir, baselines_dir, x_axis, confidence, bootstrap_samples,
                                  seed)
  settings = markdown.ReportSettings(metric, baselines_dir, x_axis, confidence, bootstrap_samples,
                                     seed)
  out_dir = out_dir or os.path.join(sweep_dir, 'report')
  notes = []
  loaded = _load_runs(sweep_dir, notes)
  declarations = runs.declarations_for(loaded)
  notes += [note[0].upper() + note[1:] for note in declarations.notes]

  results, fallen_back = [], []
  groups = runs.group_runs(loaded, declarations)
  for group in groups:
    group_metric = runs.choose_metric(group.runs, metric)
    if group_metric != metric:
      fallen_back.append(group.name)
    result = _group_result(group, group_metric, settings, notes)
    if result is None:
      continue
    if baselines_dir:
      result.baseline, why_not = baselines.load_baseline(group.runs[0].bindings, baselines_dir,
                                                         declarations)
      if why_not:
        notes.append(f'{group.name}: {why_not}.')
    results.append(result)

  notes[:0] = _fallback_notes(fallen_back, len(groups), metric)
  if x_axis == 'steps' and any(result.training_steps is None for result in results):
    x_axis = 'iteration'
    settings = dataclasses.replace(settings, x_axis=x_axis)
    notes.append('Some runs have no `Runner.training_steps` in config.gin; the x axis is the '
                 'iteration.')
  notes += _baseline_notes(results)
  comparison = results_lib.compare_groups(results, confidence, bootstrap_samples, seed)

  os.makedirs(out_dir, exist_ok=True)
  figures = _curve_figures(sweep_dir, out_dir, results, x_axis, notes)
  if comparison is not None:
    notes += comparison.notes
    if comparison.profiles:
      path = os.path.join(out_dir, results_lib.PROFILES_FIGURE)
      figures_lib.plot_performance_profiles(
          path, f'Performance profiles over {len(comparison.profile_tasks)} task(s): final '
          f'{" / ".join(sorted({result.metric for result in results}))}',
          results_lib.PROFILE_THRESHOLDS, comparison.profiles)
      figures.append(path)

  report_path = os.path.join(out_dir, REPORT_FILE)
  with open(report_path, 'w') as file:
    file.write(markdown.render(sweep_dir, results, comparison, notes, figures, settings))
  return report_path, figures
