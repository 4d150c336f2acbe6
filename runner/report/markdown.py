"""report.md: the summary table of the groups, the probability of improvement between methods,
Dopamine's baselines, notes, figures, the runs of each group and their configuration differences.
"""

import dataclasses
import math
import os
from typing import List, Optional, Sequence

import numpy as np

from runner.report.baselines import BASELINE_REMARKS
from runner.report.gin_text import format_value
from runner.report.results import PROFILES_FIGURE, Comparison, GroupResult
from runner.report.runs import UNSET


@dataclasses.dataclass(frozen=True)
class ReportSettings:
  """What the report was asked for (the CLI's flags)."""
  metric: str
  baselines_dir: str
  x_axis: str
  confidence: float
  bootstrap_samples: int
  seed: int

  @property
  def percent(self) -> str:
    return f'{100 * self.confidence:g}%'


def number(value: Optional[float]) -> str:
  """A table's number: two decimals, three significant digits when very large or small."""
  if value is None:
    return '—'
  if not math.isfinite(value):
    return str(value)
  if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-2):
    return f'{value:.3g}'
  return f'{value:.2f}'


def _cell(text: str) -> str:
  return text.replace('|', '\\|')


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
  return (['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
          + ['| ' + ' | '.join(_cell(cell) for cell in row) + ' |' for row in rows] + [''])


def _introduction(sweep_dir: str, results: Sequence[GroupResult],
                  settings: ReportSettings) -> List[str]:
  metrics_used = sorted({result.metric for result in results})
  return [f'# Sweep report: {sweep_dir}', '',
          f'Metric: {", ".join(f"`{m}`" for m in metrics_used)}'
          + (f' (asked for `{settings.metric}`). ' if metrics_used != [settings.metric] else '. ') +
          f'Mean over seeds with a {settings.percent} percentile-bootstrap CI '
          f'({settings.bootstrap_samples} resamples of whole runs, seed {settings.seed}); IQM = '
          f'mean of the middle 50% of seeds, values at the quartiles weighted in part (n < 4: 1 '
          f'seed = the value, 2 = the mean, 3 = weights 1/6, 2/3, 1/6). With few seeds a '
          f'percentile bootstrap understates the uncertainty (its interval never leaves the range '
          f'of the seeds\' values). "Final" is the last iteration all runs of a group have; "mean '
          f'over iterations" is the area under the mean curve per iteration. Steps are agent '
          f'training steps at the end of an iteration; the figures\' x axis is the '
          f'{"agent step" if settings.x_axis == "steps" else "iteration"}.',
          '']


def _summary_table(results: Sequence[GroupResult], settings: ReportSettings) -> List[str]:
  with_baseline = any(result.baseline is not None for result in results)
  several_metrics = len({result.metric for result in results}) > 1
  header = ['group', 'seeds', 'iterations', 'final iteration (steps)',
            f'final mean [{settings.percent} CI]', 'final IQM', 'best mean (iteration)',
            'mean over iterations']
  if with_baseline:
    header.append('Dopamine at final steps')
  if several_metrics:
    header.insert(1, 'metric')
  rows = []
  for result in results:
    stats = result.statistics
    seeds = len(result.group.runs)
    lengths = result.run_lengths
    iterations = str(len(stats.iterations))
    if min(lengths) != max(lengths) or len(stats.iterations) != max(lengths):
      iterations += f' (runs: {min(lengths)}–{max(lengths)})'
    final_steps = None if result.steps is None else int(result.steps[-1])
    final = f'{stats.iterations[-1]}' + ('' if final_steps is None else f' ({final_steps:,})')
    mean = number(float(stats.mean[-1]))
    ci = (f' [{number(float(stats.low[-1]))}, {number(float(stats.high[-1]))}]'
          if seeds > 1 else ' (1 seed, no CI)')
    if np.isnan(stats.mean).all():
      best = 'nan'
    else:
      best_index = int(np.nanargmax(stats.mean))
      best = f'{number(float(stats.mean[best_index]))} ({stats.iterations[best_index]})'
    row = [f'`{result.group.name}`', str(seeds), iterations, final, mean + ci,
           number(float(stats.iqm[-1])), best, number(float(np.mean(stats.mean)))]
    if with_baseline:
      value = result.baseline.at(final_steps) if result.baseline is not None else None
      row.append('—' if value is None else f'{number(value)} ({result.baseline.agent})')
    if several_metrics:
      row.insert(1, f'`{result.metric}`')
    rows.append(row)
  return _table(header, rows)


def _baselines_paragraph(results: Sequence[GroupResult], settings: ReportSettings) -> List[str]:
  used = [result.baseline for result in results if result.baseline is not None]
  if not used:
    return []
  remarks = [BASELINE_REMARKS[agent] for agent in sorted({baseline.agent for baseline in used})
             if agent in BASELINE_REMARKS]
  described = ', '.join(sorted({baseline.description for baseline in used}))
  return [(f'Dopamine baselines (from {settings.baselines_dir}; mean over its seeds of the '
           f'training-episode return, at the agent step that ends each Dopamine iteration, '
           f'linearly interpolated): {described}. ' + ' '.join(remarks)).strip(), '']


def _improvement_section(comparison: Optional[Comparison],
                         settings: ReportSettings) -> List[str]:
  if comparison is None or not comparison.improvements:
    return []
  rows = [[f'`{improvement.x}`', f'`{improvement.y}`',
           ', '.join(improvement.tasks) or str(len(improvement.tasks)),
           f'{number(improvement.estimate.value)} [{number(improvement.estimate.low)}, '
           f'{number(improvement.estimate.high)}]']
          for improvement in comparison.improvements]
  return ['## Probability of improvement', '',
          ('P(X > Y) is the probability that a run of X ends above a run of Y on the same task '
           '(each seed\'s final value; ties count 1/2), averaged over the tasks both ran '
           '(Agarwal et al., 2021); 0.5 is no difference. '
           f'{settings.percent} percentile CI from a stratified bootstrap (runs resampled within '
           f'each task, X\'s and Y\'s independently; {settings.bootstrap_samples} resamples, '
           f'seed {settings.seed}). Methods are groups with the same label on different tasks.'),
          ''] + _table(['X', 'Y', 'tasks', f'P(X > Y) [{settings.percent} CI]'], rows)


def _profile_paragraph(comparison: Optional[Comparison], settings: ReportSettings) -> List[str]:
  if comparison is None or not comparison.profiles:
    return []
  return [(f'Performance profiles (`{PROFILES_FIGURE}`): for each method, the fraction of its runs '
           f'whose final value, normalised per task, exceeds τ, averaged over the tasks every '
           f'method ran ({", ".join(comparison.profile_tasks)}); a curve above another is better '
           f'everywhere. Each task\'s values are normalised together, min-max over all compared '
           f'runs on it (0 the lowest final value, 1 the highest). Shaded: {settings.percent} '
           f'stratified-bootstrap CI (Agarwal et al., 2021).'), '']


def _runs_section(results: Sequence[GroupResult]) -> List[str]:
  lines = ['## Runs', '']
  for result in results:
    runs = ', '.join(f'`{run.name}` (seed {format_value(run.seed)})' for run in result.group.runs)
    lines.append(f'- `{result.group.name}` (label "{result.group.label}"): {runs}')
  return lines + ['']


def _presence_only(key: str, results: Sequence[GroupResult]) -> bool:
  values = {dict(result.group.bindings)[key] for result in results}
  return UNSET in values and len(values - {UNSET}) <= 1


def _differences_section(results: Sequence[GroupResult]) -> List[str]:
  differing = [(result.group, sorted(
      [(key, value) for key, value in result.group.bindings if not _presence_only(key, results)],
      key=lambda binding, group=result.group: binding[0] not in group.naming_keys))
      for result in results]
  if not any({key for key, _ in bindings} - set(group.naming_keys)
             for group, bindings in differing):
    return []
  lines = ['## Configuration differences', '',
           ('Every binding whose value differs between groups (Runner.seed and bindings present '
            'in only some runs, which belong to configurables other runs do not use, are left '
            'out).'), '']
  for group, bindings in differing:
    lines.append(f'- `{group.name}`: ' + ', '.join(f'`{k}={v}`' for k, v in bindings))
  return lines + ['']


def render(sweep_dir: str, results: Sequence[GroupResult], comparison: Optional[Comparison],
           notes: Sequence[str], figures: Sequence[str], settings: ReportSettings) -> str:
  """The text of report.md."""
  lines = _introduction(sweep_dir, results, settings)
  lines += _summary_table(results, settings)
  lines += _baselines_paragraph(results, settings)
  lines += _improvement_section(comparison, settings)
  if notes:
    lines += ['## Notes', ''] + [f'- {note}' for note in notes] + ['']
  lines += ['## Figures', ''] + _profile_paragraph(comparison, settings)
  lines += [f'![{os.path.basename(path)}]({os.path.basename(path)})' for path in figures] + ['']
  lines += _runs_section(results)
  lines += _differences_section(results)
  return '\n'.join(lines)
