"""Reward functions of states, for reading returns out of a DSM delta-model.

A delta-model (offline/dsm/delta_model.py) learns distributions over the discounted occupancy of
states, not over returns: atom i's return for a reward r is E_{x ~ atom i}[r(x)] / (1 - gamma). So
one trained model gives the return distribution of any reward function of the state alone, chosen
after training and without retraining; these are such functions (the reference's, and two general
ones for users' own rewards and tests).

Each maps states [N, state_dim] (numpy or JAX arrays; leading batch axes of any shape work too) to
rewards [N], float32. They are written with jax.numpy, so they run inside jit as well as on numpy
input. They are registered with gin by name, to be handed over as callables:
`DeltaModelLearner.reward_fns = {'upright': @pendulum_upright, 'x': @CoordinateReward()}`
(scopes tell several configured ones apart: `@height/CoordinateReward()` with
`height/CoordinateReward.index = 1`).

Pendulum-v1's observation is (cos theta, sin theta, theta_dot): theta is the angle from upright,
counterclockwise as gymnasium draws it (the tip is at (-sin theta, cos theta) from the pivot), so
sin theta > 0 puts the tip left of the pivot and theta_dot > 0 turns it counterclockwise.
"""

import dataclasses
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import gin
import jax
import jax.numpy as jnp
import numpy as np

from continuous_domains import windy_gridworld
from runner import errors

Array = Union[np.ndarray, jax.Array]
PENDULUM_STATE_DIM = 3
WINDY_GRIDWORLD_STATE_DIM = 2


def _states(states: Array, state_dim: int, name: str) -> jax.Array:
  """`states` as a float32 JAX array, checked to be a batch of `state_dim`-dimensional states.
  Shapes are static under jit, so the check costs nothing there."""
  states = jnp.asarray(states, dtype=jnp.float32)
  if states.ndim < 1 or states.shape[-1] != state_dim:
    raise errors.BadInputError(f'{name}: states must have shape [N, {state_dim}], got '
                               f'{states.shape}')
  return states


def reward_name(reward_fn: Callable[[Any], Any]) -> str:
  """A reward function's name: the function's own (through gin's wrapper), or its class's."""
  reward_fn = getattr(reward_fn, '__wrapped__', reward_fn)
  return getattr(reward_fn, '__name__', type(reward_fn).__name__)


def rewards_of(reward_fn: Callable[[Any], Any], states: np.ndarray,
               name: Optional[str] = None) -> np.ndarray:
  """`reward_fn`'s rewards for states [N, state_dim], float64 [N]; a BadInputError naming the
  function (`name`, or its own) unless it gives one reward per state."""
  rewards = np.asarray(reward_fn(states), np.float64)
  if rewards.shape != states.shape[:1]:
    raise errors.BadInputError(
        f'the reward function {name or reward_name(reward_fn)!r} gave rewards of shape '
        f'{rewards.shape} for states of shape {states.shape}: it must give one reward per state')
  return rewards


def angle_normalize(theta: Array) -> jax.Array:
  """theta wrapped into [-pi, pi), as gymnasium's Pendulum does for its cost."""
  return (theta + jnp.pi) % (2 * jnp.pi) - jnp.pi


@gin.register
def pendulum_upright(states: Array) -> jax.Array:
  """Pendulum-v1's own reward without its action penalty (the reference's default):
  -(theta^2 + 0.1 theta_dot^2), theta wrapped into [-pi, pi). 0 balanced upright and still, about
  -9.87 hanging down and still."""
  states = _states(states, PENDULUM_STATE_DIM, 'pendulum_upright')
  theta = jnp.arctan2(states[..., 1], states[..., 0])
  return -(angle_normalize(theta) ** 2 + 0.1 * states[..., 2] ** 2)


@gin.register
def pendulum_below_horizon(states: Array) -> jax.Array:
  """-1 while the tip is below the pivot's horizontal, |theta| > pi/2, else 0 (the reference's
  'Above Horizon' without its action penalty). Read from cos theta < 0, which is that same set
  without an arctan's rounding at theta = +-pi/2."""
  states = _states(states, PENDULUM_STATE_DIM, 'pendulum_below_horizon')
  return -(states[..., 0] < 0).astype(jnp.float32)


@gin.register
def pendulum_stay_left(states: Array) -> jax.Array:
  """min(sin theta, 0) (the reference's 'Stay Left'): 0 anywhere in the left half (tip left of
  the pivot), -|sin theta| in the right half, worst at theta = -pi/2 (pointing right)."""
  states = _states(states, PENDULUM_STATE_DIM, 'pendulum_stay_left')
  return jnp.minimum(states[..., 1], 0.0)


@gin.register
def pendulum_stay_right(states: Array) -> jax.Array:
  """min(-sin theta, 0), the mirror image of `pendulum_stay_left`: 0 anywhere in the right half
  (tip right of the pivot), -|sin theta| in the left half, worst at theta = pi/2 (pointing left).

  Not the reference's 'Stay Right', max(sin theta, 0), which is positive in the left half and so
  rewards the left, like its 'Stay Left' (`pendulum_reference_stay_right` keeps it)."""
  states = _states(states, PENDULUM_STATE_DIM, 'pendulum_stay_right')
  return jnp.minimum(-states[..., 1], 0.0)


