"""DQN: the update against hand-computed numbers, Dopamine's training clock, replay contents,
truncation vs termination, histograms, a bundle/unbundle round trip that continues bit-for-bit,
and a short CartPole run that must learn."""

import functools
import logging
import math

import flax.linen as nn
import flax.serialization
import gymnasium
import jax
import numpy as np
import optax
import pytest
import tensorboardX

from agents import base
from agents import dqn
from agents import losses
from agents import rainbow
from tests.agents.test_base import read_histograms
from tests.fakes import ScriptedEnv, run_episodes, save_and_load


class Linear(nn.Module):
  num_outputs: int

  @nn.compact
  def __call__(self, x):
    return nn.Dense(self.num_outputs, use_bias=False)(x)


def hand_update(loss_fn, batch):
  """td_update_and_act on a one-weight-per-action network without extensions: (new parameters,
  mean loss, per-transition losses, their Q-values, greedy action for the observation [1])."""
  network = Linear(2)
  params = {'params': {'Dense_0': {'kernel': np.array([[1.0, 2.0]], np.float32)}}}
  target_params = {'params': {'Dense_0': {'kernel': np.array([[3.0, 1.0]], np.float32)}}}
  optimizer = optax.sgd(0.1)
  state = dqn.ValueTrainState(params, target_params, optimizer.init(params), {}, {})
  q_values = functools.partial(dqn.dqn_q_values, network)

  def policy_action(state, observation, key, deterministic, policy):
    del policy
    return dqn.greedy_action(q_values, state.params, observation, key, deterministic)

  state, statistics, per_transition, chosen_q, action = dqn.td_update_and_act(
      functools.partial(dqn.dqn_loss, network, loss_fn),
      lambda extensions, state, batch, key: (extensions, {}), policy_action, optimizer, 0.5,
      state, batch, np.array([1.0], np.float32), jax.random.PRNGKey(0), 0)
  assert state.target_params is target_params and set(statistics) == {'loss'}
  return state.params, statistics['loss'], per_transition, chosen_q, action


BATCH = {'observation': np.array([[1.0]], np.float32), 'action': np.array([0]),
         'reward': np.array([1.0], np.float32), 'next_observation': np.array([[2.0]], np.float32),
         'discount': np.array([0.5], np.float32)}


def test_dqn_update_matches_hand_computation():
  # Q_target(s') = [6, 2] -> target = 1 + 0.5 * 6 = 4; Q(s, 0) = 1; error 3.
  # Huber: 0.5 + (3 - 1) = 2.5, dL/dW00 = -1 * s = -1 -> W00 = 1 + 0.1 = 1.1; W01 untouched.
  new_params, loss, per_transition, chosen_q, action = hand_update(losses.huber_loss, BATCH)
  assert float(loss) == pytest.approx(2.5) and float(per_transition[0]) == pytest.approx(2.5)
  assert float(chosen_q[0]) == pytest.approx(1.0)  # before the update, for the histogram
  np.testing.assert_allclose(new_params['params']['Dense_0']['kernel'], [[1.1, 2.0]], rtol=1e-6)
  assert int(action) == 1  # Q(s) = [1.1, 2.0] under the new parameters
  # MSE: 9, dL/dW00 = -2 * 3 * 1 = -6 -> W00 = 1.6.
  new_params, loss, _, _, _ = hand_update(losses.mse_loss, BATCH)
  assert float(loss) == pytest.approx(9.0)
  np.testing.assert_allclose(new_params['params']['Dense_0']['kernel'], [[1.6, 2.0]], rtol=1e-6)


