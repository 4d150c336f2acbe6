"""SAC: the squashed-Gaussian density, the critic target and the three losses against hand-computed
numbers, and the agent on small fake environments (bounds, clock, n-step targets, the temperature's
first step, optimizers, histograms, checkpoints, errors)."""

import math

import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorboardX
from scipy import stats

from agents import optimizers
from agents import sac
from tests.agents.test_base import read_histograms
from tests.fakes import PointEnv, ScriptedEnv, run_episodes, save_and_load


def test_tanh_gaussian_log_prob_matches_a_numerical_change_of_variables():
  # a = scale * tanh(u) + offset with u ~ N(mean, std^2): P(a <= x) = Phi((atanh((x - offset) /
  # scale) - mean) / std). The density is that CDF's derivative, taken numerically here, so the
  # check does not reuse the Jacobian formula under test.
  mean, std, scale, offset = 0.3, 0.7, 2.0, 0.5
  cdf = lambda x: stats.norm.cdf((np.arctanh((x - offset) / scale) - mean) / std)
  for pre_tanh in (-2.5, -0.4, 0.0, 0.9, 1.7):
    action = scale * np.tanh(pre_tanh) + offset
    h = 1e-6
    numerical = math.log((cdf(action + h) - cdf(action - h)) / (2 * h))
    log_prob = sac.tanh_gaussian_log_prob(jnp.array([pre_tanh]), jnp.array([mean]),
                                          jnp.log(jnp.array([std])), jnp.log(jnp.array([scale])))
    assert float(log_prob) == pytest.approx(numerical, abs=1e-4)


def test_tanh_gaussian_log_prob_sums_independent_dimensions_and_stays_finite_when_saturated():
  pre_tanh = jnp.array([[0.2, -1.0], [30.0, -30.0]])
  mean, log_std = jnp.array([0.1, 0.0]), jnp.array([0.0, -0.5])
  log_scale = jnp.zeros(2)
  per_dimension = [sac.tanh_gaussian_log_prob(pre_tanh[:, i:i + 1], mean[i:i + 1],
                                              log_std[i:i + 1], log_scale[i:i + 1])
                   for i in range(2)]
  joint = sac.tanh_gaussian_log_prob(pre_tanh, mean, log_std, log_scale)
  np.testing.assert_allclose(joint, per_dimension[0] + per_dimension[1], rtol=1e-6)
  # tanh(30) rounds to 1 in float32, so the naive log(1 - tanh^2) would be -inf: 2 (log 2 - 30 -
  # softplus(-60)) = -58.61 per dimension instead.
  assert np.all(np.isfinite(joint))
  assert float(sac.tanh_log_det_jacobian(jnp.array([30.0]))) == pytest.approx(
      2 * (math.log(2) - 30), abs=1e-4)


def test_tanh_gaussian_density_integrates_to_one():
  actions = np.linspace(-0.999999, 0.999999, 400001)
  pre_tanh = np.arctanh(actions)
  log_prob = sac.tanh_gaussian_log_prob(jnp.asarray(pre_tanh[:, None], jnp.float32),
                                        jnp.array([0.4]), jnp.array([-0.2]), jnp.zeros(1))
  density = np.exp(np.asarray(log_prob, np.float64))
  assert np.trapezoid(density, actions) == pytest.approx(1, abs=2e-3)


def test_samples_are_squashed_reparameterised_and_their_log_prob_is_consistent():
  key = jax.random.PRNGKey(3)
  mean, log_std = jnp.array([[0.5, -2.0]]), jnp.array([[-1.0, 0.3]])
  action, log_prob = sac.sample_tanh_gaussian(mean, log_std, key, jnp.zeros(2))
  noise = jax.random.normal(key, mean.shape)
  np.testing.assert_allclose(action, jnp.tanh(mean + jnp.exp(log_std) * noise), rtol=1e-6)
  np.testing.assert_allclose(log_prob, sac.tanh_gaussian_log_prob(
      mean + jnp.exp(log_std) * noise, mean, log_std, jnp.zeros(2)), rtol=1e-6)
  assert np.all(np.abs(action) <= 1)


