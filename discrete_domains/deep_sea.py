"""DeepSea (Osband et al., 2017; bsuite's `deep_sea` and `deep_sea_stochastic`), the deep
exploration task, as a gymnasium environment.

The agent falls through an N x N grid: it starts in the top-left cell (row 0, column 0) and every
step takes it one row down and one column left or right (clipped at the grid's edges), so an
episode is always N steps. Each cell maps the actions 0 and 1 to 'left' and 'right' its own way:
action a is 'right' in cell (row, column) when a == action_mapping[row, column], the mapping
drawn once as `np.random.RandomState(mapping_seed).binomial(1, 0.5, [N, N])` (with
`randomize_actions=False`, bsuite's debugging variant, the mapping is all ones: 1 is 'right'
everywhere). 'Right' costs `unscaled_move_cost / N` (0.01 / N by default), whether the move
succeeds or not; 'right' taken in the last column pays 1. Only the bottom-right cell's 'right'
earns the 1, so the one rewarding episode is all 'right' moves: return 1 - 0.01 = 0.99, while
every episode with a 'left' move returns only its costs (0 or less).

With `deterministic=False` (bsuite's deep_sea_stochastic), 'right' moves the agent only with
probability 1 - 1/N (it still falls a row and still pays the cost), and a step taken in the
bottom row from its first or last column adds N(0, 1) noise to the reward. The optimal return is
then (1 - 1/N) ** (N - 1) - 0.01 (`optimal_return`).

Everything above, and the order of the random draws, is bsuite 0.3.6's
`bsuite/environments/deep_sea.py`; the tests encode it as hand-checked expectations. Where this
differs from bsuite, by gymnasium's interface:
- observations (`observation_type`): 'pixels' is bsuite's observation, a float32 (N, N) image,
  1 at the agent's cell, else 0; 'vector' is the same image flattened to N * N (for MLP
  agents). After the last step the agent is below the grid and, as in bsuite, the observation is
  all zeros;
- the stochastic draws come from a numpy RandomState seeded, as bsuite's `seed`, by the seed of
  `reset(seed=...)`, and continued by unseeded resets: `reset(seed=s)` then unseeded resets play
  bsuite's `DeepSea(seed=s)` episode after episode, draw for draw. `mapping_seed` seeds only the
  action mapping, which is part of the task (bsuite's sweep uses 42, our default);
- the episode ends by termination (no time limit is needed), and a step after it is an error
  rather than bsuite's automatic reset;
- `info['position']` is the agent's (row, column) after each reset and step, for the Runner's
  state coverage (runner/coverage.py): (N, column) after the last step, below the grid;
  `info['success']` is true on the step that pays the 1 (the Runner's per-iteration
  success_rate: the fraction of episodes that found the treasure).
bsuite's logging of 'bad episodes' is not reproduced.
"""

from typing import Optional

import gin
import gymnasium
import numpy as np

from runner import errors
from runner import metrics

ENVIRONMENT_ID = 'DeepSea-v0'
OBSERVATION_TYPES = ('vector', 'pixels')
NUM_ACTIONS = 2
# A RandomState's legacy seeding (bsuite's) takes 32-bit seeds only.
_LEGACY_SEED_LIMIT = 2 ** 32


def action_mapping(size: int, mapping_seed: int = 42, randomize_actions: bool = True
                   ) -> np.ndarray:
  """The (size, size) array whose entry at (row, column) is the action that is 'right' there."""
  if not randomize_actions:
    return np.ones((size, size), np.int64)
  return np.random.RandomState(mapping_seed).binomial(1, 0.5, [size, size])


def optimal_return(size: int, deterministic: bool = True, unscaled_move_cost: float = 0.01
                   ) -> float:
  """The expected return of always moving right, the best policy (bsuite's `_optimal_return`):
  in the stochastic variant all N - 1 'right' moves before the last must succeed to reach the
  reward, and the noise's mean is 0."""
  reach_probability = 1.0 if deterministic else (1.0 - 1.0 / size) ** (size - 1)
  return reach_probability - unscaled_move_cost


def check_settings(size: int, observation_type: str, mapping_seed: int,
                   unscaled_move_cost: float) -> None:
  """InvalidSettingError naming the first bad parameter, if any."""
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
    raise errors.InvalidSettingError(f'DeepSea size must be an integer >= 1, got {size!r}')
  if observation_type not in OBSERVATION_TYPES:
    raise errors.InvalidSettingError(f'unknown DeepSea observation_type {observation_type!r}: '
                                     f'choose one of {", ".join(OBSERVATION_TYPES)}')
  if (isinstance(mapping_seed, bool) or not isinstance(mapping_seed, (int, np.integer))
      or not 0 <= mapping_seed < _LEGACY_SEED_LIMIT):
    raise errors.InvalidSettingError(
        f'DeepSea mapping_seed must be an integer in [0, 2**32), got {mapping_seed!r}')
  try:
    finite_cost = np.isfinite(float(unscaled_move_cost))
  except (TypeError, ValueError):
    finite_cost = False
  if not finite_cost:
    raise errors.InvalidSettingError(
        f'DeepSea unscaled_move_cost must be finite, got {unscaled_move_cost!r}')


