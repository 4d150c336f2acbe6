"""What a run reports: TensorBoard scalars, `metrics.jsonl`, and the console progress bar.

`metrics.jsonl` holds one JSON object per iteration with only quantities that are a deterministic
function of the seed (returns, episode lengths, losses, epsilon...), so two runs with the same
seed produce identical files; wall-clock quantities (steps per second, seconds per iteration) go
to TensorBoard and the log only.

TensorBoard gets two runs: `<base_dir>` with the per-iteration scalars, stepped by iteration, and
`<base_dir>/episodes` with one point per training episode, stepped by agent steps. They are apart
because a resume restarts each at its own step: when a run resumes from iteration k after T
training steps, lines for iterations >= k are dropped from metrics.jsonl, and SessionLog.START
events at step k in the first run and T + 1 in the second make TensorBoard discard the orphaned
points of each (in one event stream, a START at k would also discard every episode after step k).
So the resumed run's records are the same as an uninterrupted run's.

This module is part of the run-directory format and imports nothing else from the zoo.
"""

import dataclasses
import json
import math
import os
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorboardX
import tqdm
from tensorboardX.proto import event_pb2

METRICS_FILE = 'metrics.jsonl'
# (configurable, parameter) pairs that change how a run is shown, not what it computes: a resume
# that changes them is the same run, and runs that differ only in them belong together in a report.
DISPLAY_ONLY_PARAMETERS = (('Runner', 'progress_bar'),)
EPISODES_SUBDIR = 'episodes'


@dataclasses.dataclass(frozen=True)
class TaskDeclaration:
  """What a domain factory tells a sweep report about its runs, attached to it as
  `factory.report_task = TaskDeclaration(...)` (the report finds it there; it keeps no list).

  `parameters`: the factory's parameters that name the task (`('game_name',)`); the report draws
  a figure per task and names groups by them. Where Dopamine published curves for the domain,
  `dopamine_file` is the baseline file's name pattern, formatted with the task in lower case
  without a version suffix or punctuation (`'mj_{}.json'`: Hopper-v5 -> mj_hopper.json), and
  `dopamine_steps_per_iteration` the agent steps that end each of Dopamine's iterations.
  """
  parameters: Tuple[str, ...]
  dopamine_file: Optional[str] = None
  dopamine_steps_per_iteration: Optional[int] = None


TASK_DECLARATION_ATTRIBUTE = 'report_task'


def read_metrics(base_dir: str) -> List[Dict[str, float]]:
  """The records of metrics.jsonl, one dict per iteration."""
  path = os.path.join(base_dir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as file:
    lines = [line for line in file.read().split('\n') if line.strip()]
  records = []
  for number, line in enumerate(lines, start=1):
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError as error:
      if number == len(lines):  # a line torn by a kill mid-write; its iteration will be redone
        break
      raise ValueError(f'{path}, line {number}: not a JSON record ({error})') from error
  return records


def _json_number(value: float):
  """Plain floats for JSON; NaN and infinities as strings so the file stays valid JSON."""
  value = float(value)
  return value if math.isfinite(value) else str(value)


class MetricsWriter:
  """Writes per-iteration metrics to TensorBoard event files and metrics.jsonl under base_dir."""

  def __init__(self, base_dir: str):
    self.base_dir = base_dir
    # tensorboardX names event files by the second and the host only, so a writer opened in the same
    # second as an earlier one (a quick resume) would overwrite its file; the nanosecond suffix
    # keeps them apart, and in the order TensorBoard reads them (by name).
    suffix = f'.{time.time_ns()}'
    self.summary_writer = tensorboardX.SummaryWriter(logdir=base_dir, flush_secs=30,
                                                     filename_suffix=suffix)
    self.episode_writer = tensorboardX.SummaryWriter(
        logdir=os.path.join(base_dir, EPISODES_SUBDIR), flush_secs=30, filename_suffix=suffix)
    self._metrics_path = os.path.join(base_dir, METRICS_FILE)

  def restart_at(self, iteration: int, training_steps: int = 0) -> None:
    """Discards records of iterations >= `iteration` and of episodes that ended after
    `training_steps` agent steps (they will be redone after a resume)."""
    kept = [record for record in read_metrics(self.base_dir) if record['iteration'] < iteration]
    temporary = self._metrics_path + '.tmp'
    with open(temporary, 'w') as file:
      file.writelines(json.dumps(record, sort_keys=True) + '\n' for record in kept)
    os.replace(temporary, self._metrics_path)
    # TensorBoard discards the points at steps >= a START event's step.
    for writer, first_redone_step in [(self.summary_writer, iteration),
                                      (self.episode_writer, training_steps + 1)]:
      writer.file_writer.add_event(event_pb2.Event(
          step=first_redone_step,
          session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))

  def write_iteration(self, iteration: int, metrics: Dict[str, float],
                      timing: Dict[str, float]) -> None:
    """Logs `metrics` (deterministic) to TensorBoard and metrics.jsonl, `timing` to TensorBoard."""
    for tag, value in {**metrics, **timing}.items():
      self.summary_writer.add_scalar(tag, value, iteration)
    # Before the iteration's checkpoint: a resume does not redo the episodes it covers.
    self.summary_writer.flush()
    self.episode_writer.flush()
    record = {'iteration': iteration, **{k: _json_number(v) for k, v in metrics.items()}}
    with open(self._metrics_path, 'a') as file:
      file.write(json.dumps(record, sort_keys=True) + '\n')
      file.flush()
      os.fsync(file.fileno())

  def write_episode(self, tag: str, value: float, step: int) -> None:
    """A per-episode scalar (e.g. the return) against the agent step at which the episode ended,
    in the `episodes` TensorBoard run."""
    self.episode_writer.add_scalar(tag, value, step)

  def close(self) -> None:
    self.summary_writer.close()
    self.episode_writer.close()


def write_figure(summary_writer, tag: str, figure, step: int,
                 png_path: Optional[str] = None) -> None:
  """Draws a matplotlib Figure (object-oriented API, no pyplot) into TensorBoard as the image
  `tag` at `step`, and, with `png_path`, also as that PNG file (replaced atomically, so a reader
  never sees half a file). Without a writer only the PNG is written."""
  # Imported here: only a run that draws pays for matplotlib.
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel

  canvas = FigureCanvasAgg(figure)
  canvas.draw()
  if summary_writer is not None:
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    summary_writer.add_image(tag, pixels, step, dataformats='HWC')
  if png_path:
    temporary = png_path + '.tmp.png'
    figure.savefig(temporary)
    os.replace(temporary, png_path)


class PhaseProgress:
  """A tqdm bar for one phase: steps done out of the budget, steps/s, running average return."""

  def __init__(self, description: str, total_steps: int, enabled: bool = True):
    self._bar = tqdm.tqdm(total=total_steps, desc=description, unit='step', dynamic_ncols=True,
                          leave=False, disable=not enabled, mininterval=0.5)
    self._shown_steps = 0

  def update(self, steps_done: int, average_return: Optional[float] = None) -> None:
    """Moves the bar to `steps_done` (capped at the budget; the last episode may overrun it)."""
    steps_done = min(steps_done, self._bar.total)
    if average_return is not None:
      self._bar.set_postfix(average_return=f'{average_return:.2f}', refresh=False)
    self._bar.update(steps_done - self._shown_steps)
    self._shown_steps = steps_done

  def close(self) -> None:
    self._bar.close()
