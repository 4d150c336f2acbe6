"""DQN: the update against hand-computed numbers, Dopamine's training clock, replay contents,
truncation vs termination, and a bundle/unbundle round trip that continues bit-for-bit."""

import functools

import flax.linen as nn
import gymnasium
import jax
import numpy as np
import optax
import pytest

from agents import base
from agents import dqn
from agents import losses
from agents import rainbow
from runner import checkpoints
from tests.fakes import ScriptedEnv, run_episodes


class Linear(nn.Module):
  num_outputs: int

  @nn.compact
  def __call__(self, x):
    return nn.Dense(self.num_outputs, use_bias=False)(x)


def hand_update(loss_fn, batch):
  network = Linear(2)
  params = {'params': {'Dense_0': {'kernel': np.array([[1.0, 2.0]], np.float32)}}}
  target_params = {'params': {'Dense_0': {'kernel': np.array([[3.0, 1.0]], np.float32)}}}
  optimizer = optax.sgd(0.1)
  return dqn.td_update_and_act(
      functools.partial(dqn.dqn_loss, network, loss_fn), functools.partial(dqn.dqn_q_values, network),
      optimizer, 0.5, params, target_params, optimizer.init(params), batch,
      np.array([1.0], np.float32), jax.random.PRNGKey(0))


BATCH = {'observation': np.array([[1.0]], np.float32), 'action': np.array([0]),
         'reward': np.array([1.0], np.float32), 'next_observation': np.array([[2.0]], np.float32),
         'discount': np.array([0.5], np.float32)}


def test_dqn_update_matches_hand_computation():
  # Q_target(s') = [6, 2] -> target = 1 + 0.5 * 6 = 4; Q(s, 0) = 1; error 3.
  # Huber: 0.5 + (3 - 1) = 2.5, dL/dW00 = -1 * s = -1 -> W00 = 1 + 0.1 = 1.1; W01 untouched.
  new_params, _, loss, per_transition, action = hand_update(losses.huber_loss, BATCH)
  assert float(loss) == pytest.approx(2.5) and float(per_transition[0]) == pytest.approx(2.5)
  np.testing.assert_allclose(new_params['params']['Dense_0']['kernel'], [[1.1, 2.0]], rtol=1e-6)
  assert int(action) == 1  # Q(s) = [1.1, 2.0] under the new parameters
  # MSE: 9, dL/dW00 = -2 * 3 * 1 = -6 -> W00 = 1.6.
  new_params, _, loss, _, _ = hand_update(losses.mse_loss, BATCH)
  assert float(loss) == pytest.approx(9.0)
  np.testing.assert_allclose(new_params['params']['Dense_0']['kernel'], [[1.6, 2.0]], rtol=1e-6)


def test_prioritized_update_weights_each_transition_by_its_importance():
  batch = {key: np.concatenate([value, value]) for key, value in BATCH.items()}
  batch['reward'] = np.array([1.0, 2.0], np.float32)  # errors 3 and 4: MSE 9 and 16
  batch['sampling_probability'] = np.array([0.25, 1.0], np.float32)
  # Weights (1/p)^0.5 / max = [2, 1] / 2 = [1, 0.5]: loss = (9 + 0.5 * 16) / 2 = 8.5.
  # dL/dW00 = (1 * -6 + 0.5 * -8) / 2 = -5 -> W00 = 1.5.
  new_params, _, loss, per_transition, _ = hand_update(losses.mse_loss, batch)
  assert float(loss) == pytest.approx(8.5)
  np.testing.assert_allclose(per_transition, [9.0, 16.0], rtol=1e-6)
  np.testing.assert_allclose(new_params['params']['Dense_0']['kernel'], [[1.5, 2.0]], rtol=1e-6)


def make_agent(env, **overrides):
  settings = dict(network=functools.partial(dqn.networks.MLP, hidden_sizes=(8,)),
                  min_replay_history=3, update_period=2, target_update_period=4,
                  replay_capacity=100, batch_size=4, gamma=0.5,
                  epsilon_fn=losses.identity_epsilon, epsilon_train=0.1)
  settings.update(overrides)
  return dqn.DQNAgent(env.observation_space, env.action_space, seed=0, **settings)


