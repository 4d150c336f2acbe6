"""Atari 2600 games through ale-py, with Dopamine's preprocessing as gin parameters.

The pipeline is gymnasium's own wrappers around `ALE/<game>-v5` (frame skip done by the wrapper,
not by ALE, so that the last two frames can be max-pooled):

  ALE (sticky actions inside the emulator)
    -> AtariPreprocessing: no-ops at reset, frame skip with max-pooling over the last two frames,
       grayscale, resize with cv2 INTER_AREA (as Dopamine), optional scaling to [0, 1]
    -> TimeLimit: the cap of a game in agent steps (truncation, so agents bootstrap)
    -> LifeLossEndsEpisode (optional): a lost life ends the agent's episode, the game goes on
    -> FrameStackObservation: the last `stack_size` frames, zero-padded at an episode's start
    -> RAMPosition (optional): `info['position']`, chosen RAM bytes (Montezuma's Revenge's room,
       x and y: `ram_position=(3, 42, 43)`), which the Runner counts and draws (runner/coverage.py)

Observations are `(stack_size, H, W)` uint8 (frames first, gymnasium's layout), or `(H, W)` with
`stack_size=1`. Replay buffers store the newest frame only and rebuild stacks when sampling, which
is exact because the padding is zeros, as in Dopamine's replay.
"""

from typing import Any, Dict, Optional, Sequence

import gin
import gymnasium
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit

from runner import errors
from runner import metrics

ATARI_RAM_BYTES = 128


class LifeLossEndsEpisode(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
  """Reports a lost life as termination without resetting the game (Dopamine's
  `terminal_on_life_loss`): the next `reset()` without a seed continues the same game, and only a
  real game over (or a reset with a seed) starts a new one. Episode returns are then per life.

  gymnasium's own `terminal_on_life_loss` resets the whole game at every lost life, so the agent
  would only ever play its first life.
  """

  def __init__(self, env: gymnasium.Env):
    # Recorded (it has no arguments but `env`) so that `gymnasium.make(env.spec)` rebuilds it.
    gymnasium.utils.RecordConstructorArgs.__init__(self)
    gymnasium.Wrapper.__init__(self, env)
    self._lives = 0
    self._game_continues = False
    self._last_observation = None

  def reset(self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None):
    if self._game_continues and seed is None:
      self._game_continues = False
      return self._last_observation, {'lives': self._lives, 'life_loss_reset': True}
    self._game_continues = False
    observation, info = self.env.reset(seed=seed, options=options)
    self._lives = self.env.unwrapped.ale.lives()
    return observation, info

  def step(self, action):
    observation, reward, terminated, truncated, info = self.env.step(action)
    lives = self.env.unwrapped.ale.lives()
    if lives < self._lives and not (terminated or truncated):
      terminated = True
      self._game_continues = True
    self._lives = lives
    self._last_observation = observation
    return observation, reward, terminated, truncated, info


class RAMPosition(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
  """Adds `info['position']`: the bytes at `addresses` of the console's RAM after each reset and
  step, as a tuple of ints. A position of three or more bytes is read as (room, ..., x, y): the
  Runner counts its first byte as the room."""

  def __init__(self, env: gymnasium.Env, addresses: Sequence[int]):
    gymnasium.utils.RecordConstructorArgs.__init__(self, addresses=tuple(addresses))
    gymnasium.Wrapper.__init__(self, env)
    self.addresses = np.asarray(addresses, np.int64)
    if self.addresses.ndim != 1 or not len(self.addresses) or np.any(
        (self.addresses < 0) | (self.addresses >= ATARI_RAM_BYTES)):
      raise errors.InvalidSettingError(
          f'create_atari_environment.ram_position must be addresses in 0..{ATARI_RAM_BYTES - 1}, '
          f'got {tuple(addresses)!r}')

  def _position(self) -> tuple:
    return tuple(int(byte) for byte in self.env.unwrapped.ale.getRAM()[self.addresses])

  def reset(self, **kwargs):
    observation, info = self.env.reset(**kwargs)
    return observation, {**info, 'position': self._position()}

  def step(self, action):
    observation, reward, terminated, truncated, info = self.env.step(action)
    return observation, reward, terminated, truncated, {**info, 'position': self._position()}


@gin.configurable
def create_atari_environment(game_name: Optional[str] = None,
                             sticky_action_probability: float = 0.25,
                             frame_skip: int = 4,
                             screen_size: int = 84,
                             stack_size: int = 4,
                             noop_max: int = 30,
                             max_episode_steps: Optional[int] = 27_000,
                             terminal_on_life_loss: bool = False,
                             scale_observations: bool = False,
                             full_action_space: bool = False,
                             ram_position: Optional[Sequence[int]] = None) -> gymnasium.Env:
  """An ALE game by name ('Pong', 'MontezumaRevenge', ...) with Dopamine's Atari protocol.

  Defaults are Dopamine's (Machado et al., 2018): sticky actions 0.25, frame skip 4 with max-pooling,
  84x84 grayscale, 4 stacked frames, an episode cap of 27k agent steps (108k frames). On top, up
  to `noop_max` no-op frames at reset (0 turns them off). PSDRL's variant is `screen_size=64,
  stack_size=1` (gin_configs/psdrl/atari.gin keeps the frames uint8, a quarter of float32's
  memory in replay, and scales them in its encoder; `scale_observations=True` gives [0, 1]
  floats instead). `ram_position`: RAM addresses reported as
  `info['position']` (RAMPosition); Montezuma's Revenge's room, x and y are (3, 42, 43).
  """
  errors.require_binding(game_name, 'create_atari_environment.game_name', "a game such as 'Pong'")
  import ale_py  # pylint: disable=import-outside-toplevel  (the 'atari' extra)
  gymnasium.register_envs(ale_py)
  try:
    env = gymnasium.make(f'ALE/{game_name}-v5', frameskip=1,
                         repeat_action_probability=sticky_action_probability,
                         full_action_space=full_action_space,
                         max_num_frames_per_episode=0,  # the cap is TimeLimit's, in agent steps
                         max_episode_steps=None)
  except gymnasium.error.Error as error:
    raise ValueError(f'create_atari_environment: unknown ALE game {game_name!r} ({error})') from error
  # The preprocessing wraps the raw ALE env: make()'s order-enforcing and checker wrappers only
  # add a per-step cost here.
  env = AtariPreprocessing(env.unwrapped, noop_max=noop_max, frame_skip=frame_skip,
                           screen_size=screen_size, terminal_on_life_loss=False,
                           grayscale_obs=True, scale_obs=scale_observations)
  if max_episode_steps:
    env = TimeLimit(env, max_episode_steps=max_episode_steps)
  if terminal_on_life_loss:  # outside the time limit, so that the cap counts a whole game
    env = LifeLossEndsEpisode(env)
  if stack_size > 1:
    env = FrameStackObservation(env, stack_size, padding_type='zero')
  if ram_position is not None:  # outermost: a life-loss "reset" must report the position too
    env = RAMPosition(env, ram_position)
  return env


# What sweep reports need to know (runner/report): the parameters that name the task.
create_atari_environment.report_task = metrics.TaskDeclaration(
    ('game_name',), dopamine_file='{}.json', dopamine_steps_per_iteration=250_000)
