"""Small fake environments and agents for testing the Runner and agents without real domains."""

from typing import List, Optional, Tuple

import flax.serialization
import gin
import gymnasium
import jax
import numpy as np

from agents import base
from agents import networks
from offline import base as learner_base
from runner import checkpoints


@gin.configurable
class ScriptedEnv(gymnasium.Env):
  """Episodes of fixed length with `reward` (1) per step; the last step terminates or truncates.

  The observation is [step index within the episode, episode index], so tests can see exactly
  which observation reached the agent.
  """

  def __init__(self, episode_length: int = 5, ends_by: str = 'termination', num_actions: int = 2,
               reward: float = 1.0):
    self.episode_length = episode_length
    self.reward = reward
    self.ends_by = ends_by
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    self.action_space = gymnasium.spaces.Discrete(num_actions)
    self.resets = 0
    self.reset_seeds: List[Optional[int]] = []
    self.steps = 0
    self._t = 0

  def _observation(self):
    return np.array([self._t, self.resets - 1], np.float32)

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.reset_seeds.append(seed)
    self.resets += 1
    self._t = 0
    return self._observation(), {}

  def step(self, action):
    assert self.action_space.contains(action), action
    self._t += 1
    self.steps += 1
    end = self._t >= self.episode_length
    terminated = end and self.ends_by == 'termination'
    truncated = end and self.ends_by == 'truncation'
    return self._observation(), self.reward, terminated, truncated, {}


class SpyAgent(base.Agent):
  """Records every hook call; acts with action 0."""

  def __init__(self, observation_space, action_space, seed=0, summary_writer=None):
    super().__init__(observation_space, action_space, seed, summary_writer)
    self.calls: List[Tuple] = []
    self.restored_from = None

  def begin_episode(self, observation):
    self.calls.append(('begin_episode', self.eval_mode, observation.copy()))
    return 0

  def step(self, reward, observation):
    self.calls.append(('step', self.eval_mode, reward, observation.copy()))
    return 0

  def end_episode(self, reward, terminated, observation=None):
    self.calls.append(('end_episode', self.eval_mode, reward, terminated,
                       None if observation is None else observation.copy()))

  def bundle_and_checkpoint(self, checkpoint_dir, iteration):
    return {'num_calls': np.int64(len(self.calls))}

  def unbundle(self, checkpoint_dir, iteration, bundle):
    self.restored_from = (iteration, int(bundle['num_calls']))
    return True


@gin.configurable
class PointEnv(gymnasium.Env):
  """A point on a line pushed by a continuous action inside Box(`low`, `high`); the reward is minus
  the distance to the origin; episodes end by truncation after `episode_length` steps.

  The action space may be asymmetric and multi-dimensional (the point moves by the actions' sum),
  so tests can check that an agent rescales and respects arbitrary bounds.
  """

  def __init__(self, low=(-2.0,), high=(2.0,), episode_length: int = 10):
    self.action_space = gymnasium.spaces.Box(np.asarray(low, np.float32),
                                             np.asarray(high, np.float32), dtype=np.float32)
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    self.episode_length = episode_length
    self.actions: List[np.ndarray] = []
    self._position = 0.0
    self._t = 0

  def _observation(self):
    return np.array([self._position, self._t], np.float32)

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self._position = float(self.np_random.uniform(-1.0, 1.0))
    self._t = 0
    return self._observation(), {}

  def step(self, action):
    assert self.action_space.contains(np.asarray(action, np.float32)), action
    self.actions.append(np.array(action))
    self._position += 0.1 * float(np.sum(action))
    self._t += 1
    truncated = self._t >= self.episode_length
    return self._observation(), -abs(self._position), False, truncated, {}


def save_and_load(agent, tmp_path, iteration=0):
  """Checkpoints `agent` with the Runner's Checkpointer under `tmp_path` and reads it back:
  (checkpoint directory, bundle), as a resume would hand them to `unbundle`."""
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  checkpointer.save(iteration, {},
                    lambda directory: agent.bundle_and_checkpoint(directory, iteration))
  directory, _, bundle = checkpointer.load(iteration)
  return directory, bundle


