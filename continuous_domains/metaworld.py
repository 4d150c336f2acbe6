"""Meta-world v3 manipulation tasks ('reach-v3', 'push-v3', 'pick-place-v3', ... 50 in all), one
task per environment, with the goal either fixed by a seed or drawn anew each episode.

A Sawyer arm moves its gripper by xyz offsets plus a grip command (actions in [-1, 1]^4); the
39-dim observation is the hand, gripper and object state of this step and the previous one, then
the goal position. Meta-world calls the object's start and the goal a task's "random vector":
MT1 fixes it per task, and resampling it each episode gives the harder goal-conditioned version.
`info['success']` is the benchmark's success signal (as a bool), whatever the reward.

This goes to the task classes directly rather than through `gymnasium.make('Meta-World/MT1')`:
that path draws its 50 goals from numpy's global random state unless given a seed at construction,
picks one of them at each reset from a generator that the seed given to `reset` never reaches (two
`reset(seed=0)` give different goals), and declares an observation space whose goal bounds are
0..0 while the observations carry the goal.
"""

from typing import Optional

import gin
import gymnasium
import numpy as np

from continuous_domains import float32_observations, import_extra
from runner import metrics

METAWORLD_MAX_EPISODE_STEPS = 500  # Meta-world's own horizon (SawyerXYZEnv.max_path_length)


class MetaWorldTask(gymnasium.Wrapper):
  """One Meta-world task environment with seed-able goals and gymnasium's reset semantics.

  Meta-world's `reset` ignores its `seed` argument, and its goals come from `np.random` unless told
  otherwise; here they come from the environment's own generator, which `reset(seed=s)` reseeds.
  """

  def __init__(self, env: gymnasium.Env, goal_seed: int, resample_goal: bool,
               goal_observable: bool, max_episode_steps: int, terminate_on_success: bool,
               sparse_reward: bool = False):
    super().__init__(env)
    sawyer = env.unwrapped
    sawyer._partially_observable = not goal_observable  # pylint: disable=protected-access
    # The space is a cached property computed for the goal-hidden default; recompute it and make it
    # the declared one, so that the goal's real bounds are declared.
    sawyer.__dict__.pop('sawyer_observation_space', None)
    sawyer.observation_space = sawyer.sawyer_observation_space
    # Meta-world's own flag for "a task was set"; the goal set below is this environment's task.
    sawyer._set_task_called = True  # pylint: disable=protected-access
    # The sawyer env itself truncates at max_path_length and refuses to step past it.
    sawyer.max_path_length = max_episode_steps
    sawyer.seeded_rand_vec = True
    # A first reset with the goal seed draws the goal (rejection-sampled by each task so that the
    # object and goal are apart); freezing it keeps it for every later episode.
    sawyer._freeze_rand_vec = False  # pylint: disable=protected-access
    sawyer.seed(goal_seed)
    sawyer.reset()
    sawyer._freeze_rand_vec = not resample_goal  # pylint: disable=protected-access
    self._terminate_on_success = terminate_on_success
    self._sparse_reward = sparse_reward

  @property
  def goal(self) -> np.ndarray:
    """The current goal position (xyz), as in the last three observation entries when observable."""
    return np.array(self.env.unwrapped._target_pos)  # pylint: disable=protected-access

  def reset(self, *, seed: Optional[int] = None, options=None):
    if seed is not None:
      self.env.unwrapped.seed(seed)
    return self.env.reset(options=options)

  def step(self, action):
    observation, reward, terminated, truncated, info = self.env.step(action)
    info['success'] = bool(info['success'])
    if self._terminate_on_success and info['success']:
      terminated = True
    if self._sparse_reward:
      reward = float(info['success'])
    return observation, float(reward), terminated, truncated, info


@gin.configurable
def create_metaworld_environment(task_name: str = 'reach-v3',
                                 goal_seed: int = 0,
                                 resample_goal: bool = False,
                                 max_episode_steps: Optional[int] = METAWORLD_MAX_EPISODE_STEPS,
                                 goal_observable: bool = True,
                                 terminate_on_success: bool = False,
                                 reward_function_version: str = 'v2',
                                 sparse_reward: bool = False) -> gymnasium.Env:
  """A Meta-world v3 task by name.

  Args:
    goal_seed: picks the goal (and the object's start) when `resample_goal` is False. The goal is
      then one fixed task for the environment's lifetime, whatever seed `reset` gets (as MT1's
      single tasks), and episodes are deterministic.
    resample_goal: True draws a new goal at every reset from the environment's generator;
      `reset(seed=s)` then reproduces the goal sequence from s.
    max_episode_steps: the horizon, reported as truncation; None is Meta-world's 500.
    goal_observable: True (MT1's setting) puts the goal in the last three observation entries;
      False zeroes them (the meta-learning benchmarks' setting).
    terminate_on_success: end the episode when `info['success']` (Meta-world's evaluation
      protocol); False, its training protocol, runs to the horizon.
    reward_function_version: 'v2' (Meta-world's current shaped rewards, in [0, 10]) or 'v1'.
    sparse_reward: the reward is 1 on a step where `info['success']`, else 0 (SFP's downstream
      tasks), instead of the shaped reward.
  """
  import_extra('metaworld', 'metaworld')
  from metaworld import env_dict  # pylint: disable=import-outside-toplevel

  task_classes = env_dict.ALL_V3_ENVIRONMENTS
  if task_name not in task_classes:
    raise ValueError(f'create_metaworld_environment: unknown task {task_name!r}; Meta-world v3 has '
                     f'{len(task_classes)} tasks: {", ".join(task_classes)}')
  env = task_classes[task_name](reward_function_version=reward_function_version)
  env = MetaWorldTask(env, goal_seed=goal_seed, resample_goal=resample_goal,
                      goal_observable=goal_observable,
                      max_episode_steps=max_episode_steps or METAWORLD_MAX_EPISODE_STEPS,
                      terminate_on_success=terminate_on_success, sparse_reward=sparse_reward)
  return float32_observations(env)


# What sweep reports need to know (runner/report): the parameters that name the task.
create_metaworld_environment.report_task = metrics.TaskDeclaration(('task_name',))
