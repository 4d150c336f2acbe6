"""Rainbow: the C51 double-DQN loss against a hand-computed example, noisy layers, dueling heads,
exploration switches, and a bundle/unbundle round trip (noise streams included) that continues
bit-for-bit."""

import functools

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import networks
from agents import rainbow
from tests.fakes import ScriptedEnv, run_episodes, save_and_load


class LogitTable(nn.Module):
  """Logits looked up by the observation's first entry: a network whose outputs a test sets."""
  num_states: int = 2
  num_actions: int = 2
  num_atoms: int = 3

  @nn.compact
  def __call__(self, x, deterministic=False):
    table = self.param('table', nn.initializers.zeros,
                       (self.num_states, self.num_actions, self.num_atoms))
    return table[x[:, 0].astype(jnp.int32)]


def table_params(probabilities_by_state):
  return {'params': {'table': jnp.log(jnp.asarray(probabilities_by_state, jnp.float32))}}


@pytest.mark.parametrize('double_dqn', [True, False])
def test_rainbow_loss_by_hand(double_dqn):
  support = jnp.array([-1.0, 0.0, 1.0])
  eps = 1e-9  # log(0) stand-in
  # State 1 is the next state. Online: action 0 -> Q -0.7, action 1 -> Q 0.7 (double DQN picks 1).
  # Target: action 0 -> all mass on +1 (Q 1), action 1 -> half on -1, half on 0 (Q -0.5).
  online = table_params([[[0.2, 0.3, 0.5], [eps, eps, 1.0]],
                         [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]])
  target = table_params([[[1 / 3] * 3] * 2,
                         [[eps, eps, 1.0], [0.5, 0.5, eps]]])
  batch = {'observation': jnp.array([[0.0]]), 'action': jnp.array([0]),
           'reward': jnp.array([0.5]), 'discount': jnp.array([0.5]),
           'next_observation': jnp.array([[1.0]])}
  loss, chosen_q = rainbow.rainbow_loss(LogitTable(), support, double_dqn, online, target, batch,
                                        jax.random.PRNGKey(0))
  np.testing.assert_allclose(chosen_q, [0.5 - 0.2], rtol=1e-5)  # action 0's mean in state 0
  # Shifted atoms 0.5 + 0.5 * [-1, 0, 1] = [0, 0.5, 1].
  # Double DQN: target action 1, mass [0.5, 0.5, 0] -> 0.5 on 0, 0.5 at 0.5 split to 0 and 1:
  #   projected [0, 0.75, 0.25]; loss = -(0.75 log 0.3 + 0.25 log 0.5).
  # Plain: target action 0, all mass at 1 -> [0, 0, 1]; loss = -log 0.5.
  expected = (-(0.75 * np.log(0.3) + 0.25 * np.log(0.5)) if double_dqn else -np.log(0.5))
  np.testing.assert_allclose(loss, [expected], rtol=1e-4)


def test_expected_values_are_means_of_the_distributions():
  logits = jnp.log(jnp.array([[[0.5, 0.5, 0.0 + 1e-12], [0.0 + 1e-12, 0.25, 0.75]]]))
  np.testing.assert_allclose(rainbow.expected_values(logits, jnp.array([-1.0, 0.0, 1.0])),
                             [[-0.5, 0.75]], atol=1e-6)


def test_noisy_dense_noise_is_factorised_shared_by_the_batch_and_off_when_deterministic():
  layer = networks.NoisyDense(3)
  x = jnp.array([[1.0, 2.0], [1.0, 2.0], [0.5, -1.0]])
  params = layer.init({'params': jax.random.PRNGKey(0), 'noise': jax.random.PRNGKey(1)}, x)
  mu = params['params']['kernel_mu'], params['params']['bias_mu']
  np.testing.assert_allclose(layer.apply(params, x, True), x @ mu[0] + mu[1], rtol=1e-6)
  noisy = layer.apply(params, x, rngs={'noise': jax.random.PRNGKey(2)})
  assert not np.allclose(noisy, x @ mu[0] + mu[1])
  np.testing.assert_array_equal(noisy[0], noisy[1])  # one draw for the whole batch
  np.testing.assert_array_equal(noisy,
                                layer.apply(params, x, rngs={'noise': jax.random.PRNGKey(2)}))
  # Factorised noise (eqs. 8-11): with mu = 0 and sigma = 1 the layer computes
  # x @ outer(f(p), f(q)) + f(q), so out(e_i) - out(0) = f(p_i) f(q) = f(p_i) out(0).
  unit = {'params': {'kernel_mu': jnp.zeros((2, 3)), 'kernel_sigma': jnp.ones((2, 3)),
                     'bias_mu': jnp.zeros(3), 'bias_sigma': jnp.ones(3)}}
  probes = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
  out = np.asarray(layer.apply(unit, probes, rngs={'noise': jax.random.PRNGKey(3)}))
  ratios = (out[1:] - out[0]) / out[0]
  np.testing.assert_allclose(ratios, ratios[:, :1] * np.ones((1, 3)), rtol=1e-4)
  # Initialisation (section 3.2): mu ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)], sigma = 0.1/sqrt(fan_in).
  assert np.all(np.abs(mu[0]) <= 1 / np.sqrt(2))
  np.testing.assert_allclose(params['params']['kernel_sigma'], 0.1 / np.sqrt(2), rtol=1e-6)


