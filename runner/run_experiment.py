"""The Runner: iterations of a training and an evaluation phase, with Dopamine's semantics.

An iteration runs whole episodes until the phase's step budget is reached (the last episode may
overrun it), caps every episode at `max_steps_per_episode` steps (a truncation, not a
termination), then writes metrics and a checkpoint. A run resumes from the newest usable
checkpoint and continues the iteration count. Which agent and which environment are gin
references (`create_agent.agent_class = @DQNAgent`, `create_environment.fn = @create_classic_environment`);
the Runner never knows what it runs.

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
from typing import Any, Callable, Dict, List

import gin
import gymnasium
import numpy as np
from absl import logging

from runner import checkpoints
from runner import errors
from runner import metrics
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

  def metrics(self, phase: str) -> Dict[str, float]:
    return {f'{phase}/average_return': float(np.mean(self.episode_returns)),
            f'{phase}/average_episode_length': float(np.mean(self.episode_lengths)),
            f'{phase}/num_episodes': float(len(self.episode_returns)),
            f'{phase}/steps': float(self.steps)}

  @property
  def steps_per_second(self) -> float:
    return self.steps / max(self.seconds, 1e-9)


@gin.configurable
class Runner:
  """Trains and evaluates an agent for `num_iterations` iterations; see the module docstring."""

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
               clip_rewards: bool = False):
    for name, value, minimum in [('num_iterations', num_iterations, 0),
                                 ('training_steps', training_steps, 1),
                                 ('evaluation_steps', evaluation_steps, 0),
                                 ('max_steps_per_episode', max_steps_per_episode, 1)]:
      if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.InvalidSettingError(f'Runner.{name} must be a whole number, got {value!r}')
      if value < minimum:
        raise errors.InvalidSettingError(f'Runner.{name} must be >= {minimum}, got {value}')
    self.base_dir = base_dir
    self.num_iterations = num_iterations
    self.training_steps = training_steps
    self.evaluation_steps = evaluation_steps
    self.max_steps_per_episode = max_steps_per_episode
    self.seed = seed
    self.progress_bar = progress_bar
    # Dopamine's Atari protocol: agents see rewards clipped to [-1, 1], returns are reported raw.
    self.clip_rewards = clip_rewards

    self.environment = create_environment_fn()
    self.metrics_writer = metrics.MetricsWriter(base_dir)
    self.agent = create_agent_fn(self.environment.observation_space,
                                 self.environment.action_space, seed=seed,
                                 summary_writer=self.metrics_writer.summary_writer)
    self.checkpointer = checkpoints.Checkpointer(os.path.join(base_dir, 'checkpoints'),
                                                 keep=checkpoints_to_keep)
    # Agents written to Dopamine's two-argument end_episode still work; they just get no final
    # observation to bootstrap from.
    self._end_episode_takes_observation = (
        len(inspect.signature(self.agent.end_episode).parameters) >= 3)
    # Agents outside the Agent base class (Dopamine-style duck types) may lack the hook.
    self._agent_writes_summaries = callable(getattr(self.agent, 'write_summaries', None))
    self.start_iteration = 0
    self.total_training_steps = 0
    self._restored = False

  # -- resuming ----------------------------------------------------------------------------------

  def has_checkpoint(self) -> bool:
    """Whether base_dir holds an earlier run's checkpoints, usable or set aside as corrupt."""
    return bool(self.checkpointer.iterations() or self.checkpointer.set_aside())

  def restore_newest_checkpoint(self) -> None:
    """Resumes from the newest checkpoint that verifies (checkpoints.Checkpointer.restore_newest:
    corrupt ones are moved aside; one the agent cannot unbundle stops the run, all left in
    place); starts afresh when there is none."""
    restored = self.checkpointer.restore_newest(
        self.agent.unbundle, restorer=f'the agent ({type(self.agent).__name__})',
        advice='resume with the original configuration, or choose another --base_dir')
    if restored is not None:
      iteration, runner_state = restored
      self.start_iteration = iteration + 1
      self.total_training_steps = int(runner_state['total_training_steps'])
      logging.info('Resumed from the checkpoint of iteration %d in %s.', iteration,
                   self.checkpointer.path(iteration))
    self.metrics_writer.restart_at(self.start_iteration, self.total_training_steps)
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
    train = self.run_phase('train', iteration, self.training_steps)
    agent_statistics = self.agent.iteration_statistics()
    if self._agent_writes_summaries:
      self.agent.write_summaries(iteration)
    for name, value in agent_statistics.items():
      if not math.isfinite(value):
        raise NonFiniteLossError(
            f'iteration {iteration}: the agent reported {name} = {value}; stopping before '
            f'checkpointing it, so the checkpoints in {self.checkpointer.checkpoint_dir} are '
            'untouched')
    iteration_metrics = {**train.metrics('train'),
                         **{f'agent/{name}': value for name, value in agent_statistics.items()}}
    timing = {'train/steps_per_second': train.steps_per_second}
    evaluation = None
    if self.evaluation_steps > 0:
      evaluation = self.run_phase('eval', iteration, self.evaluation_steps)
      iteration_metrics.update(evaluation.metrics('eval'))
      timing['eval/steps_per_second'] = evaluation.steps_per_second
    # Metrics before the checkpoint: a kill in between redoes this iteration, and restart_at
    # then drops the orphaned record.
    self.metrics_writer.write_iteration(iteration, iteration_metrics, timing)
    checkpoint_start = time.perf_counter()
    self.checkpointer.save(
        iteration, {'total_training_steps': self.total_training_steps},
        lambda directory: self.agent.bundle_and_checkpoint(directory, iteration))
    summary = (f'Iteration {iteration}: train average return {iteration_metrics["train/average_return"]:.2f} '
               f'over {len(train.episode_returns)} episodes ({train.steps_per_second:.0f} steps/s)')
    if evaluation is not None:
      summary += (f', eval average return {iteration_metrics["eval/average_return"]:.2f} over '
                  f'{len(evaluation.episode_returns)} episodes')
    if 'loss' in agent_statistics:
      summary += f', loss {agent_statistics["loss"]:.4g}'
    summary += f', checkpoint {time.perf_counter() - checkpoint_start:.2f} s'
    logging.info(summary)

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
      observation, _ = self.environment.reset(seed=reset_seed)
      reset_seed = None  # later episodes continue the environment's own RNG stream
      length, episode_return = self.run_one_episode(observation, progress, result.steps)
      result.steps += length
      result.episode_returns.append(episode_return)
      result.episode_lengths.append(length)
      if phase == 'train':
        self.total_training_steps += length
        self.metrics_writer.write_episode('train/episode_return', episode_return,
                                          self.total_training_steps)
      progress.update(result.steps, float(np.mean(result.episode_returns)))
    result.seconds = time.perf_counter() - start
    progress.close()
    return result

  def run_one_episode(self, observation, progress: metrics.PhaseProgress, steps_before: int):
    """Runs one episode from `observation`; returns (length, undiscounted return)."""
    agent, environment = self.agent, self.environment
    action = agent.begin_episode(observation)
    episode_return, length = 0.0, 0
    while True:
      observation, reward, terminated, truncated, _ = environment.step(action)
      episode_return += reward
      length += 1
      if self.clip_rewards:
        reward = min(max(reward, -1.0), 1.0)
      if terminated or truncated or length >= self.max_steps_per_episode:
        if self._end_episode_takes_observation:
          agent.end_episode(reward, bool(terminated), observation)
        else:
          agent.end_episode(reward, bool(terminated))
        return length, float(episode_return)
      action = agent.step(reward, observation)
      if length % PROGRESS_UPDATE_INTERVAL == 0:
        progress.update(steps_before + length)


class TrainRunner(Runner):
  """Dopamine's 'continuous_train' schedule: training phases only, no evaluation."""

  def __init__(self, base_dir: str, **kwargs):
    kwargs['evaluation_steps'] = 0  # overrides a Runner.evaluation_steps binding too
    super().__init__(base_dir, **kwargs)


SCHEDULES = {'continuous_train_and_eval': Runner, 'continuous_train': TrainRunner}


@gin.configurable
def create_runner(base_dir: str, schedule: str = 'continuous_train_and_eval') -> Runner:
  """The Runner for `schedule` (one of SCHEDULES)."""
  if schedule not in SCHEDULES:
    raise errors.InvalidSettingError(f'unknown create_runner.schedule {schedule!r}; '
                     f'choose one of {", ".join(sorted(SCHEDULES))}')
  return SCHEDULES[schedule](base_dir)
