"""DSM's reward functions of states: each on hand-computed states (the pendulum at theta = 0, pi/2,
pi, -pi/2; the windy grid world's quadrants and axes), batch shapes, jit and numpy input, agreement
with the environments' own rewards, bad shapes and settings, and gin binding them by name."""

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from continuous_domains import windy_gridworld
from continuous_domains.mujoco import create_mujoco_environment, set_pendulum_state
from offline.dsm import rewards
from runner import errors

PI = np.pi
# Pendulum observations (cos theta, sin theta, theta_dot) at theta = 0 (up), pi/2 (tip left of the
# pivot), pi (down), -pi/2 (tip right), with velocities 0, 2, -3, 1.
PENDULUM_STATES = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 2.0], [-1.0, 0.0, -3.0], [0.0, -1.0, 1.0]])
PENDULUM_EXPECTED = {
    rewards.pendulum_upright: [0.0, -(PI ** 2 / 4 + 0.4), -(PI ** 2 + 0.9), -(PI ** 2 / 4 + 0.1)],
    rewards.pendulum_below_horizon: [0.0, 0.0, -1.0, 0.0],
    rewards.pendulum_stay_left: [0.0, 0.0, 0.0, -1.0],
    rewards.pendulum_stay_right: [0.0, -1.0, 0.0, 0.0],
    rewards.pendulum_reference_stay_right: [0.0, 1.0, 0.0, 0.0],
    rewards.pendulum_angular_velocity_penalty: [0.0, -2.0, -3.0, -1.0],
    rewards.pendulum_counterclockwise: [0.0, 1.0, 0.0, 1.0],
}
WINDY_STATES = np.array([[1.0, 1.0], [2.5, -0.5], [-4.0, 3.0], [-0.1, -5.0], [0.0, 2.0],
                         [-3.0, 0.0], [0.0, 0.0]])
WINDY_EXPECTED = [1.0, -2.0, 2.0, -1.0, 0.0, 0.0, 0.0]
ALL_CASES = [(function, PENDULUM_STATES, expected) for function, expected in
             PENDULUM_EXPECTED.items()] + [
    (rewards.windy_gridworld_quadrants, WINDY_STATES, WINDY_EXPECTED),
    (rewards.CoordinateReward(index=1, scale=-2.0), PENDULUM_STATES, [0.0, -2.0, 0.0, 2.0]),
    (rewards.IndicatorReward(low=(0.0, -1.0), high=(2.5, 1.0)), WINDY_STATES,
     [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0])]
CASE_IDS = [getattr(case[0], '__name__', repr(case[0])) for case in ALL_CASES]


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.mark.parametrize('reward_fn, states, expected', ALL_CASES, ids=CASE_IDS)
def test_rewards_on_hand_computed_states_under_jit_and_on_numpy(reward_fn, states, expected):
  eager = reward_fn(states)  # float64 numpy input
  jitted = jax.jit(reward_fn)(jnp.asarray(states, jnp.float32))
  for result in (eager, jitted):
    assert result.shape == (len(states),) and result.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('reward_fn, states, expected', ALL_CASES, ids=CASE_IDS)
def test_leading_batch_axes_are_kept(reward_fn, states, expected):
  batch = np.broadcast_to(states, (3,) + states.shape)
  result = reward_fn(batch)
  assert result.shape == (3, len(states))
  np.testing.assert_allclose(np.asarray(result), np.broadcast_to(expected, result.shape),
                             rtol=1e-6, atol=1e-6)


def test_below_horizon_between_the_axes():
  states = np.array([[np.cos(t), np.sin(t), 0.0] for t in (PI / 4, 3 * PI / 4, -3 * PI / 4)])
  np.testing.assert_array_equal(rewards.pendulum_below_horizon(states), [0.0, -1.0, -1.0])


def test_pendulum_upright_is_the_pendulums_own_reward_at_zero_torque():
  env = create_mujoco_environment('Pendulum-v1')
  env.reset(seed=0)
  rng = np.random.default_rng(0)
  for theta, theta_dot in zip(rng.uniform(-2 * PI, 2 * PI, 10), rng.uniform(-8, 8, 10)):
    observation = set_pendulum_state(env, (theta, theta_dot))
    reward = env.step(np.zeros(1, np.float32))[1]
    assert float(rewards.pendulum_upright(observation[None])[0]) == pytest.approx(reward, abs=1e-4)


