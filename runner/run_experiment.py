"""The Runners: iterations of training and evaluation with Dopamine's semantics, one loop for every
schedule.

`Runner` holds the iteration loop every schedule shares: resume from the newest usable
checkpoint, run an iteration's phases, stop on a non-finite statistic before checkpointing it,
write metrics, then checkpoint. What an iteration's phases are is the schedule's:
  - 'continuous_train_and_eval' (Runner) and 'continuous_train' (TrainRunner): an agent acting in
    an environment, training then evaluation phases of agent steps;
  - 'eval' (EvalRunner): evaluation phases only, for an agent that does not train online (a
    loaded policy, a zero-shot planner);
  - 'offline' (OfflineRunner): `OfflineRunner.training_steps` gradient steps of a learner
    (offline/base.py) over a dataset, then the learner's own evaluation.

An iteration runs whole episodes until the phase's step budget is reached (the last episode may
overrun it), caps every episode at `max_steps_per_episode` steps (a truncation, not a
termination), then writes metrics and a checkpoint. A run resumes from the newest usable
checkpoint and continues the iteration count. Which agent and which environment are gin
references (`create_agent.agent_class = @DQNAgent`, `create_environment.fn = @create_classic_environment`);
the Runner never knows what it runs. Domains that report where the agent is (`info['position']`)
also get what training visits counted and drawn (runner/coverage.py).

Reproducibility: the agent is seeded with `Runner.seed` and the environment is reseeded at the
start of every phase from (seed, iteration, phase), so a run resumed from iteration k's checkpoint
replays exactly what an uninterrupted run would have done.
"""

import dataclasses
import inspect
import math
import numbers
import os
import time
from typing import Any, Callable, Dict, List, Optional

import gin
import gymnasium
import numpy as np
from absl import logging

from offline.base import create_learner, mean_statistics
from offline.datasets import load_dataset
from runner import checkpoints
from runner import coverage
from runner import errors
from runner import metrics
from runner import run_directory
from runner.factories import create_agent, create_environment

PHASE_SEED_IDS = {'train': 0, 'eval': 1}
PROGRESS_UPDATE_INTERVAL = 1000  # steps between progress-bar updates inside a long episode


class NonFiniteLossError(errors.BadInputError, RuntimeError):
  """The agent reported a NaN or infinite statistic; the run stops before saving it."""


# The resume error lives with the checkpoints, whose loop raises it; named here as before.
NoUsableCheckpointError = checkpoints.NoUsableCheckpointError


@dataclasses.dataclass
class PhaseResult:
  steps: int
  seconds: float
  episode_returns: List[float]
  episode_lengths: List[int]
  # Per episode, whether the environment's info['success'] was ever true; None where the
  # environment reports no success (most do not: goal-reaching tasks such as PointMaze and
  # Meta-world do).
  episode_successes: List[Optional[bool]] = dataclasses.field(default_factory=list)

  def metrics(self, phase: str) -> Dict[str, float]:
    result = {f'{phase}/average_return': float(np.mean(self.episode_returns)),
              f'{phase}/average_episode_length': float(np.mean(self.episode_lengths)),
              f'{phase}/num_episodes': float(len(self.episode_returns)),
              f'{phase}/steps': float(self.steps)}
    reported = [success for success in self.episode_successes if success is not None]
    if reported:
      result[f'{phase}/success_rate'] = float(np.mean(reported))
    return result

  @property
  def steps_per_second(self) -> float:
    return self.steps / max(self.seconds, 1e-9)


