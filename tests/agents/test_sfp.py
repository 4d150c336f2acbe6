"""SFP on SAC's extension points: lambda's loss and its direction, the mixture in acting, in the
warm-up and in the critic target, the actor loss's weight, the prior conditioned on the previous
action along an episode, plain SAC without a prior, checkpoints and errors. The prior here is a
small affine one (a_t = scale a_{t-1} + shift), so every sample is known by hand; the flow prior
itself is tested in tests/offline/sfp."""

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import networks
from agents import sac
from agents import sfp
from runner import errors
from tests.fakes import PointEnv, run_episodes, save_and_load


class AffinePrior:
  """p(a_t | a_{t-1}) concentrated on clip(scale a_{t-1} + shift, +-0.99): the ActionPrior
  interface (offline/sfp/prior.py) with samples known by hand."""

  def __init__(self, action_dim, scale=0.5, shift=0.1, initial_action=0.2):
    self.action_dim = action_dim
    self.params = {'scale': jnp.float32(scale),
                   'shift': jnp.full((action_dim,), shift, jnp.float32)}
    self.initial_actions = np.full((1, action_dim), initial_action, np.float32)

  def sample(self, params, previous_actions, key):
    del key
    return jnp.clip(params['scale'] * previous_actions + params['shift'], -0.99, 0.99)


class ActionSumCritic(nn.Module):
  """Twin Q(s, a) = sum(a) + w (w a parameter, 0 at first): Q-values known by hand."""

  @nn.compact
  def __call__(self, observations, actions):
    del observations
    w = self.param('w', nn.initializers.zeros, ())
    return jnp.stack([jnp.sum(actions, -1) + w] * 2)


def make_agent(env, prior=None, **overrides):
  settings = dict(min_replay_history=20, batch_size=8, replay_capacity=500, seed=0,
                  critic_network=lambda: networks.EnsembleQNetwork(hidden_sizes=(16,)),
                  actor_network=lambda action_dim: networks.TanhGaussianActor(
                      action_dim, hidden_sizes=(16,)),
                  lambda_hidden_sizes=(8,))
  settings.update(overrides)
  return sfp.SFPAgent(env.observation_space, env.action_space, prior=prior, **settings)


def with_constant_lambda(agent, value):
  """The agent with lambda(s) = value everywhere: zero weights, the output bias at logit(value)."""
  params = jax.tree.map(jnp.zeros_like, agent.state.extensions['lambda'])
  last = sorted(params['params'])[-1]
  params['params'][last]['bias'] = jnp.full((1,), np.log(value / (1 - value)), jnp.float32)
  agent.state = agent.state._replace(extensions={**agent.state.extensions, 'lambda': params})
  return agent


def unit_env(episode_length=10):
  return PointEnv(low=(-1.0, -1.0), high=(1.0, 1.0), episode_length=episode_length)


def test_lambda_loss_gradient_is_minus_epsilon_times_the_prior_advantage():
  weights = jnp.array([0.2, 0.7, 0.9])
  prior_q, policy_q = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.0, 1.0, 0.5])
  gradient = jax.grad(sfp.lambda_loss)(weights, prior_q, policy_q, 0.25, 1e-3)
  np.testing.assert_allclose(gradient, -1e-3 * (0.25 + prior_q - policy_q) / 3, rtol=1e-6)
  assert float(sfp.lambda_loss(weights, prior_q, policy_q, 0.0, 1.0)) == pytest.approx(
      -(0.2 * 1.0 + 0.7 * -3.0 + 0.9 * 0.0) / 3)


def test_actor_loss_weighs_the_q_value_per_sample():
  log_prob, q_values = jnp.array([-1.0, 0.5]), jnp.array([[2.0, 4.0], [3.0, 1.0]])
  loss = sac.actor_loss(log_prob, q_values, 0.1, jnp.array([0.25, 1.0]))
  assert float(loss) == pytest.approx(((0.1 * -1.0 - 0.25 * 2.0) + (0.1 * 0.5 - 1.0 * 1.0)) / 2)


