"""PSDRL (agents/psdrl.py) with tiny networks on DeepSea of size 4: spaces refused, rewards
squashed into the replay, the GRU state along and across episodes, the update schedule (host
logic alone), the autoencoder's loss without padding, a tiny run with finite losses, the
posterior mean against a direct ridge solve over the agent's own features, the value update
against its targets, and a checkpoint taken mid-episode that continues bit for bit.

Every agent here has the same sizes, so they share the compilations that do not involve their
optimizers (acting, initialisation, the posterior)."""

import copy
import functools

import gymnasium
import jax
import numpy as np
import pytest

from agents import base
from agents import psdrl
from agents import psdrl_model as pm
from agents.replay import EpisodeView
from agents.replay.circular import STEP
from discrete_domains import deep_sea
from runner import errors
from tests.fakes import run_episodes, save_and_load

SIZE = 4  # DeepSea's episodes are SIZE steps
SETTINGS = dict(
    autoencoder=functools.partial(psdrl.select_autoencoder, vector_autoencoder=functools.partial(
        pm.MLPAutoencoder, hidden_sizes=(16,), latent_size=6)),
    transition_network=functools.partial(pm.TransitionModel, hidden_size=8, mlp_sizes=(12, 12)),
    terminal_network=functools.partial(pm.TerminalNetwork, hidden_sizes=(8,)),
    value_network=functools.partial(pm.ValueNetwork, hidden_sizes=(16,)),
    update_period=SIZE, late_update_period=SIZE, batch_size=4, sequence_length=SIZE,
    posterior_chunk_size=7,  # chunks that cut episodes: h must be carried across them
    replay_capacity=500, value_learning_rate=1e-3)
NO_UPDATES = dict(update_period=10**9, update_period_switch_step=10**9)


def make_agent(env, seed=0, **overrides):
  return psdrl.PSDRLAgent(env.observation_space, env.action_space, seed=seed,
                          **{**SETTINGS, **overrides})


def encode(agent, observations):
  return agent.spec.autoencoder.apply(agent.state.autoencoder, observations, method='encode')


class RecordedRewards(gymnasium.Wrapper):
  def __init__(self, env):
    super().__init__(env)
    self.rewards = []

  def step(self, action):
    result = self.env.step(action)
    self.rewards.append(result[1])
    return result


@pytest.mark.parametrize('observation_space, action_space, kind', [
    (gymnasium.spaces.Box(0, 255, (4, 64, 64), np.uint8), gymnasium.spaces.Discrete(3),
     'observation'),  # stacked frames
    (gymnasium.spaces.Discrete(5), gymnasium.spaces.Discrete(3), 'observation'),
    (gymnasium.spaces.Box(0.0, 1.0, (4,)), gymnasium.spaces.Box(-1.0, 1.0, (2,)), 'action'),
])
def test_spaces_it_cannot_handle_are_refused_naming_the_agent_and_the_space(
    observation_space, action_space, kind):
  with pytest.raises(base.IncompatibleSpaceError) as raised:
    psdrl.PSDRLAgent(observation_space, action_space)
  space = observation_space if kind == 'observation' else action_space
  message = str(raised.value)
  assert 'PSDRLAgent' in message and f'{kind} space {space!r}' in message
  assert isinstance(raised.value, errors.BadInputError)


def test_rewards_reach_the_replay_squashed_by_tanh():
  # Moving right costs 8 / 4 = 2 here: squashing visibly changes every such reward.
  env = RecordedRewards(deep_sea.create_deep_sea_environment(size=SIZE, unscaled_move_cost=8.0))
  agent = make_agent(env, epsilon_train=1.0, **NO_UPDATES)
  run_episodes(agent, env, 3, seed=0)
  rows = agent.replay.row_arrays()
  stored = rows['reward'][:len(agent.replay)][rows['kind'][:len(agent.replay)] == STEP]
  assert np.min(env.rewards) <= -2.0
  np.testing.assert_allclose(stored, np.tanh(env.rewards), rtol=1e-6)