def test_critic_target_by_hand():
  # reward 0.5, discount 0.99^2 (a 2-step return, not terminal) and 0 (terminal); twin target
  # Q-values (3, 5) and (-1, 2), so the minima are 3 and -1; log pi(a'|s') = -0.2, 1.5; alpha 0.1.
  target = sac.critic_target(jnp.array([0.5, 2.0]), jnp.array([0.9801, 0.0]),
                             jnp.array([[3.0, -1.0], [5.0, 2.0]]), jnp.array([-0.2, 1.5]),
                             jnp.array(0.1))
  np.testing.assert_allclose(target, [0.5 + 0.9801 * (3.0 + 0.02), 2.0], rtol=1e-6)


def test_critic_actor_and_temperature_losses_by_hand():
  q_values = jnp.array([[1.0, 2.0], [0.0, 4.0]])  # two critics, two transitions
  targets = jnp.array([2.0, 1.0])
  # critic 1: (1 + 1) / 2 * 1/2 = 0.5; critic 2: (4 + 9) / 2 * 1/2 = 3.25
  assert float(sac.critic_loss(q_values, targets)) == pytest.approx(3.75)
  # min over critics: (0, 2); alpha 0.5, log pi (-1, 3): mean(-0.5 - 0, 1.5 - 2) = -0.5
  assert float(sac.actor_loss(jnp.array([-1.0, 3.0]), q_values, jnp.array(0.5))) == pytest.approx(
      -0.5)
  # log_alpha 0.3, entropy estimate -mean(log pi) = -1, target -2: 0.3 * (-1 - (-2)) = 0.3
  assert float(sac.temperature_loss(jnp.array(0.3), jnp.array([-1.0, 3.0]), -2.0)) == (
      pytest.approx(0.3))


@pytest.mark.parametrize('log_prob, expected_sign', [(-3.0, 1.0), (3.0, -1.0)])
def test_temperature_gradient_lowers_alpha_above_the_target_entropy_and_raises_it_below(
    log_prob, expected_sign):
  # Target entropy -1. log pi = -3 means entropy 3 > -1: the gradient is positive, so gradient
  # descent lowers alpha; log pi = 3 (entropy -3 < -1): negative, alpha rises.
  gradient = jax.grad(sac.temperature_loss)(jnp.array(0.0), jnp.full((4,), log_prob), -1.0)
  assert np.sign(float(gradient)) == expected_sign
  assert float(gradient) == pytest.approx(-log_prob + 1.0)


def make_agent(env, **overrides):
  settings = dict(min_replay_history=20, batch_size=8, replay_capacity=500, seed=0,
                  critic_network=lambda: sac.networks.EnsembleQNetwork(hidden_sizes=(16,)),
                  actor_network=lambda action_dim: sac.networks.TanhGaussianActor(
                      action_dim, hidden_sizes=(16,)))
  settings.update(overrides)
  return sac.SACAgent(env.observation_space, env.action_space, **settings)


def test_actions_respect_asymmetric_bounds_in_training_and_evaluation():
  env = PointEnv(low=(0.0, -3.0), high=(1.0, -1.0))
  agent = make_agent(env)
  actions = np.array(run_episodes(agent, env, 5, seed=0))  # PointEnv asserts they are in bounds
  assert agent.iteration_statistics()['updates'] > 0
  agent.eval_mode = True
  actions = np.concatenate([actions, run_episodes(agent, env, 1, seed=9)])
  assert actions.shape[1] == 2
  assert actions[:, 0].min() < 0.5 < actions[:, 0].max()  # the whole interval is reached
  assert np.all(actions[:, 1] <= -1) and np.all(actions[:, 1] >= -3)
  # Replay stores actions in the policy's units: [-1, 1].
  assert np.all(np.abs(agent.replay._action[:len(agent.replay)]) <= 1)


