"""The windy grid world of DSM (Wiltzer, Farebrother et al. 2024, "A Distributional Analogue to the
Successor Representation"): a point in a continuous square pushed outwards by a random wind.

The square is `size` wide (10) and centred on the origin; the observation is the position (x, y),
float32. Four actions move the point by `step_size` (1): 0 left (-x), 1 right (+x), 2 down (-y),
3 up (+y). Then the wind adds U[0, wind_scale] * sign(coordinate) to each coordinate (0.25; the
signs are those of the position before the move, as in the reference, so a point on an axis feels
no wind along it), drawn from the environment's own generator, which `reset(seed=...)` seeds. The
position is clipped to the square. Episodes start at `start` ((0, 0); None draws a uniform start
over the square) and are only ever truncated, after `max_episode_steps` (200).

The reward (`reward='quadrants'`, the DSM paper's) depends on the quadrant of the position before
the move, as in the reference: +1 for x > 0, y > 0; -2 for x > 0, y < 0; +2 for x < 0, y > 0;
-1 for x < 0, y < 0; 0 on an axis. `reward='none'` gives 0 everywhere (a delta-model learns from
states alone and reads out any reward afterwards: offline/dsm/rewards.py).

`set_windy_gridworld_state` puts the simulator at a chosen position, so Monte Carlo rollouts can
start from chosen source states.
"""

from typing import Dict, Optional, Sequence, Tuple

import gin
import gymnasium
import numpy as np

from runner import errors

ENVIRONMENT_ID = 'WindyGridWorld-v0'
REWARDS = ('quadrants', 'none')
# Displacements of actions 0 left, 1 right, 2 down, 3 up (the reference's order).
MOVES = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
# The quadrant reward by (sign of x, sign of y); a position on an axis is in no quadrant and gets 0.
QUADRANT_REWARDS: Dict[Tuple[int, int], float] = {(1, 1): 1.0, (1, -1): -2.0, (-1, 1): 2.0,
                                                  (-1, -1): -1.0}


def quadrant_reward(position: Sequence[float]) -> float:
  """The quadrant reward (QUADRANT_REWARDS) of one position (x, y)."""
  signs = (int(np.sign(position[0])), int(np.sign(position[1])))
  return QUADRANT_REWARDS.get(signs, 0.0)


def _check_settings(size: float, step_size: float, wind_scale: float,
                    start: Optional[Sequence[float]], reward: str) -> Optional[np.ndarray]:
  """InvalidSettingError (a ValueError) naming the first bad setting; the start as an array."""
  name = 'create_windy_gridworld_environment'
  if not (np.isfinite(size) and size > 0):
    raise errors.InvalidSettingError(f'{name}: size must be a positive number, got {size!r}')
  if not (np.isfinite(step_size) and step_size > 0):
    raise errors.InvalidSettingError(
        f'{name}: step_size must be a positive number, got {step_size!r}')
  if not (np.isfinite(wind_scale) and wind_scale >= 0):
    raise errors.InvalidSettingError(
        f'{name}: wind_scale must be a number >= 0, got {wind_scale!r}')
  if reward not in REWARDS:
    raise errors.InvalidSettingError(
        f'{name}: reward must be one of {", ".join(map(repr, REWARDS))}, got {reward!r}')
  if start is None:
    return None
  start_array = np.asarray(start, dtype=np.float64)
  if start_array.shape != (2,) or not np.all(np.abs(start_array) <= size / 2):
    raise errors.InvalidSettingError(
        f'{name}: start must be an (x, y) inside the square [-{size / 2}, {size / 2}]^2, or None '
        f'for uniform random starts; got {start!r}')
  return start_array