def test_prioritized_update_weights_each_transition_by_its_importance():
  batch = {key: np.concatenate([value, value]) for key, value in BATCH.items()}
  batch['reward'] = np.array([1.0, 2.0], np.float32)  # errors 3 and 4: MSE 9 and 16
  batch['sampling_probability'] = np.array([0.25, 1.0], np.float32)
  # Weights (1/p)^0.5 / max = [2, 1] / 2 = [1, 0.5]: loss = (9 + 0.5 * 16) / 2 = 8.5.
  # dL/dW00 = (1 * -6 + 0.5 * -8) / 2 = -5 -> W00 = 1.5.
  new_params, loss, per_transition, _, _ = hand_update(losses.mse_loss, batch)
  assert float(loss) == pytest.approx(8.5)
  np.testing.assert_allclose(per_transition, [9.0, 16.0], rtol=1e-6)
  np.testing.assert_allclose(new_params['params']['Dense_0']['kernel'], [[1.5, 2.0]], rtol=1e-6)


def make_agent(env, **overrides):
  settings = dict(seed=0, network=functools.partial(dqn.networks.MLP, hidden_sizes=(8,)),
                  min_replay_history=3, update_period=2, target_update_period=4,
                  replay_capacity=100, batch_size=4, gamma=0.5,
                  epsilon_fn=losses.identity_epsilon, epsilon_train=0.1)
  settings.update(overrides)
  return dqn.DQNAgent(env.observation_space, env.action_space, **settings)


def test_the_hand_written_clock_by_hand():
  # Two 5-step episodes, min_replay_history 3, update_horizon 1, update_period 2, target sync every
  # 4 steps. Steps 0-9 see 0-4 and 6-10 stored rows (the first episode's final observation is a
  # row too): updates at steps 4, 6, 8 (more than 3 rows, even step); the target is synced after
  # the updates at steps 4 and 8, so it lags the online network after step 6 until step 8.
  trace = dopamine_clock(2, 5, min_replay_history=3, update_horizon=1, update_period=2,
                         target_update_period=4)
  assert trace == [(False, True), (False, True), (False, True), (False, True), (True, True),
                   (False, True), (True, False), (False, False), (True, True), (False, True)]


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
  directory, bundle = save_and_load(agent_a, tmp_path)

  # Another seed, and a life of its own first (its jitted functions compiled, updates run): all
  # that matters must come from the bundle.
  agent_b = make_agent(env_b, epsilon_train=0.5, seed=1)
  run_episodes(agent_b, env_b, 2)
  assert agent_b.unbundle(directory, 0, bundle)
  env_b.resets = env_a.resets
  actions_a = run_episodes(agent_a, env_a, 4)
  actions_b = run_episodes(agent_b, env_b, 4)
  assert actions_a == actions_b
  assert agent_a.iteration_statistics() == agent_b.iteration_statistics()
  jax.tree_util.tree_map(np.testing.assert_array_equal, agent_a.state, agent_b.state)


def test_a_bundle_keeps_the_keys_of_checkpoints_written_before_the_train_state(tmp_path):
  # Runs checkpointed before the train state was one pytree hold the main parts under these keys
  # and no extensions: DQN writes exactly those, and reads them back.
  env = ScriptedEnv(episode_length=6)
  agent_a = make_agent(env)
  run_episodes(agent_a, env, 3)
  bundle = agent_a.bundle_and_checkpoint(str(tmp_path), 0)
  # Besides them, only the episode in progress (ReplayAgent's), which older checkpoints lack.
  assert set(bundle) == {'params', 'target_params', 'optimizer_state', 'replay', 'rng',
                         'base_key', 'training_steps', 'action_count', 'episode_observation',
                         'episode_action', 'episode_first_step'}
  for key in ('episode_observation', 'episode_action', 'episode_first_step'):
    del bundle[key]
  jax.tree_util.tree_map(np.testing.assert_array_equal, bundle['params'],
                         flax.serialization.to_state_dict(agent_a.params))
  agent_b = make_agent(env, seed=1)
  assert agent_b.unbundle(str(tmp_path), 0, bundle)
  jax.tree_util.tree_map(np.testing.assert_array_equal, agent_a.state, agent_b.state)