@gin.register
def pendulum_reference_stay_right(states: Array) -> jax.Array:
  """max(sin theta, 0), the reference's 'Stay Right' as its code has it, for comparisons with the
  paper's figures: sin theta in the left half (best at theta = pi/2, pointing left), 0 in the
  right half. Despite its name it rewards the left half; `pendulum_stay_right` rewards the right."""
  states = _states(states, PENDULUM_STATE_DIM, 'pendulum_reference_stay_right')
  return jnp.maximum(states[..., 1], 0.0)


@gin.register
def pendulum_angular_velocity_penalty(states: Array) -> jax.Array:
  """-|theta_dot|: the faster the pendulum turns, either way, the lower."""
  states = _states(states, PENDULUM_STATE_DIM, 'pendulum_angular_velocity_penalty')
  return -jnp.abs(states[..., 2])


@gin.register
def pendulum_counterclockwise(states: Array) -> jax.Array:
  """1 while the pendulum turns counterclockwise, theta_dot > 0, else 0 (the reference's 'Counter
  Clockwise Penalty', which is this indicator)."""
  states = _states(states, PENDULUM_STATE_DIM, 'pendulum_counterclockwise')
  return (states[..., 2] > 0).astype(jnp.float32)


@gin.register
def windy_gridworld_quadrants(states: Array) -> jax.Array:
  """The windy grid world's quadrant reward (continuous_domains/windy_gridworld.py): +1 for
  x > 0, y > 0; -2 for x > 0, y < 0; +2 for x < 0, y > 0; -1 for x < 0, y < 0; 0 on an axis."""
  states = _states(states, WINDY_GRIDWORLD_STATE_DIM, 'windy_gridworld_quadrants')
  signs = jnp.sign(states).astype(jnp.int32) + 1
  return jnp.asarray(_QUADRANT_TABLE)[signs[..., 0], signs[..., 1]]


def _quadrant_table() -> np.ndarray:
  """The quadrant reward looked up by (sign of x + 1, sign of y + 1): a sign of 0, an axis, is 0."""
  table = np.zeros((3, 3), np.float32)
  for (x_sign, y_sign), value in windy_gridworld.QUADRANT_REWARDS.items():
    table[x_sign + 1, y_sign + 1] = value
  return table


_QUADRANT_TABLE = _quadrant_table()


@gin.configurable
@dataclasses.dataclass(frozen=True)
class CoordinateReward:
  """scale * states[:, index]: a reward linear in one coordinate of the state (a height, a
  position along a corridor). A frozen dataclass, so a jitted function can take it as static."""
  index: int
  scale: float = 1.0

  def __post_init__(self):
    if not isinstance(self.index, (int, np.integer)) or isinstance(self.index, bool):
      raise errors.InvalidSettingError(f'CoordinateReward: index must be an integer, got '
                                       f'{self.index!r}')

  def __call__(self, states: Array) -> jax.Array:
    states = jnp.asarray(states, dtype=jnp.float32)
    if states.ndim < 1 or not -states.shape[-1] <= self.index < states.shape[-1]:
      raise errors.BadInputError(f'CoordinateReward: index {self.index} is not a coordinate of '
                                 f'states of shape {states.shape}')
    return self.scale * states[..., self.index]


@gin.configurable
@dataclasses.dataclass(frozen=True)
class IndicatorReward:
  """1 while every coordinate of the state lies in the box [low, high] (bounds included), else 0:
  a goal region. `low` and `high` are one number for every coordinate or one per coordinate."""
  low: Union[float, Tuple[float, ...]]
  high: Union[float, Tuple[float, ...]]

  def __post_init__(self):
    # Stored as tuples (gin hands over lists), so the reward stays hashable.
    for field in ('low', 'high'):
      value = getattr(self, field)
      bound = np.asarray(value, dtype=np.float64)
      if bound.ndim > 1 or bound.size == 0 or np.any(np.isnan(bound)):
        raise errors.InvalidSettingError(f'IndicatorReward: {field} must be a number or a '
                                         f'sequence of numbers, got {value!r}')
      object.__setattr__(self, field, float(bound) if bound.ndim == 0 else
                         tuple(float(number) for number in bound))
    low, high = np.asarray(self.low), np.asarray(self.high)
    if low.shape != high.shape and low.ndim and high.ndim:
      raise errors.InvalidSettingError(f'IndicatorReward: low {self.low} and high {self.high} '
                                       f'have different lengths')
    if np.any(low > high):
      raise errors.InvalidSettingError(f'IndicatorReward: low {self.low} exceeds high '
                                       f'{self.high}: the box is empty')

  def __call__(self, states: Array) -> jax.Array:
    states = jnp.asarray(states, dtype=jnp.float32)
    for bound in (self.low, self.high):
      if isinstance(bound, Sequence) and (states.ndim < 1 or len(bound) != states.shape[-1]):
        raise errors.BadInputError(f'IndicatorReward: bounds of {len(bound)} coordinates for '
                                   f'states of shape {states.shape}')
    low = jnp.asarray(self.low, dtype=jnp.float32)
    high = jnp.asarray(self.high, dtype=jnp.float32)
    inside = jnp.all((states >= low) & (states <= high), axis=-1)
    return inside.astype(jnp.float32)