def test_training_clock_random_warm_up_then_one_update_per_step():
  env = PointEnv(episode_length=10)
  agent = make_agent(env, min_replay_history=25)
  run_episodes(agent, env, 3, seed=0)  # 30 steps, 33 rows (3 final observations)
  # Each episode adds 11 rows (10 transitions, 1 final observation); the 3rd episode's step t
  # first stores row 22 + t, so from t = 4 (training step 24) on more than 25 rows are stored and
  # steps 24..29 each update once.
  assert agent.iteration_statistics()['updates'] == 6
  agent = make_agent(env, min_replay_history=25, update_period=2, updates_per_step=3)
  run_episodes(agent, env, 3, seed=0)
  assert agent.iteration_statistics()['updates'] == 3 * len(range(24, 30, 2))


def test_several_updates_in_one_call_equal_the_same_updates_one_by_one():
  agent = make_agent(PointEnv())
  rng = np.random.default_rng(0)
  num_updates, batch_size = 3, 8
  observation_shape = agent.observation_space.shape
  action_dim = agent.action_space.shape[0]
  batches = {'observation': rng.normal(size=(num_updates, batch_size, *observation_shape)),
             'action': rng.uniform(-1, 1, (num_updates, batch_size, action_dim)),
             'reward': rng.normal(size=(num_updates, batch_size)),
             'discount': rng.choice([0.0, 0.99], (num_updates, batch_size)),
             'next_observation': rng.normal(size=(num_updates, batch_size, *observation_shape))}
  batches = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), batches)
  observation = jnp.full(observation_shape, 0.5, jnp.float32)
  key = jax.random.PRNGKey(3)
  settings, scale = agent._settings, agent._log_action_scale
  state, statistics, per_sample, action = jax.jit(
      lambda state, batches: sac.sac_updates_and_act(settings, state, batches, observation, scale,
                                                     key))(agent.state, batches)
  update_key, act_key = jax.random.split(key)
  expected_state = agent.state
  for index, batch_key in enumerate(jax.random.split(update_key, num_updates)):
    expected_state, expected_statistics, expected_per_sample = sac.sac_update(
        settings, expected_state, jax.tree.map(lambda x: x[index], batches), scale, batch_key)
    for name, value in expected_statistics.items():
      np.testing.assert_allclose(statistics[name][index], value, rtol=1e-4, atol=1e-6)
    for name, values in expected_per_sample.items():
      assert values.shape == (batch_size,)
      np.testing.assert_allclose(per_sample[name][index], values, rtol=1e-4, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), state,
               expected_state)
  expected_action = sac.policy_action(settings.actor, expected_state.actor, observation, act_key,
                                      scale, False)
  np.testing.assert_allclose(action, expected_action, rtol=1e-4, atol=1e-6)
  assert statistics['critic_loss'].shape == (num_updates,)


def test_no_warm_up_waits_for_a_whole_transition():
  env = PointEnv(episode_length=10)
  agent = make_agent(env, min_replay_history=0, update_horizon=2)
  run_episodes(agent, env, 1)
  assert agent.iteration_statistics()['updates'] == 10 - 1 - 2  # actions that saw 3..9 rows


def test_polyak_averaging_and_fixed_temperature():
  env = PointEnv()
  agent = make_agent(env, learn_alpha=False, alpha=0.2, polyak_rate=0.25)
  run_episodes(agent, env, 2, seed=0)  # 22 rows: past the warm-up of 20
  before = jax.device_get(agent.state)
  observation, _ = env.reset(seed=5)
  agent.begin_episode(observation)  # exactly one update
  after = jax.device_get(agent.state)
  expected = jax.tree.map(lambda new, old: 0.25 * new + 0.75 * old, after.critic,
                          before.target_critic)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), after.target_critic,
               expected)
  assert float(after.log_alpha) == pytest.approx(math.log(0.2))
  assert agent.iteration_statistics()['alpha'] == pytest.approx(0.2)