@pytest.mark.parametrize('shift, rises', [(0.9, True), (-0.9, False)])
def test_lambda_rises_when_the_priors_actions_are_worth_more(shift, rises):
  env = unit_env()
  agent = make_agent(env, AffinePrior(2, scale=0.0, shift=shift), critic_network=ActionSumCritic,
                     lambda_initial=0.5, lambda_epsilon=1.0, lambda_learning_rate=1e-2)
  rng = np.random.default_rng(0)
  batch = {'observation': rng.normal(size=(64, 2)), 'next_observation': rng.normal(size=(64, 2)),
           'next_previous_action': rng.uniform(-1, 1, (64, 2))}
  batch = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), batch)
  prepare, update = jax.jit(agent.prepare_batch), jax.jit(agent.extension_update)
  state, means = agent.state, []
  for step in range(20):
    prepared = prepare(state, batch, jax.random.PRNGKey(100 + step))
    extensions, statistics = update(state, prepared, jax.random.PRNGKey(step))
    state = state._replace(extensions=extensions)
    means.append(float(statistics['lambda']))
    # Q = sum(a): the prior's action (shift, shift) against the policy's, near 0 at first.
    assert (float(statistics['prior_advantage']) > 0) == rises
  assert (means[-1] > means[0] + 0.05) if rises else (means[-1] < means[0] - 0.05)


def test_the_critic_targets_next_action_is_the_priors_with_probability_lambda():
  env = unit_env()
  agent = with_constant_lambda(make_agent(env, AffinePrior(2, scale=0.0, shift=0.5)), 0.3)
  rng = np.random.default_rng(1)
  batch = {'next_observation': jnp.asarray(rng.normal(size=(4000, 2)), jnp.float32),
           'next_previous_action': jnp.zeros((4000, 2), jnp.float32)}
  batch = agent.prepare_batch(agent.state, batch, jax.random.PRNGKey(1))
  actions, log_probs = jax.jit(agent.next_action)(agent.state, batch, jax.random.PRNGKey(0))
  from_prior = np.all(np.asarray(actions) == 0.5, axis=1)
  assert from_prior.mean() == pytest.approx(0.3, abs=0.03)
  # The entropy term is the policy's own sample's, whichever action the target uses.
  policy_key, _ = jax.random.split(jax.random.PRNGKey(0))
  _, expected = sac.policy_sample(agent._settings, agent.state.actor, batch['next_observation'],
                                  policy_key, agent._log_action_scale)
  np.testing.assert_allclose(log_probs, expected, rtol=1e-5, atol=1e-5)


def test_the_critic_target_backs_up_the_priors_action_and_the_policys_entropy():
  env = unit_env()
  agent = make_agent(env, AffinePrior(2, scale=0.0, shift=0.5), critic_network=ActionSumCritic,
                     learn_alpha=False, alpha=0.1, gamma=0.9)
  agent = with_constant_lambda(agent, 1 - 1e-7)
  batch = {'observation': jnp.zeros((5, 2)), 'action': jnp.zeros((5, 2)),
           'reward': jnp.arange(5, dtype=jnp.float32), 'discount': jnp.full((5,), 0.9),
           'next_observation': jnp.ones((5, 2)), 'next_previous_action': jnp.zeros((5, 2))}
  key = jax.random.PRNGKey(4)
  _, _, per_sample = jax.jit(lambda state: sac.sac_update(
      agent._settings, state, batch, agent._log_action_scale, key))(agent.state)
  next_key, _ = jax.random.split(key)
  policy_key, _ = jax.random.split(next_key)
  _, log_prob = sac.policy_sample(agent._settings, agent.state.actor, batch['next_observation'],
                                  policy_key, agent._log_action_scale)
  # min Q_target(s', (0.5, 0.5)) = 1.0, minus alpha log pi of the policy's own sample.
  np.testing.assert_allclose(per_sample['critic_target'],
                             np.arange(5) + 0.9 * (1.0 - 0.1 * np.asarray(log_prob)), rtol=1e-5)


def test_acting_mixes_the_prior_conditioned_on_the_previous_action_and_evaluation_does_not():
  env = unit_env(episode_length=6)
  # No update after the first (update_period): acting alone is under test.
  agent = with_constant_lambda(
      make_agent(env, AffinePrior(2), min_replay_history=0, update_period=1000), 1 - 1e-7)
  actions = np.asarray(run_episodes(agent, env, 2, seed=0))
  # lambda = 1: every action is the prior's, a_t = 0.5 a_{t-1} + 0.1 from a_{-1} = 0.2 per episode.
  expected = [0.2]
  for _ in range(6):
    expected.append(0.5 * expected[-1] + 0.1)
  np.testing.assert_allclose(actions[:, 0], expected[1:] * 2, rtol=1e-6)
  agent.eval_mode = True
  evaluation = np.asarray(run_episodes(agent, env, 1, seed=5))
  assert not np.any(np.isclose(evaluation[:, 0], expected[1:], atol=1e-6))
  agent = with_constant_lambda(
      make_agent(env, AffinePrior(2), min_replay_history=0, update_period=1000), 0.25)
  actions = np.asarray(run_episodes(agent, env, 40, seed=0))
  # With lambda = 0.25 a quarter of the actions come from the prior (0.2 -> 0.2 ... fixed points
  # excluded: the first action of each episode is 0.2, then 0.5 a + 0.1 of whatever came before).
  previous = np.concatenate([[0.2], actions[:-1, 0]]).reshape(40, 6)
  previous[:, 0] = 0.2
  from_prior = np.isclose(actions[:, 0], 0.5 * previous.reshape(-1) + 0.1, atol=1e-6)
  assert from_prior.mean() == pytest.approx(0.25, abs=0.06)


