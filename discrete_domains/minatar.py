"""MinAtar games (Young & Tian, 2019) through the `minatar` package: 10x10 Atari-like tasks with one
binary channel per object kind, cheap enough to train pixel-based agents on a CPU.

Observations are (10, 10, channels) booleans, channels last; the networks take them with
`NatureCNN.frames_first = False` (see gin_configs/*/minatar.gin).
"""

from typing import Optional

import gin
import gymnasium
from gymnasium.wrappers import TimeLimit

GAMES = ('asterix', 'breakout', 'freeway', 'seaquest', 'space_invaders')


@gin.configurable
def create_minatar_environment(game_name: str = 'breakout',
                               sticky_action_probability: float = 0.1,
                               difficulty_ramping: bool = True,
                               max_episode_steps: Optional[int] = None) -> gymnasium.Env:
  """A MinAtar game by name with MinAtar's defaults (sticky actions 0.1, difficulty ramping) and
  its minimal action set (as Dopamine's MinAtar environments)."""
  if game_name not in GAMES:
    raise ValueError(f'create_minatar_environment: unknown MinAtar game {game_name!r}; '
                     f'choose one of {GAMES}')
  from minatar import gym as minatar_gym  # pylint: disable=import-outside-toplevel  ('minatar' extra)
  env = minatar_gym.BaseEnv(game_name, use_minimal_action_set=True,
                            sticky_action_prob=sticky_action_probability,
                            difficulty_ramping=difficulty_ramping)
  if max_episode_steps:
    env = TimeLimit(env, max_episode_steps=max_episode_steps)
  return env