def test_training_clock_follows_dopamine():
  env = ScriptedEnv(episode_length=5)
  agent = make_agent(env)
  trace = []  # (training_steps after the call, updates so far, target synced with online?)
  for _ in range(2):
    observation, _ = env.reset()
    action = agent.begin_episode(observation)
    trace.append((agent.training_steps, len(agent._losses), agent.target_params is agent.params))
    while True:
      observation, reward, terminated, truncated, _ = env.step(action)
      if terminated or truncated:
        agent.end_episode(reward, terminated, observation)
        break
      action = agent.step(reward, observation)
      trace.append((agent.training_steps, len(agent._losses), agent.target_params is agent.params))
  # training_steps counts begin_episode and step calls. An update needs more than 3 replay rows and
  # training_steps % 2 == 0 at the call (calls at steps 4, 6, 8 with 4, 7, 9 rows, the first
  # episode's final observation being a row too); the target
  # is synced after the update at steps 4 and 8, so it lags the online network after step 6.
  assert trace == [(1, 0, True), (2, 0, True), (3, 0, True), (4, 0, True), (5, 1, True),
                   (6, 1, True), (7, 2, False), (8, 2, False), (9, 3, True), (10, 3, True)]
  assert agent.iteration_statistics()['updates'] == 3


def test_replay_discounts_zero_on_termination_and_bootstraps_on_truncation():
  for ends_by, expected_discount in [('termination', 0.0), ('truncation', 0.5)]:
    env = ScriptedEnv(episode_length=3, ends_by=ends_by)
    agent = make_agent(env, min_replay_history=1000)
    run_episodes(agent, env, 1)
    assert agent.replay.add_count == 4  # three steps and the final observation
    batch = agent.replay.gather(np.arange(3))
    np.testing.assert_allclose(batch['discount'], [0.5, 0.5, expected_discount])
    # The final transition's next observation is the real last observation [3, 0].
    np.testing.assert_array_equal(batch['next_observation'][-1], [3.0, 0.0])


def test_truncation_without_final_observation_drops_the_last_transition():
  env = ScriptedEnv(episode_length=3)
  agent = make_agent(env, min_replay_history=1000)
  observation, _ = env.reset()
  action = agent.begin_episode(observation)
  for _ in range(2):
    observation, reward, *_ = env.step(action)
    action = agent.step(reward, observation)
  agent.end_episode(1.0, False)  # Dopamine's two-argument form
  # Rows: o0 and o1 with their actions, then o2 as the episode's final observation.
  np.testing.assert_array_equal(agent.replay.is_valid_start(np.arange(3)), [True, True, False])
  batch = agent.replay.gather(np.array([1]))
  np.testing.assert_array_equal(batch['next_observation'][0], [2.0, 0.0])
  assert batch['discount'][0] == 0.5


def test_eval_mode_neither_stores_nor_trains():
  env = ScriptedEnv(episode_length=4)
  agent = make_agent(env)
  agent.eval_mode = True
  run_episodes(agent, env, 3)
  assert agent.replay.add_count == 0 and agent.training_steps == 0


def test_act_is_greedy_or_epsilon_greedy_and_leaves_no_trace():
  env = ScriptedEnv(episode_length=4, num_actions=3)
  agent = make_agent(env, epsilon_eval=0.5)
  run_episodes(agent, env, 3)
  add_count, training_steps = agent.replay.add_count, agent.training_steps
  observation = np.array([1.0, 0.0], np.float32)
  greedy = int(np.argmax(agent.network.apply(agent.params, observation[None])[0]))
  assert {agent.act(observation) for _ in range(20)} == {greedy}
  assert len({agent.act(observation, deterministic=False) for _ in range(200)}) == 3
  assert (agent.replay.add_count, agent.training_steps) == (add_count, training_steps)


def test_incompatible_spaces_are_named():
  box_actions = gymnasium.spaces.Box(-1, 1, (2,))
  observations = gymnasium.spaces.Box(-1, 1, (3,))
  with pytest.raises(base.IncompatibleSpaceError, match=r'DQNAgent.*action space.*Box.*Discrete'):
    dqn.DQNAgent(observations, box_actions)
  with pytest.raises(base.IncompatibleSpaceError, match=r'DQNAgent.*observation space.*Discrete'):
    dqn.DQNAgent(gymnasium.spaces.Discrete(3), gymnasium.spaces.Discrete(2))


def test_bundle_round_trip_continues_bit_for_bit(tmp_path):
  env_a, env_b = ScriptedEnv(episode_length=6), ScriptedEnv(episode_length=6)
  agent_a = make_agent(env_a, epsilon_train=0.5)
  run_episodes(agent_a, env_a, 4)
  agent_a.iteration_statistics()
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  checkpointer.save(0, {}, lambda directory: agent_a.bundle_and_checkpoint(directory, 0))
  directory, _, bundle = checkpointer.load(0)

  agent_b = make_agent(env_b, epsilon_train=0.5)
  assert agent_b.unbundle(directory, 0, bundle)
  env_b.resets = env_a.resets
  actions_a = run_episodes(agent_a, env_a, 4)
  actions_b = run_episodes(agent_b, env_b, 4)
  assert actions_a == actions_b
  assert agent_a.iteration_statistics() == agent_b.iteration_statistics()
  jax.tree_util.tree_map(np.testing.assert_array_equal, agent_a.params, agent_b.params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, agent_a.optimizer_state,
                         agent_b.optimizer_state)


