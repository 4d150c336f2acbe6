"""The DQN/Rainbow shell's extension points at work in a method of DCEO's kind: a RainbowAgent
subclass with an auxiliary Q-network (its own parameters, Adam state and target) trained on an
intrinsic reward inside Rainbow's jitted update, and a second policy, greedy with respect to it.
The subclass overrides hooks only; each test shows one extension point."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents import dqn
from agents import losses
from agents import networks
from agents import rainbow
from tests.agents.test_dqn import dopamine_clock, trace_clock
from tests.fakes import ScriptedEnv, run_episodes, save_and_load


def intrinsic_batch(batch):
  """The batch with DCEO's kind of intrinsic reward, phi(s') - phi(s), for phi = the first
  observation entry (ScriptedEnv's step index)."""
  return dict(batch, reward=batch['next_observation'][:, 0] - batch['observation'][:, 0])


def auxiliary_loss(network, params, target_params, batch):
  """The auxiliary network's mean DQN loss (MSE) on the batch's intrinsic rewards."""
  per_transition, _ = dqn.dqn_loss(network, losses.mse_loss, params, target_params,
                                   intrinsic_batch(batch), None)
  return jnp.mean(per_transition)


class AuxiliaryValueRainbow(rainbow.RainbowAgent):
  """Rainbow and an auxiliary Q-network learning the intrinsic reward with a target of its own;
  policy 1 acts greedily with respect to it. `acting_policy` is the policy every training step
  acts with; `extension_traces` counts how often the extension's update was traced."""

  def __init__(self, observation_space, action_space, acting_policy=0, **rainbow_arguments):
    self.acting_policy = acting_policy
    self.extension_traces = 0
    self.auxiliary_network = networks.MLP(num_outputs=int(action_space.n), hidden_sizes=(8,))
    self.auxiliary_optimizer = optax.adam(1e-2)
    super().__init__(observation_space, action_space, **rainbow_arguments)

  def init_extensions(self, key, sample_observations):
    params = self.auxiliary_network.init(key, sample_observations)
    return {'params': params, 'optimizer_state': self.auxiliary_optimizer.init(params)}, params

  def extension_update(self, extensions, state, batch, key):
    self.extension_traces += 1
    value, gradients = jax.value_and_grad(functools.partial(
        auxiliary_loss, self.auxiliary_network))(extensions['params'], state.extension_targets,
                                                 batch)
    updates, optimizer_state = self.auxiliary_optimizer.update(
        gradients, extensions['optimizer_state'], extensions['params'])
    return ({'params': optax.apply_updates(extensions['params'], updates),
             'optimizer_state': optimizer_state}, {'auxiliary_loss': value})

  def sync_targets(self, state):
    state = super().sync_targets(state)
    return state._replace(extension_targets=state.extensions['params'])

  def policy_action(self, state, observation, key, deterministic, policy):
    auxiliary_q = self.auxiliary_network.apply(state.extensions['params'], observation[None])[0]
    return jnp.where(policy == 1, jnp.argmax(auxiliary_q),
                     super().policy_action(state, observation, key, deterministic, policy))

  def choose_policy(self):
    return self.acting_policy


def make_agent(env, agent_class=AuxiliaryValueRainbow, **overrides):
  # No noisy layers and no epsilon: each action is a function of the state alone, so the tests
  # can recompute it.
  settings = dict(network=functools.partial(
                      networks.RainbowNetwork, hidden_size=8,
                      torso=functools.partial(networks.MLPTorso, hidden_sizes=(8,))),
                  num_atoms=11, vmax=5.0, noisy=False, epsilon_fn=losses.identity_epsilon,
                  epsilon_train=0.0, epsilon_eval=0.0, min_replay_history=4, update_period=2,
                  target_update_period=4, replay_capacity=100, batch_size=4, gamma=0.5,
                  update_horizon=3, seed=0)
  settings.update(overrides)
  return agent_class(env.observation_space, env.action_space, **settings)


def count_calls(agent, name):
  """Replaces the agent's jitted function `name` with a wrapper counting its calls."""
  calls = [0]
  function = getattr(agent, name)

  def counted(*args):
    calls[0] += 1
    return function(*args)

  setattr(agent, name, counted)
  return calls


def jitted_calls_per_step(agent):
  """(record, calls_per_step): after each action, record() appends (fused update calls, acting
  calls) made since the previous record()."""
  update_calls = count_calls(agent, '_update_and_act')
  act_calls = count_calls(agent, '_act_fn')
  calls_per_step = []

  def record():
    calls_per_step.append((update_calls[0], act_calls[0]))
    update_calls[0] = act_calls[0] = 0

  return record, calls_per_step


def test_the_extension_learns_on_the_replayed_batch_inside_the_one_jitted_call_per_step():
  env = ScriptedEnv(episode_length=6, num_actions=3)
  agent = make_agent(env)
  updates = []  # (batch, state before the update)
  sample = agent.replay.sample

  def spy_sample(*args, **kwargs):
    batch = sample(*args, **kwargs)
    updates.append((dict(batch), agent.state))
    return batch

  agent.replay.sample = spy_sample
  record, calls_per_step = jitted_calls_per_step(agent)
  for _ in range(4):
    observation, _ = env.reset()
    agent.begin_episode(observation)
    record()
    for _ in range(5):
      observation, reward, *_ = env.step(0)
      agent.step(reward, observation)
      record()
    agent.end_episode(1.0, True, env.step(0)[0])
  statistics = agent.iteration_statistics()

  # A step that updates is one call of the fused update, and acting is not another; a step
  # without an update is one acting call. The extension was traced once, into the compiled update.
  assert statistics['updates'] == len(updates) >= 8
  assert calls_per_step.count((1, 0)) == len(updates)
  assert calls_per_step.count((0, 1)) == len(calls_per_step) - len(updates)
  assert agent.extension_traces == 1

  # Each update took an Adam step of the auxiliary network on the batch Rainbow's step replayed,
  # against the auxiliary target of that moment; its losses are the iteration's statistic.
  after = [state.extensions for _, state in updates[1:]] + [agent.state.extensions]
  loss_values = []
  for (batch, before), extensions in zip(updates, after):
    del batch['indices']
    value, gradients = jax.value_and_grad(auxiliary_loss, argnums=1)(
        agent.auxiliary_network, before.extensions['params'], before.extension_targets, batch)
    step, _ = agent.auxiliary_optimizer.update(gradients, before.extensions['optimizer_state'],
                                               before.extensions['params'])
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
                 extensions['params'], optax.apply_updates(before.extensions['params'], step))
    loss_values.append(value)
  assert statistics['auxiliary_loss'] == pytest.approx(float(np.mean(loss_values)), rel=1e-5)
  assert set(statistics) == {'epsilon', 'loss', 'auxiliary_loss', 'updates'}