def test_the_first_temperature_step_is_adams_step_on_the_entropy_gap():
  env = PointEnv(low=(-1, -1, -1, -1), high=(1, 1, 1, 1))
  agent = make_agent(env, alpha_learning_rate=0.01)
  assert agent.target_entropy == -2.0  # the default: minus half the action dimension
  run_episodes(agent, env, 2, seed=0)  # 22 rows, none of the actions saw more than 20
  assert agent.iteration_statistics() == {}
  observation, _ = env.reset(seed=5)
  agent.begin_episode(observation)  # exactly one update
  assert agent.iteration_statistics()['updates'] == 1
  # The temperature loss mean(log_alpha * (-log pi - target)) has the gradient g = entropy
  # estimate - target, over the actor's samples of the update (its policy_log_prob histogram).
  # Adam's first step, bias-corrected (m = g, v = g^2), moves log alpha from 0 by -lr g / (|g| +
  # eps): alpha falls while the policy is more random than the target, rises when less.
  log_prob = agent.iteration_histograms()['agent/policy_log_prob'].astype(np.float64)
  assert log_prob.shape == (8,)
  gradient = -np.mean(log_prob) - agent.target_entropy
  assert abs(gradient) > 0.1  # a clear sign to check
  assert float(agent.state.log_alpha) == pytest.approx(-0.01 * gradient / (abs(gradient) + 1e-8),
                                                       rel=1e-4)


class RecordingEnv(gymnasium.Wrapper):
  """Keeps each episode's observations and rewards, for computing returns by hand."""

  def __init__(self, env):
    super().__init__(env)
    self.episodes = []

  def reset(self, **kwargs):
    observation, info = self.env.reset(**kwargs)
    self.episodes.append(([observation], []))
    return observation, info

  def step(self, action):
    observation, reward, terminated, truncated, info = self.env.step(action)
    self.episodes[-1][0].append(observation)
    self.episodes[-1][1].append(reward)
    return observation, reward, terminated, truncated, info


def test_n_step_returns_reach_the_update():
  env = RecordingEnv(PointEnv(episode_length=10))  # truncated episodes: everything bootstraps
  agent = make_agent(env, update_horizon=3, gamma=0.5, reward_scale=2.0)
  run_episodes(agent, env, 3, seed=0)
  assert agent.iteration_statistics()['updates'] == 10  # the third episode's actions
  batch = agent.replay.sample(64, np.random.default_rng(0))
  del batch['indices']
  # By hand from the recorded episodes: the transition from step t of an episode of 10 sums
  # m = min(3, 10 - t) rewards discounted by 0.5^j and bootstraps from step t + m with 0.5^m.
  by_observation = {tuple(observations[t]): (observations, rewards, t)
                    for observations, rewards in env.episodes for t in range(10)}
  returns, discounts = [], []
  for index, observation in enumerate(batch['observation']):
    observations, rewards, t = by_observation[tuple(observation)]
    steps = min(3, 10 - t)
    returns.append(sum(0.5 ** j * rewards[t + j] for j in range(steps)))
    discounts.append(0.5 ** steps)
    np.testing.assert_array_equal(batch['next_observation'][index], observations[t + steps])
  np.testing.assert_allclose(batch['reward'], returns, rtol=1e-5)
  np.testing.assert_allclose(batch['discount'], discounts)
  assert {0.125, 0.25, 0.5} <= set(discounts)
  # The update's critic target is reward_scale * return + discount * V(s'), where V is the soft
  # value of the next observation: the target of the same update with reward 0 and discount 1.
  update = jax.jit(lambda state, batch: sac.sac_update(
      agent._settings, state, batch, agent._log_action_scale, jax.random.PRNGKey(7)))

  def critic_targets(batch):
    return np.asarray(update(agent.state, jax.tree.map(jnp.asarray, batch))[2]['critic_target'])

  soft_values = critic_targets({**batch, 'reward': np.zeros(64, np.float32),
                                'discount': np.ones(64, np.float32)})
  np.testing.assert_allclose(critic_targets(batch),
                             2.0 * np.array(returns) + np.array(discounts) * soft_values,
                             rtol=1e-4, atol=1e-4)


def test_bundle_round_trip_continues_bit_for_bit(tmp_path):
  env_a, env_b = PointEnv(), PointEnv()
  agent_a = make_agent(env_a)
  run_episodes(agent_a, env_a, 4, seed=0)
  agent_a.iteration_statistics()
  directory, bundle = save_and_load(agent_a, tmp_path)
  # Another seed, and a life of its own first (its jitted functions compiled, updates run): all
  # that matters must come from the bundle.
  agent_b = make_agent(env_b, seed=1)
  run_episodes(agent_b, env_b, 3, seed=20)
  assert agent_b.unbundle(directory, 0, bundle)
  actions_a = run_episodes(agent_a, env_a, 3, seed=10)
  actions_b = run_episodes(agent_b, env_b, 3, seed=10)
  np.testing.assert_array_equal(actions_a, actions_b)
  assert agent_a.iteration_statistics() == agent_b.iteration_statistics()
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(agent_a.state),
               jax.device_get(agent_b.state))