def test_noisy_dense_gives_the_same_numbers_whether_it_builds_the_noisy_weights_or_not():
  x = jax.random.normal(jax.random.PRNGKey(0), (20, 7))
  factored, built = networks.NoisyDense(5, materialize_from_batch=21), networks.NoisyDense(5)
  params = factored.init({'params': jax.random.PRNGKey(1), 'noise': jax.random.PRNGKey(1)}, x)
  # Unit noise scales (initialised at a tenth of the means' range), so that a wrong noise term
  # would be far outside the tolerances.
  params = {'params': {**params['params'],
                       'kernel_sigma': jnp.ones_like(params['params']['kernel_sigma']),
                       'bias_sigma': jnp.ones_like(params['params']['bias_sigma'])}}
  rngs = {'noise': jax.random.PRNGKey(2)}
  np.testing.assert_allclose(built.apply(params, x, rngs=rngs),
                             factored.apply(params, x, rngs=rngs), rtol=1e-5, atol=1e-5)
  # Acting on one row (factored form) matches that row of a batch (built form) under one draw.
  np.testing.assert_allclose(built.apply(params, x[:1], rngs=rngs)[0],
                             built.apply(params, x, rngs=rngs)[0], rtol=1e-5, atol=1e-5)
  gradient = lambda layer: jax.grad(lambda p: jnp.sum(layer.apply(p, x, rngs=rngs) ** 2))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4),
               gradient(built), gradient(factored))


def test_dueling_logits_are_value_plus_centred_advantage():
  network = networks.RainbowNetwork(num_actions=3, num_atoms=5, noisy=False, dueling=True,
                                    torso=functools.partial(networks.MLPTorso, hidden_sizes=(4,)))
  x = jnp.ones((2, 6))
  params = network.init(jax.random.PRNGKey(0), x)
  logits, state = network.apply(params, x, capture_intermediates=True)
  dense = state['intermediates']
  advantage = dense['Dense_1']['__call__'][0].reshape(2, 3, 5)
  value = dense['Dense_2']['__call__'][0].reshape(2, 1, 5)
  np.testing.assert_allclose(logits, value + advantage - advantage.mean(axis=1, keepdims=True),
                             rtol=1e-5, atol=1e-6)
  assert logits.shape == (2, 3, 5)


def make_agent(env, **overrides):
  settings = dict(network=functools.partial(
                      networks.RainbowNetwork, hidden_size=8,
                      torso=functools.partial(networks.MLPTorso, hidden_sizes=(8,))),
                  num_atoms=11, vmax=5.0, min_replay_history=4, update_period=2,
                  target_update_period=4, replay_capacity=100, batch_size=4, gamma=0.5,
                  update_horizon=3, seed=0)
  settings.update(overrides)
  return rainbow.RainbowAgent(env.observation_space, env.action_space, **settings)


def test_noisy_rainbow_explores_by_noise_and_evaluates_without_it():
  env = ScriptedEnv(episode_length=5, num_actions=4)
  agent = make_agent(env)
  assert agent.epsilon == 0.0  # noisy nets: no epsilon-greedy in training
  observations = np.array([[1.0, 0.0]], np.float32)

  def q_values(counter, deterministic):
    key = jax.random.fold_in(agent._base_key, counter)
    return np.asarray(agent._q_values(agent.params, observations, key, deterministic))

  np.testing.assert_array_equal(q_values(0, True), q_values(1, True))
  assert not np.allclose(q_values(0, False), q_values(1, False))
  np.testing.assert_array_equal(q_values(2, False), q_values(2, False))
  assert make_agent(env, noisy=False, epsilon_fn=rainbow.losses.identity_epsilon,
                    epsilon_train=0.3).epsilon == 0.3