class WindyGridWorldEnv(gymnasium.Env):
  """A point in a square, moved by unit actions and an outward wind (see the module docstring).

  `position` is the simulator's state, (x, y) in float64; observations are its float32 copy.
  """

  metadata = {'render_modes': []}

  def __init__(self, size: float = 10.0, step_size: float = 1.0, wind_scale: float = 0.25,
               start: Optional[Sequence[float]] = (0.0, 0.0), reward: str = 'quadrants'):
    self._start = _check_settings(size, step_size, wind_scale, start, reward)
    self.size = float(size)
    self.step_size = float(step_size)
    self.wind_scale = float(wind_scale)
    self.reward = reward
    self.half_size = self.size / 2
    self.observation_space = gymnasium.spaces.Box(-self.half_size, self.half_size, (2,),
                                                  np.float32)
    self.action_space = gymnasium.spaces.Discrete(len(MOVES))
    self.position = np.zeros(2)

  def observation(self) -> np.ndarray:
    """The observation of the current position."""
    return self.position.astype(np.float32)

  def reset(self, *, seed: Optional[int] = None, options=None):
    super().reset(seed=seed)
    if self._start is None:
      self.position = self.np_random.uniform(-self.half_size, self.half_size, size=2)
    else:
      self.position = self._start.copy()
    return self.observation(), {}

  def step(self, action):
    reward = quadrant_reward(self.position) if self.reward == 'quadrants' else 0.0
    # Drawn whatever the wind scale, so that the generator advances the same way at every step.
    wind = self.np_random.uniform(0.0, 1.0, size=2) * self.wind_scale * np.sign(self.position)
    self.position = np.clip(self.position + self.step_size * MOVES[int(action)] + wind,
                            -self.half_size, self.half_size)
    return self.observation(), reward, False, False, {}


@gin.configurable
def create_windy_gridworld_environment(size: float = 10.0,
                                       step_size: float = 1.0,
                                       wind_scale: float = 0.25,
                                       max_episode_steps: Optional[int] = 200,
                                       start: Optional[Sequence[float]] = (0.0, 0.0),
                                       reward: str = 'quadrants') -> gymnasium.Env:
  """DSM's windy grid world (see the module docstring), defaults the reference's.

  Args:
    size: the side of the square, centred on the origin.
    step_size: how far an action moves the point.
    wind_scale: the wind on each coordinate is U[0, wind_scale], outwards; 0 makes moves
      deterministic.
    max_episode_steps: the time limit, reported as truncation (the episode never terminates);
      None for none.
    start: the (x, y) where every episode starts; None draws it uniformly over the square.
    reward: 'quadrants' (the DSM paper's reward) or 'none' (0 everywhere).
  """
  if max_episode_steps is not None and not (
      isinstance(max_episode_steps, (int, np.integer)) and max_episode_steps > 0):
    raise errors.InvalidSettingError(
        f'create_windy_gridworld_environment: max_episode_steps must be a positive integer or '
        f'None, got {max_episode_steps!r}')
  # Checked here rather than from inside gymnasium.make, for a shorter traceback.
  _check_settings(size, step_size, wind_scale, start, reward)
  if ENVIRONMENT_ID not in gymnasium.registry:
    gymnasium.register(ENVIRONMENT_ID, entry_point=WindyGridWorldEnv)
  # Through the registry, so the environment has a spec (its id names it in datasets' metadata)
  # and `gymnasium.make(env.spec)` rebuilds it.
  return gymnasium.make(ENVIRONMENT_ID, max_episode_steps=max_episode_steps, size=size,
                        step_size=step_size, wind_scale=wind_scale,
                        start=None if start is None else tuple(float(x) for x in start),
                        reward=reward)


@gin.configurable
def set_windy_gridworld_state(env: gymnasium.Env, state: Sequence[float]) -> np.ndarray:
  """Puts the windy grid world `env` (wrapped or not) at position `state` = (x, y) and returns
  the observation it emits there. Call it after `reset`, which restarts the time limit's count."""
  simulator = env.unwrapped
  if not isinstance(simulator, WindyGridWorldEnv):
    raise errors.InvalidSettingError(
        f'set_windy_gridworld_state: the environment is {type(simulator).__name__}, not a windy '
        f'grid world')
  position = np.asarray(state, dtype=np.float64)
  if position.shape != (2,) or not np.all(np.abs(position) <= simulator.half_size):
    raise errors.InvalidSettingError(
        f'set_windy_gridworld_state: the state must be an (x, y) inside the square '
        f'[-{simulator.half_size}, {simulator.half_size}]^2, got {state!r}')
  simulator.position = position.copy()
  return simulator.observation()