def test_the_gru_state_follows_the_actions_taken_and_restarts_with_each_episode():
  env = deep_sea.create_deep_sea_environment(size=SIZE)
  # Half the actions random: the state must follow those too.
  agent = make_agent(env, epsilon_train=0.5, epsilon_eval=0.5, **NO_UPDATES)
  calls = []  # (observation, hidden in, action, hidden out) of each acting call
  act_fn = agent._act_fn

  def spy(*args):
    action, hidden = act_fn(*args)
    calls.append((args[5], np.asarray(args[6]), int(action), np.asarray(hidden)))
    return action, hidden

  agent._act_fn = spy
  run_episodes(agent, env, 2, seed=0)
  agent.eval_mode = True
  run_episodes(agent, env, 1, seed=2)

  assert len(calls) == 3 * SIZE
  transition = agent.spec.networks.transition
  for index, (observation, hidden, action, new_hidden) in enumerate(calls):
    if index % SIZE == 0:  # an episode's first step, in training and evaluation alike
      np.testing.assert_array_equal(hidden, 0.0)
    else:
      np.testing.assert_array_equal(hidden, calls[index - 1][3])
    expected = transition.apply(agent.state.transition, hidden, encode(agent, observation),
                                np.int32(action), method=pm.TransitionModel.recur)
    np.testing.assert_allclose(new_hidden, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(new_hidden).max() > 0.0
  assert len({action for _, _, action, _ in calls}) == 2


def test_updates_start_after_the_first_episode_and_follow_both_periods():
  env = deep_sea.create_deep_sea_environment(size=SIZE)
  agent = make_agent(env, update_period=3, update_period_switch_step=12, late_update_period=5)
  updates = []  # the transitions stored when each update ran
  agent._update = lambda: updates.append(agent.training_steps)
  run_episodes(agent, env, 8, seed=0)
  # Every 3 stored transitions up to 12 (3 falls in the first episode: none), every 5 after.
  assert updates == [6, 9, 12, 15, 20, 25, 30]
  assert [agent.update_period_at(t) for t in (12, 13)] == [3, 5]
  agent.eval_mode = True
  run_episodes(agent, env, 2, seed=8)
  assert agent.training_steps == 8 * SIZE and len(updates) == 7


def test_padding_observations_do_not_count_in_the_reconstruction_loss():
  # psdrl_model.reconstruction_loss's mask, which the autoencoder's training passes.
  autoencoder = pm.MLPAutoencoder(observation_shape=(3,), hidden_sizes=(4,), latent_size=2)
  observations = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
  params = autoencoder.init(jax.random.key(0), observations)
  errors_ = np.mean((np.asarray(autoencoder.apply(params, observations)) - observations) ** 2, -1)
  mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], np.float32)
  np.testing.assert_allclose(pm.reconstruction_loss(autoencoder, params, observations, mask),
                             errors_[mask > 0].mean(), rtol=1e-5)
  np.testing.assert_allclose(pm.reconstruction_loss(autoencoder, params, observations),
                             errors_.mean(), rtol=1e-5)


def test_a_convolutional_autoencoder_trains_step_by_step_on_a_cpu_as_in_one_scan():
  """On a CPU, image observations' autoencoder steps run from the host (jax-ml/jax#12868); they
  must give what the scanned steps give, padding sequences included."""
  env = deep_sea.create_deep_sea_environment(size=SIZE, observation_type='pixels')
  autoencoder = functools.partial(psdrl.select_autoencoder, image_autoencoder=functools.partial(
      pm.ConvAutoencoder, channels=(3,), kernel_size=2, stride=2))
  agent = make_agent(env, autoencoder=autoencoder, training_iterations=2, sequence_length=3,
                     **NO_UPDATES)
  assert agent._autoencoder_steps_on_host == (jax.default_backend() == 'cpu')
  run_episodes(agent, env, 3, seed=0)
  batch = agent._sequences(('observation', 'mask'))
  batch['mask'][1, 0] = 0.0  # a sequence of padding only: no step
  state = agent.state
  stepped = agent.train_autoencoder(state.autoencoder, state.autoencoder_optimizer, batch)
  scanned = agent._train_autoencoder(state.autoencoder, state.autoencoder_optimizer, batch)
  for leaf, expected in zip(jax.tree.leaves(stepped), jax.tree.leaves(scanned)):
    np.testing.assert_allclose(leaf, expected, rtol=1e-5, atol=1e-7)
  assert not np.allclose(jax.tree.leaves(stepped[0])[0], jax.tree.leaves(state.autoencoder)[0])


@pytest.fixture(scope='module')
def trained():
  """An agent after 12 DeepSea episodes, an update before every episode but the first, and the
  iteration's statistics; the last update ran in the last begin_episode, after every stored
  transition."""
  env = deep_sea.create_deep_sea_environment(size=SIZE)
  agent = make_agent(env, epsilon_train=0.3)
  run_episodes(agent, env, 12, seed=0)
  agent.begin_episode(env.reset(seed=12)[0])
  return agent, agent.iteration_statistics()