def test_priorities_written_are_the_sampled_transitions_losses_to_the_priority_exponent():
  env = ScriptedEnv(episode_length=6)
  # Without noisy layers each loss is a function of the parameters alone, so it can be recomputed.
  agent = make_agent(env, noisy=False, priority_exponent=0.7)
  updates, written = [], []  # (batch, parameters before the update), (indices, priorities)
  sample, set_priorities = agent.replay.sample, agent.replay.set_priorities

  def spy_sample(*args, **kwargs):
    batch = sample(*args, **kwargs)
    updates.append((dict(batch), agent.params, agent.target_params))
    return batch

  def spy_set_priorities(indices, priorities):
    written.append((np.array(indices), np.array(priorities)))
    set_priorities(indices, priorities)

  agent.replay.sample, agent.replay.set_priorities = spy_sample, spy_set_priorities
  run_episodes(agent, env, 4)
  statistics = agent.iteration_statistics()
  # Actions at steps 6, 8, ..., 22 see more than 4 rows: 9 updates, each writing its batch's.
  assert statistics['updates'] == 9 and len(updates) == len(written) == 9
  for (batch, params, target_params), (indices, priorities) in zip(updates, written):
    np.testing.assert_array_equal(indices, batch.pop('indices'))
    losses, _ = rainbow.rainbow_loss(agent.network, agent.support, True, params, target_params,
                                     batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(priorities, (np.asarray(losses, np.float64) + 1e-10) ** 0.7,
                               rtol=1e-5)
  # The sum tree holds the last update's priorities (a repeated index keeps its last).
  last = dict(zip(*written[-1]))
  np.testing.assert_allclose(agent.replay.sum_tree.get(np.array(list(last))), list(last.values()))
  histograms = agent.iteration_histograms()
  np.testing.assert_array_equal(histograms['agent/priorities'],
                                np.concatenate([priorities for _, priorities in written]))
  assert histograms['agent/td_loss'].shape == histograms['agent/q_values'].shape == (9 * 4,)


def test_invalid_settings_are_named():
  env = ScriptedEnv()
  with pytest.raises(ValueError, match='vmin < vmax'):
    make_agent(env, vmin=1.0, vmax=1.0)
  with pytest.raises(ValueError, match='replay_scheme'):
    make_agent(env, replay_scheme='ranked')


def test_vector_observations_through_the_default_cnn_torso_name_the_fix():
  env = ScriptedEnv()  # vector observations; Rainbow's default torso is the Nature CNN
  with pytest.raises(ValueError, match=r'NatureCNN takes a batch of images.*\(2,\).*MLPTorso'):
    rainbow.RainbowAgent(env.observation_space, env.action_space, seed=0)


def test_bundle_round_trip_continues_bit_for_bit(tmp_path):
  env_a, env_b = ScriptedEnv(episode_length=6), ScriptedEnv(episode_length=6)
  agent_a = make_agent(env_a)
  run_episodes(agent_a, env_a, 4)
  agent_a.iteration_statistics()
  directory, bundle = save_and_load(agent_a, tmp_path)

  # Another seed, and a life of its own first (its jitted functions compiled, updates run): all
  # that matters, the noise streams too, must come from the bundle.
  agent_b = make_agent(env_b, seed=1)
  run_episodes(agent_b, env_b, 2)
  assert agent_b.unbundle(directory, 0, bundle)
  env_b.resets = env_a.resets
  assert run_episodes(agent_a, env_a, 4) == run_episodes(agent_b, env_b, 4)
  assert agent_a.iteration_statistics() == agent_b.iteration_statistics()
  jax.tree_util.tree_map(np.testing.assert_array_equal, agent_a.state, agent_b.state)
  np.testing.assert_array_equal(agent_a.replay.sum_tree.get(np.arange(100)),
                                agent_b.replay.sum_tree.get(np.arange(100)))


def test_rainbow_runs_on_atari_shaped_observations():
  observations = gymnasium.spaces.Box(0, 255, (4, 84, 84), np.uint8)
  agent = rainbow.RainbowAgent(observations, gymnasium.spaces.Discrete(3), stack_size=4,
                               min_replay_history=4, update_period=1, batch_size=2,
                               replay_capacity=50)
  frame = np.zeros((4, 84, 84), np.uint8)
  agent.begin_episode(frame)
  for t in range(6):
    frame = np.concatenate([frame[1:], np.full((1, 84, 84), t, np.uint8)])
    assert 0 <= agent.step(0.0, frame) < 3
  assert agent.replay.memory_bytes() < 50 * (84 * 84 + 16)
  # The 7 actions see 0..6 stored rows; more than 4 for the last two.
  assert agent.iteration_statistics()['updates'] == 2
