r"""The report's statistics, in numpy alone: curves across seeds, and comparisons across tasks.

The zoo computes them itself (rliable 1.2.0, the field's library for them, does not work with
current pandas and arch); the definitions are rliable's (Agarwal et al., 2021, "Deep RL at the edge
of the statistical precipice").

Across the seeds of a group, at every iteration:
  - the mean, with a percentile-bootstrap confidence interval: each of `samples` resamples draws as
    many runs as the group has, with replacement (whole runs, the same draw at every iteration),
    and the interval is the (1 - c)/2 and (1 + c)/2 quantiles of the resamples' means.
  - IQM, the interquartile mean: the mean of the middle 50% of the seeds' values, that is twice the
    integral of the empirical quantile function from 1/4 to 3/4. The i-th smallest of n values
    (i = 1..n) covers the quantiles ((i-1)/n, i/n] and weighs twice that interval's overlap with
    [1/4, 3/4]. For n a multiple of 4 this is the mean of the middle n/2 values (equal to
    scipy.stats.trim_mean(x, 0.25), which rliable's IQM uses); values at a quartile boundary count
    in part: n = 1 gives the value, n = 2 the mean, n = 3 weights (1/6, 2/3, 1/6), n = 5 weights
    (0, 0.3, 0.4, 0.3, 0).

Across tasks, `task_scores` holds one 1-D array of run scores per task (tasks may have different
numbers of runs):
  - performance profiles: the run-score distribution F(tau), the fraction of runs whose score
    exceeds tau, per task and then averaged over tasks (with the same number of runs on every task,
    the fraction of all runs, rliable's `score_distributions`); and the average-score distribution,
    the fraction of tasks whose mean score over runs exceeds tau (rliable's
    `use_score_distribution=False`).
  - the probability of improvement P(X > Y): per task, the probability that a run of X scores
    above a run of Y, ties counting 1/2 (the Mann-Whitney U statistic over all m * n pairs,
    divided by m * n), averaged over tasks.
Their intervals come from the stratified bootstrap: each resample draws, within every task
separately, as many runs as the task has, with replacement; for P(X > Y) the runs of X and of Y are
drawn independently. The interval is the percentile interval, as above.
"""

import dataclasses
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

TaskScores = Sequence[np.ndarray]  # one 1-D array of run scores per task


# -- curves across seeds --------------------------------------------------------------------------


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