@gin.configurable
class Runner:
  """Trains and evaluates an agent for `num_iterations` iterations; see the module docstring.

  Subclasses change what an iteration does (`_build`, `_run_phases`) and keep the loop.
  """

  schedule = 'continuous_train_and_eval'
  trains = 'agent'  # what run.json says the run trains
  min_training_steps = 1
  min_evaluation_steps = 0

  def __init__(self,
               base_dir: str,
               create_environment_fn: Callable[[], gymnasium.Env] = create_environment,
               create_agent_fn: Callable[..., Any] = create_agent,
               num_iterations: int = 200,
               training_steps: int = 250000,
               evaluation_steps: int = 125000,
               max_steps_per_episode: int = 27000,
               seed: int = 0,
               checkpoints_to_keep: int = 3,
               progress_bar: bool = True,
               clip_rewards: bool = False,
               draw_coverage_every: int = 1):
    for name, value, minimum in [('num_iterations', num_iterations, 0),
                                 ('training_steps', training_steps, self.min_training_steps),
                                 ('evaluation_steps', evaluation_steps, self.min_evaluation_steps),
                                 ('max_steps_per_episode', max_steps_per_episode, 1)]:
      if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.InvalidSettingError(f'Runner.{name} must be a whole number, got {value!r}')
      if value < minimum:
        raise errors.InvalidSettingError(
            f'Runner.{name} must be >= {minimum} with the {self.schedule!r} schedule, got {value}')
    self.base_dir = base_dir
    self.num_iterations = num_iterations
    self.training_steps = training_steps
    self.evaluation_steps = evaluation_steps
    self.max_steps_per_episode = max_steps_per_episode
    self.seed = seed
    self.progress_bar = progress_bar
    # Dopamine's Atari protocol: agents see rewards clipped to [-1, 1], returns are reported raw.
    self.clip_rewards = clip_rewards
    # Domains that report info['position']: what training visits (runner/coverage.py), drawn
    # every `draw_coverage_every` iterations (0: never).
    self.coverage = coverage.StateCoverage()
    self.draw_coverage_every = draw_coverage_every
    self.metrics_writer = metrics.MetricsWriter(base_dir)
    self.checkpointer = checkpoints.Checkpointer(
        os.path.join(base_dir, run_directory.CHECKPOINTS_DIR), keep=checkpoints_to_keep)
    self.start_iteration = 0
    self.total_training_steps = 0
    self._restored = False
    # What the run trains and checkpoints (the agent, or a learner), and its spaces.
    self.trained, self.observation_space, self.action_space = self._build(
        create_environment_fn, create_agent_fn)
    # Agents outside the Agent base class (Dopamine-style duck types) may lack the hook.
    self._writes_summaries = callable(getattr(self.trained, 'write_summaries', None))

  def _build(self, create_environment_fn, create_agent_fn):
    """Builds what the run trains: (it, observation space, action space)."""
    self.environment = create_environment_fn()
    self.agent = create_agent_fn(self.environment.observation_space,
                                 self.environment.action_space, seed=self.seed,
                                 summary_writer=self.metrics_writer.summary_writer)
    # Agents written to Dopamine's two-argument end_episode still work; they just get no final
    # observation to bootstrap from.
    self._end_episode_takes_observation = (
        len(inspect.signature(self.agent.end_episode).parameters) >= 3)
    return self.agent, self.environment.observation_space, self.environment.action_space

  # -- resuming ----------------------------------------------------------------------------------

  def has_checkpoint(self) -> bool:
    """Whether base_dir holds an earlier run's checkpoints, usable or set aside as corrupt."""
    return bool(self.checkpointer.iterations() or self.checkpointer.set_aside())

  def restore_newest_checkpoint(self) -> None:
    """Resumes from the newest checkpoint that verifies (checkpoints.Checkpointer.restore_newest:
    corrupt ones are moved aside; one the agent cannot unbundle stops the run, all left in
    place); starts afresh when there is none."""
    def restore(directory, iteration, bundle):
      restored = self.trained.unbundle(directory, iteration, bundle)
      if restored:
        self.coverage.load(directory)
      return restored

    restored = self.checkpointer.restore_newest(
        restore, restorer=f'the {self.trains} ({type(self.trained).__name__})',
        advice='resume with the original configuration, or choose another --base_dir')
    if restored is not None:
      iteration, runner_state = restored
      self.start_iteration = iteration + 1
      self.total_training_steps = int(runner_state['total_training_steps'])
      logging.info('Resumed from the checkpoint of iteration %d in %s.', iteration,
                   self.checkpointer.path(iteration))
    self.metrics_writer.restart_at(self.start_iteration, self.total_training_steps)
    # After the restore, as config.gin: a run this configuration cannot restore keeps its record.
    run_directory.write_run_description(self.base_dir, self.schedule, self.trains, self.trained,
                                        self.seed, self.observation_space, self.action_space)
    self._restored = True

  # -- running -----------------------------------------------------------------------------------

  def run_experiment(self) -> None:
    """Resumes if possible (unless restore_newest_checkpoint already ran), then runs the
    remaining iterations."""
    if not self._restored:
      self.restore_newest_checkpoint()
    if self.start_iteration >= self.num_iterations:
      logging.info('Nothing to do: all %d iterations are done in %s.', self.num_iterations,
                   self.base_dir)
    start_time, start_steps = time.perf_counter(), self.total_training_steps
    for iteration in range(self.start_iteration, self.num_iterations):
      self.run_iteration(iteration)
    self.metrics_writer.close()
    if self.start_iteration < self.num_iterations:
      seconds = time.perf_counter() - start_time
      steps = self.total_training_steps - start_steps
      logging.info('Ran iterations %d-%d: %d training steps in %.1f s, %.0f training steps/s '
                   'overall (evaluation, checkpoints and logging included).',
                   self.start_iteration, self.num_iterations - 1, steps, seconds,
                   steps / max(seconds, 1e-9))

  def run_iteration(self, iteration: int) -> None:
    """The schedule's phases, then the iteration's metrics, then its checkpoint."""
    iteration_metrics, timing, summary = self._run_phases(iteration)
    # Metrics before the checkpoint: a kill in between redoes this iteration, and restart_at
    # then drops the orphaned record.
    self.metrics_writer.write_iteration(iteration, iteration_metrics, timing)
    checkpoint_start = time.perf_counter()

    def write_checkpoint(directory):
      self.coverage.save(directory)  # a file of its own beside the agent's
      return self.trained.bundle_and_checkpoint(directory, iteration)

    self.checkpointer.save(iteration, {'total_training_steps': self.total_training_steps},
                           write_checkpoint)
    logging.info('Iteration %d: %s, checkpoint %.2f s', iteration, summary,
                 time.perf_counter() - checkpoint_start)

  def _check_finite(self, iteration: int, statistics: Dict[str, float]) -> None:
    for name, value in statistics.items():
      if not math.isfinite(value):
        raise NonFiniteLossError(
            f'iteration {iteration}: the {self.trains} reported {name} = {value}; stopping '
            f'before checkpointing it, so the checkpoints in {self.checkpointer.checkpoint_dir} '
            'are untouched')

  def _run_phases(self, iteration: int):
    """An agent's training phase (none when training_steps is 0) and evaluation phase (none when
    evaluation_steps is 0): (metrics, timing, a summary for the log)."""
    iteration_metrics, timing, summary = {}, {}, []
    if self.training_steps > 0:
      train = self.run_phase('train', iteration, self.training_steps)
      iteration_metrics.update(train.metrics('train'))
      iteration_metrics.update({f'train/{name}': value
                                for name, value in self.coverage.iteration_metrics().items()})
      if self.draw_coverage_every and iteration % self.draw_coverage_every == 0:
        self.coverage.draw(self.metrics_writer.summary_writer, iteration, self.base_dir,
                           getattr(self.agent, 'describe_states', None))
      timing['train/steps_per_second'] = train.steps_per_second
      summary.append(f'train average return {iteration_metrics["train/average_return"]:.2f} over '
                     f'{len(train.episode_returns)} episodes ({train.steps_per_second:.0f} '
                     'steps/s)')
    # The agent's statistics describe its training phase; an agent that only evaluates (the
    # 'eval' schedule: a zero-shot planner, say) reports on its evaluation phase instead.
    agent_statistics = {}
    if self.training_steps > 0:
      agent_statistics = self._agent_statistics(iteration, iteration_metrics)
    if self.evaluation_steps > 0:
      evaluation = self.run_phase('eval', iteration, self.evaluation_steps)
      iteration_metrics.update(evaluation.metrics('eval'))
      timing['eval/steps_per_second'] = evaluation.steps_per_second
      summary.append(f'eval average return {iteration_metrics["eval/average_return"]:.2f} over '
                     f'{len(evaluation.episode_returns)} episodes')
    if self.training_steps == 0:
      agent_statistics = self._agent_statistics(iteration, iteration_metrics)
    if 'loss' in agent_statistics:
      summary.append(f'loss {agent_statistics["loss"]:.4g}')
    return iteration_metrics, timing, ', '.join(summary)

  def _agent_statistics(self, iteration: int, iteration_metrics: Dict[str, Any]) -> Dict[str, Any]:
    """The agent's iteration statistics, checked finite and added to `iteration_metrics` as
    agent/<name>; its own summaries written."""
    agent_statistics = self.agent.iteration_statistics()
    if self._writes_summaries:
      self.agent.write_summaries(iteration)
    self._check_finite(iteration, agent_statistics)
    iteration_metrics.update({f'agent/{name}': value for name, value in agent_statistics.items()})
    return agent_statistics

  def run_phase(self, phase: str, iteration: int, min_steps: int) -> PhaseResult:
    """Runs whole episodes until at least `min_steps` agent steps are done."""
    self.agent.eval_mode = phase == 'eval'
    reset_seed = int(np.random.SeedSequence(
        [self.seed, iteration, PHASE_SEED_IDS[phase]]).generate_state(1)[0])
    progress = metrics.PhaseProgress(f'Iteration {iteration} {phase}', min_steps,
                                     enabled=self.progress_bar)
    result = PhaseResult(steps=0, seconds=0.0, episode_returns=[], episode_lengths=[])
    start = time.perf_counter()
    while result.steps < min_steps:
      observation, info = self.environment.reset(seed=reset_seed)
      reset_seed = None  # later episodes continue the environment's own RNG stream
      training = phase == 'train'
      if training:
        self.coverage.record(info, observation, 0.0, self.total_training_steps)
      length, episode_return, success = self.run_one_episode(observation, progress,
                                                             result.steps, training)
      result.steps += length
      result.episode_returns.append(episode_return)
      result.episode_lengths.append(length)
      result.episode_successes.append(success)
      if phase == 'train':
        self.total_training_steps += length
        self.metrics_writer.write_episode('train/episode_return', episode_return,
                                          self.total_training_steps)
      progress.update(result.steps, float(np.mean(result.episode_returns)))
    result.seconds = time.perf_counter() - start
    progress.close()
    return result

  def run_one_episode(self, observation, progress: metrics.PhaseProgress, steps_before: int,
                      training: bool = False):
    """Runs one episode from `observation`; returns (length, undiscounted return, success: whether
    info['success'] was ever true, None when the environment does not report it). A training
    episode's positions go to `coverage`."""
    agent, environment = self.agent, self.environment
    action = agent.begin_episode(observation)
    episode_return, length, success = 0.0, 0, None
    while True:
      observation, reward, terminated, truncated, info = environment.step(action)
      episode_return += reward
      length += 1
      if 'success' in info:
        success = bool(success) or bool(info['success'])
      if training:
        self.coverage.record(info, observation, reward, self.total_training_steps + length)
      if self.clip_rewards:
        reward = min(max(reward, -1.0), 1.0)
      if terminated or truncated or length >= self.max_steps_per_episode:
        if self._end_episode_takes_observation:
          agent.end_episode(reward, bool(terminated), observation)
        else:
          agent.end_episode(reward, bool(terminated))
        return length, float(episode_return), success
      action = agent.step(reward, observation)
      if length % PROGRESS_UPDATE_INTERVAL == 0:
        progress.update(steps_before + length)