def run_episodes(agent, env, count, seed=None, after_each_action=None):
  """Drives `agent` through `count` episodes of `env` with the Runner's hook sequence; resets are
  seeded `seed`, `seed + 1`, ... when `seed` is given; `after_each_action()`, if given, is called
  after every begin_episode and step. Returns every action taken."""
  actions = []
  for episode in range(count):
    observation, _ = env.reset(seed=None if seed is None else seed + episode)
    actions.append(agent.begin_episode(observation))
    while True:
      if after_each_action is not None:
        after_each_action()
      observation, reward, terminated, truncated, _ = env.step(actions[-1])
      if terminated or truncated:
        agent.end_episode(reward, terminated, observation)
        break
      actions.append(agent.step(reward, observation))
  return actions


@gin.configurable
class MeanActionLearner(learner_base.Learner):
  """A learner small enough to check by hand: it fits the dataset's mean action by SGD on batches
  drawn with a generator seeded by (seed, step), so any split of train(n) gives the same result.
  It also holds the parameters of a gin-configurable `network` (agents.networks.MLP), whose
  shapes show which gin configuration built it; `nan_after_steps` makes its loss NaN."""

  def __init__(self, observation_space, action_space, seed=0, summary_writer=None, dataset=None,
               network=networks.MLP, learning_rate: float = 0.1, batch_size: int = 8,
               nan_after_steps: Optional[int] = None):
    super().__init__(observation_space, action_space, seed, summary_writer, dataset)
    if not isinstance(action_space, gymnasium.spaces.Box):
      raise base.IncompatibleSpaceError(f'MeanActionLearner cannot handle the action space '
                                        f'{action_space!r}: it needs gymnasium.spaces.Box.')
    action_dim = int(np.prod(action_space.shape))
    self.network = network(num_outputs=action_dim)
    self.params = self.network.init(jax.random.PRNGKey(seed),
                                    np.zeros((1, *observation_space.shape), np.float32))
    self.learning_rate, self.batch_size = learning_rate, batch_size
    self.nan_after_steps = nan_after_steps
    self.estimate = np.zeros(action_dim)
    if dataset is not None:
      self._actions = dataset.transitions()['action'].reshape(dataset.num_steps, -1)

  def train(self, num_steps):
    self.require_dataset()
    losses = []
    for _ in range(num_steps):
      rng = np.random.default_rng([self.seed, self.training_steps])
      batch = self._actions[rng.integers(len(self._actions), size=self.batch_size)]
      losses.append(float(np.mean((batch - self.estimate) ** 2)))
      self.estimate = self.estimate + self.learning_rate * (batch.mean(axis=0) - self.estimate)
      self.training_steps += 1
    broken = self.nan_after_steps is not None and self.training_steps > self.nan_after_steps
    return {'loss': float('nan') if broken else float(np.mean(losses))}

  def evaluate(self, iteration):
    del iteration
    return {'distance_to_mean': float(np.linalg.norm(self.estimate - self._actions.mean(axis=0)))}

  def bundle_and_checkpoint(self, checkpoint_dir, iteration):
    del checkpoint_dir, iteration
    return {'params': flax.serialization.to_state_dict(self.params), 'estimate': self.estimate,
            'training_steps': np.int64(self.training_steps)}

  def unbundle(self, checkpoint_dir, iteration, bundle):
    del checkpoint_dir, iteration
    self.params = base.restore_pytree(self.params, bundle['params'], 'params')
    self.estimate = np.asarray(bundle['estimate'])
    self.training_steps = int(bundle['training_steps'])
    return True


class RecordingWriter:
  """A summary writer that keeps the images it is given (tag, image, step, dataformats), with the
  `logdir` that figures are written next to."""

  def __init__(self, logdir):
    self.logdir = str(logdir)
    self.images = []

  def add_image(self, tag, image, step, dataformats):
    self.images.append((tag, image, step, dataformats))