def test_a_checkpoint_of_another_network_size_is_refused_at_unbundle(tmp_path):
  env = ScriptedEnv(episode_length=6)
  agent_a = make_agent(env)
  run_episodes(agent_a, env, 2)
  bundle = agent_a.bundle_and_checkpoint(str(tmp_path), 0)
  agent_b = make_agent(env, network=functools.partial(dqn.networks.MLP, hidden_sizes=(16,)))
  with pytest.raises(ValueError,
                     match=r"state\.params\['params'\]\['Dense_0'\]\['kernel'\] has shape \(8, 2\) "
                           r'in the checkpoint but \(16, 2\) in this agent'):
    agent_b.unbundle(str(tmp_path), 0, bundle)


# Tiny networks for tests that run both the DQN shell's agents.
SMALL_NETWORKS = {
    dqn.DQNAgent: functools.partial(dqn.networks.MLP, hidden_sizes=(8,)),
    rainbow.RainbowAgent: functools.partial(dqn.networks.RainbowNetwork, hidden_size=8,
                                            num_atoms=5, torso=lambda: dqn.networks.MLPTorso((8,))),
}


@pytest.mark.parametrize('agent_class', [dqn.DQNAgent, rainbow.RainbowAgent])
def test_discrete_actions_that_do_not_start_at_zero(agent_class):
  actions = gymnasium.spaces.Discrete(3, start=-1)
  observations = gymnasium.spaces.Box(-1, 1, (2,), np.float32)
  agent = agent_class(observations, actions, min_replay_history=4, update_period=1, batch_size=4,
                      epsilon_fn=losses.identity_epsilon, epsilon_train=0.5,
                      network=SMALL_NETWORKS[agent_class])
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
  # The 5 actions see 0..4 stored rows; more than 2 for the last two.
  assert agent.iteration_statistics()['updates'] == 2


def dopamine_clock(num_episodes, episode_length, min_replay_history, update_horizon,
                   update_period, target_update_period):
  """Dopamine's clock by hand for every action of `num_episodes` ScriptedEnv episodes: (whether
  an update ran at it, whether the target network equals the online one after it).

  Action k of episode e is training step t = e * L + k and sees e * (L + 1) + k stored rows (a
  finished episode stored its L transitions and its final observation). It updates when more than
  max(min_replay_history, update_horizon) rows are stored and t % update_period == 0; then the
  target is synced (after the update) when t % target_update_period == 0 too."""
  trace, synced = [], True
  for episode in range(num_episodes):
    for k in range(episode_length):
      step, rows = episode * episode_length + k, episode * (episode_length + 1) + k
      ready = rows > max(min_replay_history, update_horizon)
      updated = ready and step % update_period == 0
      synced = (synced and not updated) or (ready and step % target_update_period == 0)
      trace.append((updated, synced))
  return trace


def trace_clock(agent, env, num_episodes, target_synced):
  """Runs `num_episodes` training episodes; after every action, (whether an update ran since the
  last one, `target_synced()`), as dopamine_clock gives them."""
  trace = []
  run_episodes(agent, env, num_episodes, after_each_action=lambda: trace.append(
      ('updates' in agent.iteration_statistics(), target_synced())))
  return trace


@pytest.mark.parametrize('agent_class, clock', [
    (dqn.DQNAgent, dict(min_replay_history=5, update_horizon=3, update_period=3,
                        target_update_period=5)),
    (dqn.DQNAgent, dict(min_replay_history=0, update_horizon=2, update_period=1,
                        target_update_period=3)),
    (rainbow.RainbowAgent, dict(min_replay_history=7, update_horizon=3, update_period=2,
                                target_update_period=6)),
])
def test_updates_and_target_syncs_happen_exactly_on_the_clock(agent_class, clock):
  env = ScriptedEnv(episode_length=6)
  agent = agent_class(env.observation_space, env.action_space, network=SMALL_NETWORKS[agent_class],
                      batch_size=4, replay_capacity=100, **clock)
  trace = trace_clock(agent, env, 4, lambda: agent.target_params is agent.params)
  expected = dopamine_clock(4, 6, **clock)
  assert trace == expected
  assert sum(updated for updated, _ in expected) >= 5  # the clock is exercised, not idle