def test_a_tiny_deep_sea_run_updates_after_every_episode_with_finite_losses(trained):
  agent, statistics = trained
  assert statistics['updates'] == 12.0
  for name in psdrl.LOSSES:
    assert np.isfinite(statistics[name]) and statistics[name] >= 0.0, name
  assert statistics['posterior_transitions'] == 12 * SIZE
  assert statistics['posterior_prior_precision'] == 100.0
  assert statistics['posterior_retries'] == 0.0 and statistics['posterior_failures'] == 0.0
  assert agent.iteration_statistics() == {'updates': 0.0}


def test_the_posterior_mean_is_the_ridge_solution_over_the_agents_own_features(trained):
  agent, _ = trained
  state = agent.state
  view = EpisodeView(agent.replay)
  stored = next(view.chunks(view.num_transitions))  # every transition at once, h from 0
  features = pm.episode_features(agent.spec.networks.transition, state.transition,
                                 encode(agent, stored['observation']), stored['action'],
                                 stored['first']).features
  x = np.asarray(features, np.float64)
  y = np.concatenate([encode(agent, stored['next_observation']), stored['reward'][:, None]],
                     -1).astype(np.float64)
  precision = x.T @ x + 100.0 * np.eye(x.shape[1])
  np.testing.assert_allclose(state.posterior_mean, np.linalg.solve(precision, x.T @ y),
                             rtol=1e-3, atol=1e-5)
  # The draw the agent acts with: mean + N(0, 1e-3 Sigma) in every column ('cholesky').
  deviations = (np.asarray(state.last_layer, np.float64) - np.asarray(state.posterior_mean))
  sd = np.sqrt(1e-3 * np.diag(np.linalg.inv(precision)))[:, None]
  assert np.abs(deviations).max() > 0.0 and np.all(np.abs(deviations) < 6 * sd)


def test_the_value_update_moves_v_toward_its_targets(trained):
  # On a fixed batch: each call lowers V's error against the targets it starts from (those of
  # the sampled model with V itself as the target network), and so that error shrinks from
  # call to call.
  agent, _ = trained
  state = agent.state
  batch = agent._sequences(('observation', 'action', 'mask'))
  flat = {name: value.reshape((-1,) + value.shape[2:]) for name, value in batch.items()}
  model = pm.SampledModel(state.transition, state.terminal,
                          pm.sampled_last_layer(state.last_layer))
  latents = encode(agent, flat['observation'])
  params, target, optimizer_state = state.value, state.value_target, state.value_optimizer
  errors_before = []
  for _ in range(4):
    targets = pm.value_targets(agent.spec.networks, model, params, latents, flat['action'],
                               discount=agent.spec.gamma)
    error = lambda value_params: float(pm.value_loss(
        agent.spec.networks.value, value_params, latents, targets.hidden, targets.targets,
        flat['mask']))
    errors_before.append(error(params))
    params, target, optimizer_state, loss = agent._train_value(
        params, target, optimizer_state, state.autoencoder, state.transition, state.terminal,
        state.last_layer, batch)
    assert error(params) < errors_before[-1] and np.isfinite(float(loss))
  assert errors_before[-1] < 0.5 * errors_before[0]


def test_a_checkpoint_taken_mid_episode_continues_bit_for_bit(tmp_path):
  env = deep_sea.create_deep_sea_environment(size=SIZE)
  agent = make_agent(env, epsilon_train=0.3)
  run_episodes(agent, env, 4, seed=0)
  action = agent.begin_episode(env.reset(seed=4)[0])  # an update, then the first step
  observation, reward, *_ = env.step(action)
  action = agent.step(reward, observation)
  agent.iteration_statistics()  # what came before the checkpoint
  assert np.abs(np.asarray(agent._hidden)).max() > 0.0

  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, seed=1, epsilon_train=0.3)  # nothing may come from its own seed
  assert restored.unbundle(directory, 0, bundle)
  np.testing.assert_array_equal(restored._hidden, agent._hidden)
  np.testing.assert_array_equal(restored.state.last_layer, agent.state.last_layer)

  def go_on(learner, environment, pending):
    actions = [pending]
    while True:
      observation, reward, terminated, truncated, _ = environment.step(actions[-1])
      if terminated or truncated:
        learner.end_episode(reward, terminated, observation)
        break
      actions.append(learner.step(reward, observation))
    return actions + run_episodes(learner, environment, 3, seed=5)

  environment_copy = copy.deepcopy(env)
  assert go_on(restored, environment_copy, action) == go_on(agent, env, action)
  assert restored.iteration_statistics() == agent.iteration_statistics()
  assert jax.tree.all(jax.tree.map(np.array_equal, restored.state, agent.state))
  np.testing.assert_array_equal(restored._hidden, agent._hidden)
  assert restored.training_steps == agent.training_steps == 8 * SIZE