def test_windy_gridworld_quadrants_is_the_environments_reward():
  env = windy_gridworld.create_windy_gridworld_environment(start=None)
  positions, step_rewards = [], []
  observation, _ = env.reset(seed=0)
  for step in range(300):
    positions.append(observation)
    observation, reward, *_ = env.step(step % 4)
    step_rewards.append(reward)
  np.testing.assert_array_equal(rewards.windy_gridworld_quadrants(np.stack(positions)),
                                step_rewards)


def test_states_of_the_wrong_dimension_are_refused():
  with pytest.raises(errors.BadInputError, match=r'pendulum_upright: states must have shape'):
    rewards.pendulum_upright(np.zeros((4, 2)))
  with pytest.raises(errors.BadInputError, match=r'states must have shape \[N, 2\]'):
    rewards.windy_gridworld_quadrants(np.zeros((4, 3)))
  with pytest.raises(errors.BadInputError, match='index 3 is not a coordinate'):
    rewards.CoordinateReward(index=3)(np.zeros((4, 3)))
  with pytest.raises(errors.BadInputError, match='bounds of 2 coordinates'):
    rewards.IndicatorReward(low=(0.0, 0.0), high=(1.0, 1.0))(np.zeros((4, 3)))


def test_general_rewards_check_their_settings_and_are_hashable():
  assert rewards.CoordinateReward(index=-1)(PENDULUM_STATES).tolist() == [0.0, 2.0, -3.0, 1.0]
  scalar_box = rewards.IndicatorReward(low=-1.0, high=1.0)
  assert scalar_box(PENDULUM_STATES).tolist() == [1.0, 0.0, 0.0, 1.0]
  assert hash(rewards.IndicatorReward(low=[0.0, 0.0], high=[1.0, 1.0])) == hash(
      rewards.IndicatorReward(low=(0.0, 0.0), high=(1.0, 1.0)))
  with pytest.raises(ValueError, match='index must be an integer'):
    rewards.CoordinateReward(index=1.5)
  with pytest.raises(ValueError, match='the box is empty'):
    rewards.IndicatorReward(low=(0.0, 2.0), high=(1.0, 1.0))
  with pytest.raises(ValueError, match='different lengths'):
    rewards.IndicatorReward(low=(0.0, 0.0), high=(1.0, 1.0, 1.0))


@gin.configurable
def reward_consumer(reward_fns=None):
  """Stands for DeltaModelLearner.reward_fns: what a gin file hands over."""
  return reward_fns


def test_gin_binds_rewards_by_name_as_callables():
  gin.parse_config("""
      reward_consumer.reward_fns = {
          'upright': @pendulum_upright,
          'quadrants': @offline.dsm.rewards.windy_gridworld_quadrants,
          'height': @height/CoordinateReward(),
          'goal': @IndicatorReward(),
      }
      height/CoordinateReward.index = 1
      height/CoordinateReward.scale = 0.5
      IndicatorReward.low = [0.0, 0.0]
      IndicatorReward.high = [1.0, 1.0]
  """)
  reward_fns = reward_consumer()
  # gin hands over the registered function behind a wrapper that applies its bindings.
  assert reward_fns['upright'].__wrapped__ is rewards.pendulum_upright
  assert reward_fns['quadrants'].__wrapped__ is rewards.windy_gridworld_quadrants
  np.testing.assert_allclose(jax.jit(reward_fns['upright'])(PENDULUM_STATES),
                             PENDULUM_EXPECTED[rewards.pendulum_upright], rtol=1e-6)
  assert reward_fns['height'] == rewards.CoordinateReward(index=1, scale=0.5)
  assert reward_fns['goal'] == rewards.IndicatorReward(low=(0.0, 0.0), high=(1.0, 1.0))
  np.testing.assert_array_equal(reward_fns['goal'](WINDY_STATES[:2]), [1.0, 0.0])