def _random_state(seed: int) -> np.random.RandomState:
  # Seeds bsuite could take are seeded as bsuite seeds them; larger ones (gymnasium allows any
  # non-negative integer) through a SeedSequence, which takes them all.
  if seed < _LEGACY_SEED_LIMIT:
    return np.random.RandomState(seed)
  return np.random.RandomState(np.random.MT19937(seed))


class DeepSeaEnv(gymnasium.Env):
  """bsuite's DeepSea as a gymnasium environment (see the module docstring)."""

  metadata = {'render_modes': []}

  def __init__(self, size: int = 10, observation_type: str = 'vector', mapping_seed: int = 42,
               randomize_actions: bool = True, deterministic: bool = True,
               unscaled_move_cost: float = 0.01):
    check_settings(size, observation_type, mapping_seed, unscaled_move_cost)
    self.size = int(size)
    self.observation_type = observation_type
    self.deterministic = deterministic
    self.unscaled_move_cost = float(unscaled_move_cost)
    self.action_mapping = action_mapping(self.size, mapping_seed, randomize_actions)
    self.optimal_return = optimal_return(self.size, deterministic, self.unscaled_move_cost)
    shape = (self.size, self.size) if observation_type == 'pixels' else (self.size ** 2,)
    self.observation_space = gymnasium.spaces.Box(0.0, 1.0, shape, np.float32)
    self.action_space = gymnasium.spaces.Discrete(NUM_ACTIONS)
    self.row, self.column = 0, 0
    self._rng: Optional[np.random.RandomState] = None

  def _observation(self) -> np.ndarray:
    image = np.zeros((self.size, self.size), np.float32)
    if self.row < self.size:  # below the grid after the last step: all zeros, as bsuite
      image[self.row, self.column] = 1.0
    return image.reshape(self.observation_space.shape)

  def _info(self, success: bool = False):
    return {'position': (self.row, self.column), 'success': success}

  def reset(self, *, seed: Optional[int] = None, options=None):
    super().reset(seed=seed)
    # One stream across episodes, as bsuite's: only a seed restarts it. The first unseeded
    # reset draws its seed from np_random, which gymnasium has seeded from entropy.
    if seed is not None:
      self._rng = _random_state(seed)
    elif self._rng is None:
      self._rng = _random_state(int(self.np_random.integers(_LEGACY_SEED_LIMIT)))
    self.row, self.column = 0, 0
    return self._observation(), self._info()

  def step(self, action):
    if self.row >= self.size:
      raise gymnasium.error.ResetNeeded('the DeepSea episode has ended: call reset()')
    right = int(action) == self.action_mapping[self.row, self.column]
    reward = 0.0
    found_treasure = right and self.column == self.size - 1
    if found_treasure:
      reward += 1.0
    # The draws happen in bsuite's order (the noise before the move), so that a seed plays
    # bsuite's episodes exactly.
    if (not self.deterministic and self.row == self.size - 1
        and self.column in (0, self.size - 1)):
      reward += float(self._rng.randn())
    if right:
      if self.deterministic or self._rng.rand() > 1.0 / self.size:
        self.column = min(self.column + 1, self.size - 1)
      reward -= self.unscaled_move_cost / self.size
    else:
      self.column = max(self.column - 1, 0)
    self.row += 1
    return (self._observation(), reward, self.row == self.size, False,
            self._info(found_treasure))


@gin.configurable
def create_deep_sea_environment(size: int = 10,
                                observation_type: str = 'vector',
                                mapping_seed: int = 42,
                                randomize_actions: bool = True,
                                deterministic: bool = True,
                                unscaled_move_cost: float = 0.01) -> gymnasium.Env:
  """DeepSea of `size` (see the module docstring); `deterministic=False` is bsuite's
  deep_sea_stochastic."""
  if ENVIRONMENT_ID not in gymnasium.registry:
    gymnasium.register(ENVIRONMENT_ID, entry_point=DeepSeaEnv)
  # Bad settings are reported here, not from inside gymnasium.make.
  check_settings(size, observation_type, mapping_seed, unscaled_move_cost)
  # Through the registry, so the environment has a spec (its id names it in datasets' metadata)
  # and `gymnasium.make(env.spec)` rebuilds it. Every episode ends after `size` steps.
  return gymnasium.make(ENVIRONMENT_ID, max_episode_steps=None, size=size,
                        observation_type=observation_type, mapping_seed=mapping_seed,
                        randomize_actions=randomize_actions, deterministic=deterministic,
                        unscaled_move_cost=unscaled_move_cost)


# What sweep reports need to know (runner/report): the parameters that name the task.
create_deep_sea_environment.report_task = metrics.TaskDeclaration(('size',))
