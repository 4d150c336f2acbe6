"""MinAtar games (Young & Tian, 2019) through the `minatar` package: 10x10 Atari-like tasks with one
binary channel per object kind, cheap enough to train pixel-based agents on a CPU.

Observations are (10, 10, channels) booleans, channels last; the networks take them with
`NatureCNN.frames_first = False` (see gin_configs/*/minatar.gin).

The games are registered as gymnasium ids (`MinAtar-Breakout-v0`, ...) with this module's
`MinAtarEnv` rather than `minatar.gym.BaseEnv`: BaseEnv's reset leaves gymnasium's `np_random`
unseeded and its sticky actions carry the previous episode's last action into the next one, so
`reset(seed=s)` would not reproduce an episode.
"""

from typing import Optional

import gin
import gymnasium
import numpy as np

from runner import metrics

GAMES = ('asterix', 'breakout', 'freeway', 'seaquest', 'space_invaders')


def environment_id(game_name: str) -> str:
  """The registered id of a game: 'space_invaders' is 'MinAtar-SpaceInvaders-v0'."""
  return f'MinAtar-{game_name.title().replace("_", "")}-v0'


class MinAtarEnv(gymnasium.Env):
  """One MinAtar game with its minimal action set, all of its randomness (the game's spawns and
  the sticky actions) drawn from the environment's `np_random`, which `reset(seed=...)` seeds."""

  metadata = {'render_modes': []}

  def __init__(self, game_name: str, sticky_action_probability: float = 0.1,
               difficulty_ramping: bool = True):
    import minatar  # pylint: disable=import-outside-toplevel  (the 'minatar' extra)
    self._game = minatar.Environment(game_name, sticky_action_prob=sticky_action_probability,
                                     difficulty_ramping=difficulty_ramping)
    self._actions = self._game.minimal_action_set()
    self.action_space = gymnasium.spaces.Discrete(len(self._actions))
    self.observation_space = gymnasium.spaces.Box(0, 1, self._game.state_shape(), bool)

  def reset(self, *, seed: Optional[int] = None, options=None):
    super().reset(seed=seed)
    # MinAtar draws from a numpy RandomState of its own: reseeded from np_random at every reset,
    # so that an episode depends on nothing but the seed and the episodes before it.
    self._game.seed(int(self.np_random.integers(np.iinfo(np.uint32).max)))
    self._game.last_action = 0  # MinAtar's sticky-action memory, which its reset keeps
    self._game.reset()
    return self._game.state(), {}

  def step(self, action):
    reward, terminated = self._game.act(self._actions[int(action)])
    return self._game.state(), float(reward), bool(terminated), False, {}


@gin.configurable
def create_minatar_environment(game_name: str = 'breakout',
                               sticky_action_probability: float = 0.1,
                               difficulty_ramping: bool = True,
                               max_episode_steps: Optional[int] = None) -> gymnasium.Env:
  """A MinAtar game by name with MinAtar's defaults (sticky actions 0.1, difficulty ramping) and
  its minimal action set (as Dopamine's MinAtar environments); `max_episode_steps` adds a time
  limit (truncation)."""
  if game_name not in GAMES:
    raise ValueError(f'create_minatar_environment: unknown MinAtar game {game_name!r}; '
                     f'choose one of {GAMES}')
  if environment_id(game_name) not in gymnasium.registry:
    gymnasium.register(environment_id(game_name), entry_point=MinAtarEnv,
                       kwargs={'game_name': game_name})
  # Through the registry, so that the environment has a spec: its id names the game (in datasets'
  # metadata, say) and `gymnasium.make(env.spec)` rebuilds it.
  return gymnasium.make(environment_id(game_name), max_episode_steps=max_episode_steps or None,
                        sticky_action_probability=sticky_action_probability,
                        difficulty_ramping=difficulty_ramping)


# What sweep reports need to know (runner/report): the parameters that name the task.
create_minatar_environment.report_task = metrics.TaskDeclaration(('game_name',))