def test_the_extensions_target_syncs_on_the_target_clock():
  env = ScriptedEnv(episode_length=6)
  clock = dict(min_replay_history=5, update_horizon=3, update_period=2, target_update_period=3)
  agent = make_agent(env, **clock)

  def auxiliary_synced():
    synced = agent.state.extension_targets is agent.state.extensions['params']
    assert synced == (agent.target_params is agent.params)  # on the main target's clock
    return synced

  trace = trace_clock(agent, env, 4, auxiliary_synced)
  expected = dopamine_clock(4, 6, **clock)
  assert trace == expected
  assert sum(not synced for _, synced in expected) >= 3  # the target does lag between syncs


@pytest.mark.parametrize('policy', [0, 1])
def test_the_chosen_policy_acts_in_training_and_the_main_one_in_evaluation(policy):
  env = ScriptedEnv(episode_length=6, num_actions=3)
  agent = make_agent(env, acting_policy=policy)

  def greedy(which, observation):
    if which == 1:
      q_values = agent.auxiliary_network.apply(agent.state.extensions['params'], observation[None])
    else:
      q_values = agent._q_values(agent.params, observation[None], jax.random.PRNGKey(0), True)
    return int(np.argmax(q_values[0]))

  disagreements = 0
  for episode in range(6):
    agent.eval_mode = episode % 3 == 2
    observation, _ = env.reset()
    action = agent.begin_episode(observation)
    while True:
      # The action of the state after this step's update, if there was one.
      assert action == greedy(0 if agent.eval_mode else policy, observation)
      disagreements += greedy(0, observation) != greedy(1, observation)
      observation, reward, terminated, truncated, _ = env.step(action)
      if terminated or truncated:
        agent.end_episode(reward, terminated, observation)
        break
      action = agent.step(reward, observation)
  assert agent.iteration_statistics()['updates'] >= 5
  assert disagreements >= 5  # the two policies are told apart


def test_a_checkpoint_round_trip_continues_bit_for_bit_with_no_checkpoint_code(tmp_path):
  env_a, env_b = ScriptedEnv(episode_length=6), ScriptedEnv(episode_length=6)
  agent_a = make_agent(env_a, acting_policy=1, epsilon_train=0.3)
  run_episodes(agent_a, env_a, 4)
  agent_a.iteration_statistics()
  directory, bundle = save_and_load(agent_a, tmp_path)
  assert {'extensions', 'extension_targets'} <= set(bundle)

  agent_b = make_agent(env_b, acting_policy=1, epsilon_train=0.3, seed=1)
  run_episodes(agent_b, env_b, 2)
  assert agent_b.unbundle(directory, 0, bundle)
  env_b.resets = env_a.resets
  assert run_episodes(agent_a, env_a, 4) == run_episodes(agent_b, env_b, 4)
  assert agent_a.iteration_statistics() == agent_b.iteration_statistics()
  jax.tree.map(np.testing.assert_array_equal, agent_a.state, agent_b.state)


def test_a_rainbow_checkpoint_is_refused_by_the_extended_agent_naming_the_extensions(tmp_path):
  env = ScriptedEnv(episode_length=6)
  plain = rainbow.RainbowAgent(env.observation_space, env.action_space, network=functools.partial(
      networks.RainbowNetwork, hidden_size=8,
      torso=functools.partial(networks.MLPTorso, hidden_sizes=(8,))), num_atoms=11, vmax=5.0,
                               noisy=False, replay_capacity=100)
  with pytest.raises(ValueError, match=r'state in the checkpoint does not fit this agent: .*'
                                       r"keys \{'.*'\} which are not present .*extensions"):
    make_agent(env).unbundle(str(tmp_path), 0, plain.bundle_and_checkpoint(str(tmp_path), 0))


def test_the_subclass_overrides_hooks_only():
  hooks = {'init_extensions', 'extension_update', 'sync_targets', 'policy_action',
           'choose_policy'}
  overridden = {name for name, value in vars(AuxiliaryValueRainbow).items()
                if callable(value) and name != '__init__'}
  assert overridden == hooks
  assert hooks <= set(vars(dqn.DQNAgent))  # the shell's own names, not new ones


def test_extension_statistics_named_like_the_agents_own_are_refused():

  class Clashing(AuxiliaryValueRainbow):

    def extension_update(self, extensions, state, batch, key):
      extensions, statistics = super().extension_update(extensions, state, batch, key)
      return extensions, {'loss': statistics['auxiliary_loss']}

  env = ScriptedEnv(episode_length=6)
  with pytest.raises(ValueError, match=r"Clashing.extension_update returns statistics named "
                                       r"\['loss'\]"):
    run_episodes(make_agent(env, agent_class=Clashing), env, 2)
