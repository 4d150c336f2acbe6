"""Batched acting (`act_batch`): SAC's one jitted call against `act` row by row, the base class's
loop, and the data policies that Monte Carlo rollouts drive (UniformRandomPolicy, AgentPolicy)."""

import gymnasium
import numpy as np
import pytest

from agents import base
from agents import sac
from offline.collection import AgentPolicy
from offline.controllers import UniformRandomPolicy
from tests.fakes import PointEnv


def make_sac(env, seed=0):
  return sac.SACAgent(env.observation_space, env.action_space, seed=seed,
                      critic_network=lambda: sac.networks.EnsembleQNetwork(hidden_sizes=(16,)),
                      actor_network=lambda action_dim: sac.networks.TanhGaussianActor(
                          action_dim, hidden_sizes=(16,)))


def observations(count=6):
  return np.random.default_rng(0).normal(size=(count, 2)).astype(np.float32) * 3


def test_sac_deterministic_act_batch_equals_act_row_by_row_in_the_env_bounds():
  env = PointEnv(low=(0.0, -3.0), high=(1.0, -1.0))
  agent = make_sac(env)
  batch = agent.act_batch(observations(), deterministic=True)
  assert batch.shape == (6, 2) and batch.dtype == np.float32
  rows = np.stack([agent.act(observation, deterministic=True) for observation in observations()])
  np.testing.assert_allclose(batch, rows, rtol=1e-6, atol=1e-6)
  assert np.all(batch[:, 0] >= 0) and np.all(batch[:, 0] <= 1)
  assert np.all(batch[:, 1] >= -3) and np.all(batch[:, 1] <= -1)


def test_sac_stochastic_act_batch_is_consecutive_acts_reproducible_and_differs_by_row():
  env = PointEnv(low=(-2.0,), high=(2.0,))
  same = np.zeros((8, 2), np.float32)  # one observation eight times: only the keys differ
  first, second, stepwise = make_sac(env), make_sac(env), make_sac(env)
  batch = first.act_batch(same, deterministic=False)
  assert first.action_count == 8
  np.testing.assert_array_equal(batch, second.act_batch(same, deterministic=False))
  assert len(np.unique(batch)) == 8
  # Row i draws with the key of the i-th of eight consecutive `act` calls.
  rows = np.stack([stepwise.act(observation, deterministic=False) for observation in same])
  np.testing.assert_allclose(batch, rows, rtol=1e-6, atol=1e-6)
  # The counter moved on, so the next batch draws afresh.
  assert not np.allclose(batch, first.act_batch(same, deterministic=False))
  assert batch.shape == (8, 1)


class CountingAgent(base.Agent):
  """Acts with the sum of the observation plus the number of actions so far."""

  def __init__(self):
    space = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    super().__init__(space, gymnasium.spaces.Box(-10, 10, (1,), np.float32))
    self.count = 0

  def act(self, observation, deterministic=True):
    self.count += 1
    return np.array([observation.sum() + self.count], np.float32)

  begin_episode = step = end_episode = bundle_and_checkpoint = unbundle = None


def test_the_base_act_batch_is_act_on_each_row_in_turn():
  agent = CountingAgent()
  batch = agent.act_batch(np.array([[1.0, 2.0], [0.0, 0.0], [5.0, -5.0]], np.float32))
  np.testing.assert_array_equal(batch, [[4.0], [2.0], [3.0]])


def test_uniform_random_policy_act_batch_over_a_box_and_a_discrete_space():
  policy = UniformRandomPolicy()
  box = PointEnv(low=(0.0, -3.0), high=(1.0, -1.0))
  policy.reset(box, None, {}, np.random.default_rng(0))
  actions = policy.act_batch(np.zeros((500, 2)), np.random.default_rng(1))
  assert actions.shape == (500, 2) and actions.dtype == np.float32
  assert all(box.action_space.contains(action) for action in actions)
  np.testing.assert_array_equal(actions, policy.act_batch(np.zeros((500, 2)),
                                                          np.random.default_rng(1)))
  discrete = gymnasium.make('CartPole-v1')
  policy.reset(discrete, None, {}, np.random.default_rng(0))
  actions = policy.act_batch(np.zeros((400, 4)), np.random.default_rng(2))
  assert actions.shape == (400,) and set(actions.tolist()) == {0, 1}


def test_uniform_random_policy_act_batch_needs_a_reset():
  with pytest.raises(RuntimeError, match='before reset'):
    UniformRandomPolicy().act_batch(np.zeros((2, 2)), np.random.default_rng(0))


def test_agent_policy_act_batch_is_its_agents_act_batch():
  env = PointEnv()
  policy = AgentPolicy(run_dir='unused', deterministic=False)
  with pytest.raises(RuntimeError, match='before reset'):
    policy.act_batch(observations(), np.random.default_rng(0))
  policy._agent = make_sac(env)  # as `reset` would have loaded it from a run directory
  expected = make_sac(env).act_batch(observations(), deterministic=False)
  np.testing.assert_array_equal(policy.act_batch(observations(), np.random.default_rng(0)),
                                expected)
