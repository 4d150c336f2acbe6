"""The check every domain factory's environment must pass, shared by the domain tests: gymnasium's
own `check_env`, with its warnings treated as failures except the few listed (and explained)
below, and a second instance, rebuilt from `env.spec` as a new user would, that plays the same
episode for the same seed."""

import warnings
from typing import Callable, Tuple

import gymnasium
from gymnasium.utils.env_checker import check_env, data_equivalence

# check_env's warnings that say nothing wrong about a domain of this zoo, each with the reason.
# Every other warning (observations outside their space or of another dtype, an unseeded reset,
# non-deterministic steps, a wrapper that cannot be recreated, ...) fails the check.
IGNORED_CHECK_ENV_WARNINGS = (
    # The factories' output, wrappers included, is what agents get, so that is what is checked.
    r'.*is different from the unwrapped version',
    # MuJoCo, PointMaze and Meta-world states are unbounded: their Boxes are the simulators' own.
    r'.*A Box observation space (minimum|maximum) value is -?infinity',
    # Pendulum's torque in [-2, 2] is the task's definition; agents rescale to the bounds.
    r'.*we recommend using a symmetric and normalized space',
)
ROLLOUT_STEPS = 30


def play(env: gymnasium.Env, seed: int, actions) -> Tuple[list, list]:
  """Observations and rewards of `actions` after `reset(seed)`, until the episode ends."""
  observation, _ = env.reset(seed=seed)
  observations, rewards = [observation], []
  for action in actions:
    observation, reward, terminated, truncated, _ = env.step(action)
    observations.append(observation)
    rewards.append(reward)
    if terminated or truncated:
      break
  return observations, rewards


def assert_passes_check_env(make_env: Callable[[], gymnasium.Env], seed: int = 0) -> None:
  """`make_env()` passes check_env, and a second instance (from `env.spec` where the environment
  has one) has the same spaces and plays the same episode for the same seed and actions."""
  env = make_env()
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    for pattern in IGNORED_CHECK_ENV_WARNINGS:
      warnings.filterwarnings('ignore', message=pattern)
    # Without a render mode the render check only remakes the environment in each declared mode,
    # which for MuJoCo would need an OpenGL context; the agents never render.
    check_env(env, skip_render_check=True)
  # Meta-world tasks come from their classes, not from a registered id: no spec to rebuild from.
  second = gymnasium.make(env.spec) if env.spec is not None else make_env()
  assert second.observation_space == env.observation_space
  assert second.action_space == env.action_space
  env.action_space.seed(seed)
  actions = [env.action_space.sample() for _ in range(ROLLOUT_STEPS)]
  observations, rewards = play(env, seed, actions)
  second_observations, second_rewards = play(second, seed, actions)
  assert len(observations) == len(second_observations)
  for observation, second_observation in zip(observations, second_observations):
    assert env.observation_space.contains(observation)
    assert data_equivalence(observation, second_observation), (observation, second_observation)
  assert rewards == second_rewards
  env.close()
  second.close()