def test_histograms_of_the_iterations_updates_are_written_at_the_iteration(tmp_path):
  env = ScriptedEnv(episode_length=6)
  writer = tensorboardX.SummaryWriter(logdir=str(tmp_path))
  agent = make_agent(env, summary_writer=writer)
  run_episodes(agent, env, 3)
  first = agent.iteration_statistics()
  agent.write_summaries(0)
  agent.eval_mode = True  # evaluation adds nothing
  run_episodes(agent, env, 1)
  agent.eval_mode = False
  run_episodes(agent, env, 1)
  second = agent.iteration_statistics()
  agent.write_summaries(1)
  writer.close()
  histograms = read_histograms(tmp_path)
  assert sorted(histograms) == ['agent/q_values', 'agent/td_loss']  # no priorities: uniform
  for tag in histograms:
    assert [step for step, _ in histograms[tag]] == [0, 1]
    for (_, histogram), statistics in zip(histograms[tag], [first, second]):
      assert histogram.num == statistics['updates'] * 4  # a value per replayed transition
  # Uniform replay: the loss statistic is the mean of the per-transition losses.
  for (_, histogram), statistics in zip(histograms['agent/td_loss'], [first, second]):
    assert histogram.sum / histogram.num == pytest.approx(statistics['loss'], rel=1e-5)
    assert histogram.min >= 0


def test_a_checkpoint_without_the_device_key_resumes_with_the_seeds_key(tmp_path, caplog):
  # Checkpoints written before the key was saved: the agent keeps its own seed's key, the one such
  # a run used, so restored with the run's seed it continues as the uninterrupted run.
  env_a, env_b = ScriptedEnv(episode_length=6), ScriptedEnv(episode_length=6)
  agent_a = make_agent(env_a, epsilon_train=0.5)
  run_episodes(agent_a, env_a, 4)
  directory, bundle = save_and_load(agent_a, tmp_path)
  del bundle['base_key']
  agent_b = make_agent(env_b, epsilon_train=0.5)
  with caplog.at_level(logging.WARNING):
    assert agent_b.unbundle(directory, 0, bundle)
  assert 'no device RNG key' in caplog.text
  env_b.resets = env_a.resets
  assert run_episodes(agent_a, env_a, 4) == run_episodes(agent_b, env_b, 4)


def greedy_cartpole_returns_after_training(seed, training_steps=5000):
  """DQN trained for `training_steps` steps of CartPole-v1 (Dopamine's classic-control settings:
  MSE, Adam 1e-3, inputs scaled to [-1, 1]; a smaller network updated every step, epsilon decaying
  over 1,000 steps), then the returns of 3 greedy episodes."""
  env = gymnasium.make('CartPole-v1')
  bounds = (2.4, 5.0, math.pi / 12, math.pi * 2)
  agent = dqn.DQNAgent(
      env.observation_space, env.action_space, seed=seed,
      network=functools.partial(dqn.networks.MLP, hidden_sizes=(64, 64),
                                min_vals=tuple(-b for b in bounds), max_vals=bounds),
      min_replay_history=500, update_period=1, target_update_period=100,
      epsilon_fn=losses.linearly_decaying_epsilon, epsilon_decay_period=1000, epsilon_train=0.01,
      epsilon_eval=0.0, loss_type='mse', replay_capacity=50000, batch_size=64,
      optimizer=functools.partial(dqn.create_optimizer, learning_rate=1e-3, eps=3.125e-4))
  episode = 0
  while agent.training_steps < training_steps:
    run_episodes(agent, env, 1, seed=1000 * seed + episode)
    episode += 1
  agent.eval_mode = True
  # A reward of 1 per step: an episode's return is its length.
  return [len(run_episodes(agent, env, 1, seed=10**6 + episode)) for episode in range(3)]


def test_learns_cartpole_quickly_enough_to_matter():
  # Not a benchmark: a check that the pieces add up to a learner. 5,000 steps lift the greedy
  # return far above a random policy's ~22 (seeds 0-5 reach 187 to 500, 10-20 s each on 2 cores).
  returns = greedy_cartpole_returns_after_training(seed=0)
  assert np.mean(returns) > 100, returns