def test_a_checkpoint_of_another_network_size_is_refused_at_unbundle(tmp_path):
  env = ScriptedEnv(episode_length=6)
  agent_a = make_agent(env)
  run_episodes(agent_a, env, 2)
  bundle = agent_a.bundle_and_checkpoint(str(tmp_path), 0)
  agent_b = make_agent(env, network=functools.partial(dqn.networks.MLP, hidden_sizes=(16,)))
  with pytest.raises(ValueError,
                     match=r"params\['params'\]\['Dense_0'\]\['kernel'\] has shape \(8, 2\) in the "
                           r'checkpoint but \(16, 2\) in this agent'):
    agent_b.unbundle(str(tmp_path), 0, bundle)


@pytest.mark.parametrize('agent_class', [dqn.DQNAgent, rainbow.RainbowAgent])
def test_discrete_actions_that_do_not_start_at_zero(agent_class):
  actions = gymnasium.spaces.Discrete(3, start=-1)
  observations = gymnasium.spaces.Box(-1, 1, (2,), np.float32)
  network = {dqn.DQNAgent: functools.partial(dqn.networks.MLP, hidden_sizes=(8,)),
             rainbow.RainbowAgent: functools.partial(
                 dqn.networks.RainbowNetwork, hidden_size=8, num_atoms=5,
                 torso=lambda: dqn.networks.MLPTorso((8,)))}[agent_class]
  agent = agent_class(observations, actions, min_replay_history=4, update_period=1, batch_size=4,
                      epsilon_fn=losses.identity_epsilon, epsilon_train=0.5, network=network)
  taken = [agent.begin_episode(observations.sample())]
  for _ in range(30):
    taken.append(agent.step(1.0, observations.sample()))
  agent.eval_mode = True
  taken += [agent.begin_episode(observations.sample()),
            agent.act(observations.sample(), deterministic=False),
            agent.act(observations.sample(), deterministic=True)]
  assert all(actions.contains(action) for action in taken), taken
  if agent_class is dqn.DQNAgent:  # epsilon-greedy reaches every action (Rainbow's noise may not)
    assert set(taken[:31]) == {-1, 0, 1}
  # The replay keeps the network's indices.
  assert set(agent.replay._action[:len(agent.replay)].ravel()) <= {0, 1, 2}


@pytest.mark.parametrize('update_horizon', [1, 3])
def test_a_warm_up_shorter_than_a_transition_waits_for_one(update_horizon):
  env = ScriptedEnv(episode_length=20)
  agent = make_agent(env, min_replay_history=0, update_period=1, update_horizon=update_horizon)
  run_episodes(agent, env, 1)
  # The 20 actions see 0, 1, ..., 19 stored rows; updates start once more than update_horizon are.
  assert agent.iteration_statistics()['updates'] == 19 - update_horizon


def test_restore_pytree_refuses_another_structure_or_shape():
  template = {'a': np.zeros(3), 'b': np.zeros(2)}
  restored = base.restore_pytree(template, {'a': np.ones(3), 'b': np.ones(2)}, 'params')
  np.testing.assert_array_equal(restored['a'], np.ones(3))
  with pytest.raises(ValueError, match='params in the checkpoint is structured as'):
    base.restore_pytree(template, {'a': {'x': np.ones(3), 'y': np.ones(2)}, 'b': np.ones(2)},
                        'params')
  with pytest.raises(ValueError, match=r"params\['b'\] has shape \(4,\) in the checkpoint"):
    base.restore_pytree(template, {'a': np.ones(3), 'b': np.ones(4)}, 'params')


def test_generator_state_round_trip():
  generator = np.random.default_rng(123)
  generator.random(7)
  generator.integers(10)  # leaves a buffered 32-bit half in the state
  copy = base.generator_from_array(base.generator_state_to_array(generator))
  np.testing.assert_array_equal(generator.integers(0, 1000, 20), copy.integers(0, 1000, 20))
  np.testing.assert_array_equal(generator.random(5), copy.random(5))


def test_matrix_observations_are_flattened_by_the_mlp():
  observations = gymnasium.spaces.Box(-1, 1, (2, 3), np.float32)
  agent = dqn.DQNAgent(observations, gymnasium.spaces.Discrete(4), min_replay_history=2,
                       update_period=1, batch_size=2,
                       network=functools.partial(dqn.networks.MLP, hidden_sizes=(8,)))
  observation = np.zeros((2, 3), np.float32)
  agent.begin_episode(observation)
  for _ in range(4):
    assert 0 <= agent.step(0.0, observation) < 4
  assert agent.iteration_statistics()['updates'] >= 1
