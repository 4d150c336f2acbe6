"""Classic-control domains (CartPole-v1, Acrobot-v1, MountainCar-v0) and their observation bounds.

The bounds are Dopamine's, exported as gin constants so that gin files can rescale an MLP's inputs
with `MLP.min_vals = %discrete_domains.classic.CARTPOLE_MIN_VALS`.
"""

import math

import gin
import gymnasium

from runner import metrics

gin.constant('discrete_domains.classic.CARTPOLE_MIN_VALS', (-2.4, -5.0, -math.pi / 12, -math.pi * 2))
gin.constant('discrete_domains.classic.CARTPOLE_MAX_VALS', (2.4, 5.0, math.pi / 12, math.pi * 2))
gin.constant('discrete_domains.classic.ACROBOT_MIN_VALS', (-1.0, -1.0, -1.0, -1.0, -5.0, -5.0))
gin.constant('discrete_domains.classic.ACROBOT_MAX_VALS', (1.0, 1.0, 1.0, 1.0, 5.0, 5.0))
gin.constant('discrete_domains.classic.MOUNTAINCAR_MIN_VALS', (-1.2, -0.07))
gin.constant('discrete_domains.classic.MOUNTAINCAR_MAX_VALS', (0.6, 0.07))


@gin.configurable
def create_classic_environment(environment_name: str = 'CartPole-v1',
                               max_episode_steps: int = None) -> gymnasium.Env:
  """A gymnasium environment by id (CartPole-v1, Acrobot-v1, MountainCar-v0, or any registered id)
  with its registered time limit, or `max_episode_steps` if given.

  Time-limit ends are reported by gymnasium as truncation, which the Runner passes on to the agent
  as `terminated=False` so that it bootstraps.
  """
  return gymnasium.make(environment_name, max_episode_steps=max_episode_steps)


# What sweep reports need to know (runner/report): the parameters that name the task.
create_classic_environment.report_task = metrics.TaskDeclaration(('environment_name',))
