"""gymnasium's continuous-control tasks: the MuJoCo locomotion suite (HalfCheetah, Hopper, Walker2d,
Ant, Humanoid, ...) by name, and any other registered Box-action task (Pendulum-v1,
MountainCarContinuous-v0) by full id.

Observations come out as float32 (MuJoCo's are float64) so that every continuous domain hands agents
the same dtype; actions keep the task's own bounds (Humanoid's are [-0.4, 0.4], not [-1, 1]).

`set_pendulum_state` puts Pendulum-v1 in a chosen state (theta, theta_dot), so Monte Carlo rollouts
can start from chosen source states (DSM's evaluation).
"""

import re
from typing import Any, List, Optional, Sequence

import gin
import gymnasium
from gymnasium.envs.classic_control.pendulum import PendulumEnv
import numpy as np

from continuous_domains import float32_observations, import_extra
from runner import errors
from runner import metrics

# 'Pendulum-v1' is a full id; 'HalfCheetah' is a name that still needs `version`.
_FULL_ID = re.compile(r'-v\d+$')
_MUJOCO_ENTRY_POINT = 'gymnasium.envs.mujoco'


def _mujoco_task_names() -> List[str]:
  return sorted({spec.name for spec in gymnasium.registry.values()
                 if isinstance(spec.entry_point, str)
                 and spec.entry_point.startswith(_MUJOCO_ENTRY_POINT)})


def _check_continuous(environment_id: str, env: gymnasium.Env) -> None:
  for kind, space in (('observation', env.observation_space), ('action', env.action_space)):
    if not isinstance(space, gymnasium.spaces.Box):
      env.close()
      raise ValueError(f'{environment_id} is not a continuous-control task: its {kind} space is '
                       f'{space}, not a Box (discrete tasks go through discrete_domains)')


@gin.configurable
def create_mujoco_environment(environment_name: str = 'HalfCheetah',
                              version: str = 'v5',
                              max_episode_steps: Optional[int] = None,
                              **environment_kwargs: Any) -> gymnasium.Env:
  """A continuous-control task: `environment_name` plus `version` ('HalfCheetah', 'v5' makes
  HalfCheetah-v5), or a full id in `environment_name` ('Pendulum-v1'; `version` is then ignored).

  The registered time limit applies (1000 steps for the locomotion tasks, 200 for Pendulum) unless
  `max_episode_steps` is given; hitting it is truncation, so agents bootstrap. Other keyword
  arguments go to the task's constructor, e.g. `ctrl_cost_weight`, `terminate_when_unhealthy` or
  `exclude_current_positions_from_observation` for the MuJoCo tasks.
  """
  if _FULL_ID.search(environment_name):
    environment_id = environment_name
  else:
    environment_id = f'{environment_name}-{version}'
  try:
    spec = gymnasium.spec(environment_id)
  except gymnasium.error.Error as error:
    raise ValueError(
        f'create_mujoco_environment: unknown task {environment_id!r} ({error}). gymnasium\'s MuJoCo '
        f'tasks are {", ".join(_mujoco_task_names())}; other continuous tasks go by full id, e.g. '
        f'Pendulum-v1 or MountainCarContinuous-v0') from error
  is_mujoco = isinstance(spec.entry_point, str) and spec.entry_point.startswith(_MUJOCO_ENTRY_POINT)
  if is_mujoco:
    # Checked up front: gymnasium's own message would not name this project's extra.
    import_extra('mujoco', 'mujoco')
  try:
    env = gymnasium.make(environment_id, max_episode_steps=max_episode_steps, **environment_kwargs)
  except gymnasium.error.DependencyNotInstalled as error:
    if is_mujoco:  # e.g. imageio, also in the extra
      raise ImportError(f"{environment_id} needs the 'mujoco' extra: `pip install -e '.[mujoco]'` "
                        f'({error})') from error
    # Box2D's tasks (LunarLanderContinuous, BipedalWalker): no extra of the zoo installs them.
    raise ImportError(f'{environment_id} needs a simulator that is not installed and that no extra '
                      f'of the zoo provides: {error}') from error
  _check_continuous(environment_id, env)
  return float32_observations(env)


# What sweep reports need to know (runner/report): the parameters that name the task.
create_mujoco_environment.report_task = metrics.TaskDeclaration(
    ('environment_name',), dopamine_file='mj_{}.json', dopamine_steps_per_iteration=1_000)


@gin.configurable
def set_pendulum_state(env: gymnasium.Env, state: Sequence[float]) -> np.ndarray:
  """Puts Pendulum-v1 `env` (wrapped or not) in the simulator state `state` = (theta, theta_dot)
  and returns the observation (cos theta, sin theta, theta_dot), float32, exactly as the pendulum
  emits it (its own `_get_obs`; the zoo's factory passes Pendulum's observations through
  unchanged). Call it after `reset`, which restarts the time limit's count.

  theta is in radians from upright, counterclockwise; |theta_dot| must not exceed the pendulum's
  `max_speed` (8), which its dynamics never exceed either.
  """
  simulator = env.unwrapped
  if not isinstance(simulator, PendulumEnv):
    raise errors.InvalidSettingError(
        f'set_pendulum_state: the environment is {type(simulator).__name__}, not a Pendulum '
        f'(gymnasium\'s PendulumEnv, Pendulum-v1)')
  # float64, as the pendulum's own reset and step leave it.
  theta_and_velocity = np.asarray(state, dtype=np.float64)
  if theta_and_velocity.shape != (2,) or not np.all(np.isfinite(theta_and_velocity)):
    raise errors.InvalidSettingError(
        f'set_pendulum_state: the state must be a finite (theta, theta_dot), got {state!r}')
  if abs(theta_and_velocity[1]) > simulator.max_speed:
    raise errors.InvalidSettingError(
        f'set_pendulum_state: theta_dot {theta_and_velocity[1]} is beyond the pendulum\'s '
        f'max_speed {simulator.max_speed}')
  simulator.state = theta_and_velocity
  simulator.last_u = None  # the torque drawn by render: none applied yet in this state
  return simulator._get_obs()  # pylint: disable=protected-access