def percentile_interval(resampled, confidence: float) -> Tuple[np.ndarray, np.ndarray]:
  """The (1 - c)/2 and (1 + c)/2 quantiles of bootstrap resamples of an estimate (axis 0)."""
  low, high = np.quantile(resampled, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
  return low, high


def bootstrap_mean_ci(values, confidence: float = 0.95, samples: int = 10000, seed: Any = 0
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
  low, high = np.empty(points), np.empty(points)
  chunk = max(1, 2**22 // samples)  # bounds the (samples, chunk) matrix of means to 32 MB
  for start in range(0, points, chunk):
    means = counts @ values[:, start:start + chunk] / n
    low[start:start + chunk], high[start:start + chunk] = percentile_interval(means, confidence)
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
                     samples: int = 10000, seed: Any = 0) -> CurveStatistics:
  """Mean, bootstrap CI of the mean and IQM over seeds; `values` is (seeds, iterations)."""
  values = np.asarray(values, dtype=float)
  low, high = bootstrap_mean_ci(values, confidence, samples, seed)
  return CurveStatistics(np.asarray(iterations), values.mean(axis=0), low, high,
                         interquartile_mean(values, axis=0))


# -- comparisons across tasks ---------------------------------------------------------------------


@dataclasses.dataclass
class Estimate:
  """A statistic and its bootstrap confidence interval (floats, or arrays over thresholds)."""
  value: Union[float, np.ndarray]
  low: Union[float, np.ndarray]
  high: Union[float, np.ndarray]


def _as_tasks(task_scores: TaskScores) -> List[np.ndarray]:
  tasks = [np.asarray(scores, dtype=float) for scores in task_scores]
  if not tasks or any(scores.ndim != 1 or not len(scores) for scores in tasks):
    raise ValueError('task scores must be one non-empty 1-D array of run scores per task')
  return tasks


def _stratified_resample(scores: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
  """(samples, n) resamples of one task's n run scores, each n draws with replacement."""
  return scores[rng.integers(0, len(scores), size=(samples, len(scores)))]


def score_distribution(task_scores: TaskScores, thresholds) -> np.ndarray:
  """F(tau) at each threshold: the fraction of a task's runs scoring above tau, averaged over
  tasks. A task's scores may carry leading resample axes: (..., runs) gives (..., thresholds)."""
  thresholds = np.asarray(thresholds, dtype=float)
  return np.mean([np.mean(np.asarray(scores)[..., :, None] > thresholds, axis=-2)
                  for scores in task_scores], axis=0)


def average_score_distribution(task_scores: TaskScores, thresholds) -> np.ndarray:
  """The fraction of tasks whose mean score over runs is above tau, at each threshold; leading
  resample axes as in score_distribution."""
  thresholds = np.asarray(thresholds, dtype=float)
  return np.mean([np.mean(np.asarray(scores), axis=-1)[..., None] > thresholds
                  for scores in task_scores], axis=0)


def performance_profile(task_scores: TaskScores, thresholds, use_score_distribution: bool = True,
                        confidence: float = 0.95, samples: int = 2000, seed: Any = 0) -> Estimate:
  """The run-score distribution (or, with `use_score_distribution=False`, the average-score
  distribution) at each threshold, with its stratified-bootstrap interval."""
  tasks = _as_tasks(task_scores)
  profile = score_distribution if use_score_distribution else average_score_distribution
  rng = np.random.default_rng(seed)
  resampled = profile([_stratified_resample(scores, samples, rng) for scores in tasks],
                      thresholds)
  return Estimate(profile(tasks, thresholds), *percentile_interval(resampled, confidence))


def _improvement_fraction(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """The Mann-Whitney U statistic of x over y divided by m * n: the fraction of the (x, y) pairs
  of runs with x above y, ties counting 1/2; over the last axis, leading axes kept."""
  above = x[..., :, None] > y[..., None, :]
  tied = x[..., :, None] == y[..., None, :]
  return np.mean(above + 0.5 * tied, axis=(-2, -1))


def probability_of_improvement(x_task_scores: TaskScores, y_task_scores: TaskScores) -> float:
  """P(X > Y): per task the probability that a run of X scores above a run of Y (ties 1/2),
  averaged over the tasks; both groups' scores are given for the same tasks, in the same order."""
  x_tasks, y_tasks = _as_tasks(x_task_scores), _as_tasks(y_task_scores)
  if len(x_tasks) != len(y_tasks):
    raise ValueError(f'X has scores on {len(x_tasks)} tasks, Y on {len(y_tasks)}')
  return float(np.mean([_improvement_fraction(x, y) for x, y in zip(x_tasks, y_tasks)]))


def probability_of_improvement_estimate(x_task_scores: TaskScores, y_task_scores: TaskScores,
                                        confidence: float = 0.95, samples: int = 2000,
                                        seed: Any = 0) -> Estimate:
  """P(X > Y) with its stratified-bootstrap interval (X's and Y's runs drawn independently)."""
  value = probability_of_improvement(x_task_scores, y_task_scores)
  rng = np.random.default_rng(seed)
  resampled = np.mean([
      _improvement_fraction(_stratified_resample(x, samples, rng),
                            _stratified_resample(y, samples, rng))
      for x, y in zip(_as_tasks(x_task_scores), _as_tasks(y_task_scores))], axis=0)
  return Estimate(value, *(float(bound) for bound in percentile_interval(resampled, confidence)))


def min_max_normalise(scores_by_group: Sequence[np.ndarray]) -> Optional[List[np.ndarray]]:
  """One task's scores of several groups mapped to [0, 1] together: 0 the lowest run's score
  among all the groups', 1 the highest's. None when they are all equal or not all finite (such a
  task ranks no group above another)."""
  pooled = np.concatenate([np.asarray(scores, dtype=float) for scores in scores_by_group])
  if not np.isfinite(pooled).all() or pooled.min() == pooled.max():
    return None
  low, high = pooled.min(), pooled.max()
  return [(np.asarray(scores, dtype=float) - low) / (high - low) for scores in scores_by_group]
