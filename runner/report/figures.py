"""The report's figures (PNG): learning curves per task, and the methods' performance profiles.

matplotlib's object-oriented API only: no pyplot, so no global backend is chosen for whoever
imports the report.
"""

from typing import Dict, Sequence, Tuple

import numpy as np

from runner.report import statistics
from runner.report.results import GroupResult


def _new_axes(size: Tuple[float, float] = (7, 4.5)):
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  figure = Figure(figsize=size, dpi=100)
  FigureCanvasAgg(figure)
  return figure, figure.add_subplot()


def _save(figure, axes, path: str, title: str, y_label: str) -> None:
  axes.set_title(title)
  axes.set_ylabel(y_label)
  axes.grid(alpha=0.3)
  axes.legend(fontsize='small')
  figure.tight_layout()
  figure.savefig(path)


def plot_figure(path: str, title: str, results: Sequence[GroupResult], x_axis: str,
                y_label: str) -> None:
  """One PNG: per group the mean over seeds with its CI shaded and the IQM dashed; the groups'
  Dopamine baselines dotted in the colour of the first group that has each, over the groups' x
  range."""
  from matplotlib import ticker

  figure, axes = _new_axes()
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
  if x_axis == 'steps':
    axes.set_xlabel('agent training steps')
    axes.xaxis.set_major_formatter(ticker.EngFormatter(sep=''))
  else:
    axes.set_xlabel('iteration')
  _save(figure, axes, path, title, y_label)


def plot_performance_profiles(path: str, title: str, thresholds: np.ndarray,
                              profiles: Dict[str, statistics.Estimate]) -> None:
  """One PNG: per method the fraction of runs whose normalised final score exceeds tau, against
  tau, with its bootstrap interval shaded."""
  figure, axes = _new_axes()
  for label, profile in profiles.items():
    (line,) = axes.plot(thresholds, profile.value, label=label)
    axes.fill_between(thresholds, profile.low, profile.high, color=line.get_color(), alpha=0.2,
                      linewidth=0)
  axes.set_xlabel('normalised final score τ (per task: 0 the lowest run, 1 the highest)')
  axes.set_ylim(-0.02, 1.02)
  _save(figure, axes, path, title, 'fraction of runs with score > τ')