def test_without_dataset_actions_an_episode_starts_from_zero():
  env = unit_env(episode_length=3)
  prior = AffinePrior(2)
  prior.initial_actions = None
  agent = make_agent(env, prior, min_replay_history=1000)  # warm-up: prior samples only
  actions = np.asarray(run_episodes(agent, env, 1, seed=0))
  np.testing.assert_allclose(actions[:, 0], [0.1, 0.15, 0.175], rtol=1e-6)


def test_the_warm_up_samples_the_prior():
  env = unit_env(episode_length=5)
  agent = make_agent(env, AffinePrior(2, scale=0.0, shift=-0.4), min_replay_history=1000)
  actions = np.asarray(run_episodes(agent, env, 3, seed=0))
  np.testing.assert_allclose(actions, -0.4, rtol=1e-6)
  uniform = make_agent(env, AffinePrior(2, scale=0.0, shift=-0.4), min_replay_history=1000,
                       prior_warmup=False)
  assert not np.allclose(np.asarray(run_episodes(uniform, env, 1, seed=0)), -0.4)


def test_updates_report_lambda_and_the_replay_carries_the_action_before_the_next_observation():
  env = unit_env()
  agent = make_agent(env, AffinePrior(2), update_horizon=3)
  run_episodes(agent, env, 4, seed=0)
  statistics = agent.iteration_statistics()
  assert {'lambda', 'lambda_loss', 'prior_advantage'} <= set(statistics)
  assert 0.0 < statistics['lambda'] < 1.0
  batch = agent.replay.sample(16, np.random.default_rng(0))
  assert batch['next_previous_action'].shape == (16, 2)


def test_without_a_prior_it_is_sac():
  env_a, env_b = unit_env(), unit_env()
  plain = sac.SACAgent(env_a.observation_space, env_a.action_space, min_replay_history=20,
                       batch_size=8, replay_capacity=500, seed=3,
                       critic_network=lambda: networks.EnsembleQNetwork(hidden_sizes=(16,)),
                       actor_network=lambda action_dim: networks.TanhGaussianActor(
                           action_dim, hidden_sizes=(16,)))
  agent = make_agent(env_b, None, seed=3)
  np.testing.assert_array_equal(run_episodes(plain, env_a, 4, seed=0),
                                run_episodes(agent, env_b, 4, seed=0))
  jax.tree.map(np.testing.assert_array_equal, plain.state, agent.state)


def test_a_checkpoint_mid_episode_continues_bit_for_bit(tmp_path):
  env_a, env_b = unit_env(episode_length=7), unit_env(episode_length=7)
  agent_a = make_agent(env_a, AffinePrior(2, shift=0.05))
  run_episodes(agent_a, env_a, 3, seed=0)
  observation, _ = env_a.reset(seed=9)
  action = agent_a.begin_episode(observation)
  observation, reward, *_ = env_a.step(action)
  agent_a.step(reward, observation)
  directory, bundle = save_and_load(agent_a, tmp_path)
  agent_b = make_agent(env_b, AffinePrior(2, shift=0.05))
  agent_b.unbundle(directory, 0, bundle)
  for _ in range(3):
    observation = np.array([0.3, 2.0], np.float32)
    np.testing.assert_array_equal(agent_a.step(0.5, observation), agent_b.step(0.5, observation))
  jax.tree.map(np.testing.assert_array_equal, agent_a.state, agent_b.state)


def test_a_prior_of_another_action_size_is_refused_by_name():
  env = unit_env()
  with pytest.raises(errors.BadInputError, match='3-dimensional'):
    make_agent(env, AffinePrior(3))
  with pytest.raises(errors.InvalidSettingError, match='lambda_initial'):
    make_agent(env, AffinePrior(2), lambda_initial=1.0)
  assert isinstance(env.action_space, gymnasium.spaces.Box)