class TrainRunner(Runner):
  """Dopamine's 'continuous_train' schedule: training phases only, no evaluation."""

  schedule = 'continuous_train'

  def __init__(self, base_dir: str, **kwargs):
    kwargs['evaluation_steps'] = 0  # overrides a Runner.evaluation_steps binding too
    super().__init__(base_dir, **kwargs)


@gin.configurable
class EvalRunner(Runner):
  """The 'eval' schedule: evaluation phases only, of an agent that does not train online (a loaded
  policy, a zero-shot planner). Runner.training_steps is ignored (0 is allowed)."""

  schedule = 'eval'
  min_training_steps = 0
  min_evaluation_steps = 1

  def __init__(self, base_dir: str, **kwargs):
    kwargs['training_steps'] = 0  # overrides a Runner.training_steps binding too
    super().__init__(base_dir, **kwargs)


@gin.configurable
class OfflineRunner(Runner):
  """The 'offline' schedule: each iteration, `training_steps` gradient steps of a learner
  (`create_learner.learner_class`) over a dataset (`load_dataset.path`), then its evaluation.

  Metrics: the learner's training statistics as `train/<name>` (their mean over the iteration),
  its evaluation's as `eval/<name>`. `steps_per_progress_update`: the gradient steps of one call
  of `learner.train`, between two moves of the progress bar (learners give the same result
  however an iteration is split; keep it a multiple of their steps per jitted call).
  """

  schedule = 'offline'
  trains = 'learner'

  def __init__(self, base_dir: str,
               create_learner_fn: Callable[..., Any] = create_learner,
               load_dataset_fn: Callable[[], Any] = load_dataset,
               training_steps: int = 1000,
               steps_per_progress_update: int = 1000,
               **kwargs):
    if (isinstance(steps_per_progress_update, bool)
        or not isinstance(steps_per_progress_update, numbers.Integral)
        or steps_per_progress_update < 1):
      raise errors.InvalidSettingError('OfflineRunner.steps_per_progress_update must be a whole '
                                       f'number >= 1, got {steps_per_progress_update!r}')
    self.steps_per_progress_update = int(steps_per_progress_update)
    self._create_learner_fn = create_learner_fn
    self._load_dataset_fn = load_dataset_fn
    # Its own training_steps (gradient steps) override Runner.training_steps (agent steps).
    kwargs.update(training_steps=training_steps, evaluation_steps=0,
                  create_environment_fn=None, create_agent_fn=None)
    super().__init__(base_dir, **kwargs)

  def _build(self, create_environment_fn, create_agent_fn):
    del create_environment_fn, create_agent_fn
    self.dataset = self._load_dataset_fn()
    self.learner = self._create_learner_fn(self.dataset, seed=self.seed,
                                           summary_writer=self.metrics_writer.summary_writer)
    return self.learner, self.dataset.observation_space, self.dataset.action_space

  def _run_phases(self, iteration: int):
    progress = metrics.PhaseProgress(f'Iteration {iteration} train', self.training_steps,
                                     enabled=self.progress_bar)
    start = time.perf_counter()
    parts, sizes, done = [], [], 0
    while done < self.training_steps:
      size = min(self.steps_per_progress_update, self.training_steps - done)
      parts.append(self.learner.train(size))
      sizes.append(size)
      done += size
      progress.update(done)
    progress.close()
    seconds = time.perf_counter() - start
    self.total_training_steps += self.training_steps
    statistics = mean_statistics(parts, sizes)
    self._check_finite(iteration, statistics)
    self.learner.write_summaries(iteration)
    evaluation = self.learner.evaluate(iteration)
    self._check_finite(iteration, evaluation)
    iteration_metrics = {'train/gradient_steps': float(self.total_training_steps),
                         **{f'train/{name}': value for name, value in statistics.items()},
                         **{f'eval/{name}': value for name, value in evaluation.items()}}
    steps_per_second = self.training_steps / max(seconds, 1e-9)
    shown = ', '.join(f'{name} {value:.4g}' for name, value in
                      list(statistics.items())[:3] + list(evaluation.items())[:3])
    summary = f'{self.training_steps} gradient steps ({steps_per_second:.0f}/s), {shown}'
    return iteration_metrics, {'train/steps_per_second': steps_per_second}, summary


SCHEDULES = {'continuous_train_and_eval': Runner, 'continuous_train': TrainRunner,
             'eval': EvalRunner, 'offline': OfflineRunner}


@gin.configurable
def create_runner(base_dir: str, schedule: str = 'continuous_train_and_eval') -> Runner:
  """The Runner for `schedule` (one of SCHEDULES)."""
  if schedule not in SCHEDULES:
    raise errors.InvalidSettingError(f'unknown create_runner.schedule {schedule!r}; '
                                     f'choose one of {", ".join(sorted(SCHEDULES))}')
  return SCHEDULES[schedule](base_dir)