def test_same_seed_same_actions():
  actions = [run_episodes(make_agent(PointEnv()), PointEnv(), 4, seed=0) for _ in range(2)]
  np.testing.assert_array_equal(*actions)


def test_incompatible_spaces_are_named():
  with pytest.raises(ValueError, match='SACAgent.*action space.*Box'):
    make_agent(ScriptedEnv())
  unbounded = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
  with pytest.raises(ValueError, match='SACAgent.*finite bounds'):
    sac.SACAgent(unbounded, unbounded)
  with pytest.raises(ValueError, match='alpha'):
    make_agent(PointEnv(), alpha=0.0)


def test_learns_pendulum_quickly_enough_to_matter():
  # Not a benchmark: a check that the pieces add up to a learner. 25 episodes of Pendulum-v1
  # (5,000 steps, 4,000 updates) lift the evaluation return far above a random policy's -1,200.
  env = gymnasium.make('Pendulum-v1')
  agent = sac.SACAgent(env.observation_space, env.action_space, seed=0, min_replay_history=1000,
                       actor_learning_rate=1e-3, critic_learning_rate=1e-3,
                       alpha_learning_rate=1e-3, batch_size=128, replay_capacity=10000)
  run_episodes(agent, env, 25, seed=0)
  agent.eval_mode = True
  returns = []
  for episode in range(3):
    observation, _ = env.reset(seed=100 + episode)
    action, total = agent.begin_episode(observation), 0.0
    while True:
      observation, reward, terminated, truncated, _ = env.step(action)
      total += reward
      if terminated or truncated:
        break
      action = agent.step(reward, observation)
    returns.append(total)
  assert np.mean(returns) > -600, returns


def test_the_three_optimizers_are_the_factorys_adam_with_sacs_own_settings():
  calls = []

  def spy(**arguments):
    calls.append(arguments)
    return optimizers.create_optimizer(**arguments)

  make_agent(PointEnv(), optimizer=spy, actor_learning_rate=1e-3, critic_learning_rate=2e-3,
             alpha_learning_rate=3e-3, adam_eps=1e-5)
  assert calls == [dict(name='adam', learning_rate=rate, eps=1e-5) for rate in (1e-3, 2e-3, 3e-3)]
  # A DQN-style binding of the factory's name and rate does not reach SAC's optimizers.
  reference = jax.device_get(make_agent(PointEnv()).state)
  gin.clear_config()
  try:
    gin.parse_config(["create_optimizer.name = 'sgd'", 'create_optimizer.learning_rate = 5.0'])
    state = jax.device_get(make_agent(PointEnv()).state)
  finally:
    gin.clear_config()
  assert isinstance(state.actor_optimizer[0], optax.ScaleByAdamState)
  jax.tree.map(np.testing.assert_array_equal, state, reference)


def test_histograms_of_the_iterations_updates_are_written_at_the_iteration(tmp_path):
  env = PointEnv()
  writer = tensorboardX.SummaryWriter(logdir=str(tmp_path))
  agent = make_agent(env, summary_writer=writer, updates_per_step=2)
  run_episodes(agent, env, 3, seed=0)
  statistics = agent.iteration_statistics()
  agent.write_summaries(5)
  writer.close()
  histograms = read_histograms(tmp_path)
  assert sorted(histograms) == ['agent/critic_target', 'agent/min_q_value',
                                'agent/policy_log_prob']
  for tag, [(step, histogram)] in histograms.items():
    assert step == 5 and histogram.num == statistics['updates'] * 8, tag  # a value per sample
  log_prob = histograms['agent/policy_log_prob'][0][1]
  assert -log_prob.sum / log_prob.num == pytest.approx(statistics['entropy'], rel=1e-4)
