"""DCEO (agents/dceo.py): option execution against its probabilities (host logic alone), one
option trained per update, the whole update in one jitted call per step, the options' reward by
hand (scale, sign, alignment, a copy or an average of phi, normalisation), checkpoints, the
reports on a named grid, and evaluation with the main policy only. phi's own learning is
test_dceo_representation.py's."""

import functools

import jax
import numpy as np
import pytest

from agents import dceo
from agents import eigenoptions
from agents import laplacian
from agents import laplacian_grid
from agents import losses
from discrete_domains import gridworld
from runner import errors
from tests.agents.dceo_testing import (update_once, update_without, replayed_batch, make_agent,
                                       grid, option_slices_changed, table_representation)
from tests.agents.test_value_extensions import count_calls, jitted_calls_per_step
from tests.fakes import run_episodes, save_and_load


def host_only_agent(epsilon, num_options=4, option_prob=0.9, option_termination=0.1,
                    seed=0, option_warmup_steps=0):
  """A DCEOAgent with only the host state that choose_policy and explores read: no networks, no
  replay, no jit. Epsilon is constant."""
  agent = dceo.DCEOAgent.__new__(dceo.DCEOAgent)
  agent.__dict__.update(
      num_options=num_options, eval_mode=False, _episode_first_step=False,
      _rng=np.random.default_rng(seed), epsilon_fn=losses.identity_epsilon,
      epsilon_train=epsilon, epsilon_eval=0.0, epsilon_decay_period=1, training_steps=0,
      min_replay_history=0, _statistics=[], grid=None, visits=None, visited_sampler=None,
      option_warmup_steps=option_warmup_steps,
      option_runs=eigenoptions.OptionRuns(num_options, option_prob, option_termination))
  return agent


def test_options_start_end_and_explore_with_their_probabilities():
  epsilon, option_prob, termination, num_options = 0.2, 0.9, 0.1, 4
  agent = host_only_agent(epsilon, num_options, option_prob, termination)
  free_steps = starts = random_actions = option_steps = option_explorations = 0
  for _ in range(200_000):
    policy = agent.choose_policy()
    explores = agent.explores()
    if policy == 0:
      free_steps += 1
      random_actions += explores
    else:
      option_steps += 1
      option_explorations += explores
      if agent.option_runs.run_length == 1:  # this step started the run
        free_steps += 1
        starts += 1
  statistics = agent.iteration_statistics()

  # Binomial standard errors: about 0.001 for the rates, 0.08 for the duration (geometric, mean 10,
  # standard deviation 9.5, over some 12k runs).
  assert starts / free_steps == pytest.approx(epsilon * option_prob, abs=0.005)
  assert random_actions / free_steps == pytest.approx(epsilon * (1 - option_prob),
                                                      abs=0.003)
  assert option_explorations / option_steps == pytest.approx(epsilon, abs=0.005)
  assert statistics['option_mean_duration'] == pytest.approx(1 / termination, abs=0.3)
  shares = [statistics[f'option_{option}_share'] for option in range(num_options)]
  assert sum(shares) == pytest.approx(option_steps / 200_000)
  assert shares == pytest.approx([sum(shares) / num_options] * num_options, abs=0.01)


def test_no_option_starts_before_option_warmup_steps_and_exploring_steps_act_at_random():
  agent = host_only_agent(epsilon=1.0, option_prob=1.0, option_warmup_steps=100)
  for step in range(100):
    agent.training_steps = step
    assert agent.choose_policy() == 0 and agent.explores()  # every step explores, at random
  agent.training_steps = 100
  assert agent.choose_policy() > 0  # the first exploring step after the warm-up: an option
  with pytest.raises(errors.InvalidSettingError, match='option_warmup_steps'):
    make_agent(grid(), option_warmup_steps=-1)


def test_a_running_option_ends_when_an_episode_begins_and_evaluation_only_explores():
  agent = host_only_agent(epsilon=1.0, option_prob=1.0, option_termination=0.0)
  first = agent.choose_policy()
  assert first > 0 and all(agent.choose_policy() == first for _ in range(50))
  agent._episode_first_step = True
  agent.choose_policy()
  assert agent.option_runs.run_length == 1  # a new run began
  assert agent.iteration_statistics()['option_mean_duration'] == 51.0
  agent.eval_mode, agent.epsilon_eval = True, 0.0
  assert not any(agent.explores() for _ in range(100))


@pytest.mark.parametrize('state_weighting', dceo.STATE_WEIGHTINGS)
def test_each_update_trains_one_option_in_the_one_jitted_call_of_the_step(state_weighting):
  env = grid()
  agent = make_agent(env, state_weighting=state_weighting)
  states_before = []
  sample = agent.replay.sample

  def spy_sample(*args, **kwargs):
    states_before.append(agent.state)
    return sample(*args, **kwargs)

  agent.replay.sample = spy_sample
  record, calls_per_step = jitted_calls_per_step(agent)
  run_episodes(agent, env, 6, seed=0, after_each_action=record)
  statistics = agent.iteration_statistics()

  # An updating step is one call of the fused update; any other step at most one acting call
  # (none for a random action).
  updates = len(states_before)
  assert statistics['updates'] == updates >= 50
  assert calls_per_step.count((1, 0)) == updates
  assert set(calls_per_step) <= {(1, 0), (0, 1), (0, 0)}
  assert {'representation_loss', 'option_loss'} <= set(statistics)
  # Weighing visited states alike, the visit counts (or phi's own batch) ride in every batch, and
  # the distinct states counted are reported: the 25 cells of the open grid, or some of them.
  assert (0 < statistics.get('visited_keys', 0) <= 25) == (state_weighting != 'replay')
  assert all(np.isfinite(statistics[name]) for name in ('representation_loss', 'option_loss'))
  after = [state.extensions for state in states_before[1:]] + [agent.state.extensions]
  trained = [option_slices_changed(before.extensions, extensions, agent.num_options)
             for before, extensions in zip(states_before, after)]
  assert all(len(options) == 1 for options in trained)
  assert {options[0] for options in trained} == set(range(agent.num_options))
  # The representation learns at every update too.
  assert all(not np.array_equal(jax.tree.leaves(before.extensions['representation'])[0],
                                jax.tree.leaves(extensions['representation'])[0])
             for before, extensions in zip(states_before, after))


def test_a_checkpoint_round_trip_continues_bit_for_bit(tmp_path):
  env_a, env_b = grid(), grid()
  agent_a = make_agent(env_a)
  run_episodes(agent_a, env_a, 4, seed=0)
  agent_a.iteration_statistics()
  directory, bundle = save_and_load(agent_a, tmp_path)
  assert {'extensions', 'extension_targets', 'current_option'} <= set(bundle)

  agent_b = make_agent(env_b, seed=1)
  run_episodes(agent_b, env_b, 2, seed=100)
  assert agent_b.unbundle(directory, 0, bundle)
  assert run_episodes(agent_a, env_a, 4, seed=4) == run_episodes(agent_b, env_b, 4, seed=4)
  assert agent_a.iteration_statistics() == agent_b.iteration_statistics()
  jax.tree.map(np.testing.assert_array_equal, agent_a.state, agent_b.state)


def test_training_acts_with_options_and_evaluation_with_the_main_policy_only():
  env = grid()
  agent = make_agent(env, epsilon_train=0.8, epsilon_eval=0.0)
  policies = []
  act_fn = agent._act_fn
  update_and_act = agent._update_and_act

  def spy_act(*args):
    policies.append((agent.eval_mode, int(args[-1])))
    return act_fn(*args)

  def spy_update(*args):
    policies.append((agent.eval_mode, int(args[-1])))
    return update_and_act(*args)

  agent._act_fn, agent._update_and_act = spy_act, spy_update
  choices = count_calls(agent, 'choose_policy')
  run_episodes(agent, env, 4, seed=0)
  training_choices = choices[0]
  agent.eval_mode = True
  run_episodes(agent, env, 4, seed=10)
  assert choices[0] == training_choices  # evaluation never chooses
  assert {policy for eval_mode, policy in policies if not eval_mode} > {0}
  assert {policy for eval_mode, policy in policies if eval_mode} == {0}

  # The main policy's action is Rainbow's greedy action; option o's is its own network's.
  observation, _ = env.reset(seed=0)
  for policy in range(agent.num_options + 1):
    if policy == 0:
      q_values = agent._q_values(agent.params, observation[None], jax.random.PRNGKey(0), True)
    else:
      params = agent.state.extensions['options'][policy - 1]
      q_values = agent._q_values(params, observation[None], jax.random.PRNGKey(0), True)
    assert int(agent._act_fn(agent._acting_state(policy), observation, agent._base_key, 0, True,
                             policy)) == int(np.argmax(q_values[0]))


def test_option_eigenfunctions_default_to_one_onwards_with_the_reference_as_a_switch():
  env = grid()
  assert make_agent(env).option_eigenfunctions == (1, 2, 3)
  assert make_agent(env, follow_constant_eigenfunction=True).option_eigenfunctions == (0, 1, 2)
  assert make_agent(env, option_eigenfunctions=(3, 1, 2)).option_eigenfunctions == (3, 1, 2)
  with pytest.raises(ValueError, match='option_eigenfunctions'):
    make_agent(env, option_eigenfunctions=(1, 2, 4))
  # Each option climbs (+1, the reference) or descends (-1) its eigenfunction.
  assert make_agent(env).option_signs == (1, 1, 1)
  both_ways = make_agent(env, option_eigenfunctions=(1, 1, 2), option_signs=(1, -1, 1))
  values = np.arange(12.0).reshape(3, 4)
  np.testing.assert_array_equal(both_ways.followed_functions(values),
                                [[1, -1, 2], [5, -5, 6], [9, -9, 10]])
  for signs in ((1, -1), (1, 0, -1), (1, 2, 1)):
    with pytest.raises(ValueError, match='option_signs'):
      make_agent(env, option_signs=signs)


@pytest.mark.parametrize('scale, sign', [(1.0, 1), (2.5, 1), (1.0, -1)])
def test_an_option_update_is_rainbows_step_on_the_hand_computed_intrinsic_reward(scale, sign):
  env = grid()
  agent = make_agent(env, representation_network=table_representation(),
                     intrinsic_reward_scale=scale, option_signs=(sign,) * 3)
  run_episodes(agent, env, 3, seed=0)
  state = agent.state
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  passed, passed_targets = agent.extensions_passed(0, updating=True)
  option = int(passed['trained_option'])
  extensions, statistics = jax.jit(agent.extension_update)(
      passed, state._replace(extensions=passed, extension_targets=passed_targets), batch,
      jax.random.PRNGKey(3))
  # Only that option's parameters and Adam state change in the train state's extensions.
  returned, _ = agent.extensions_returned(passed, extensions)
  assert option_slices_changed(state.extensions, returned, agent.num_options) == [option]

  # By hand: phi_e(s') - phi_e(s) = W[s', e] - W[s, e] (the biases cancel), read off the
  # representation's weights from before this update, times `intrinsic_reward_scale` and the
  # option's sign (-1: the option descends its eigenfunction).
  weights = np.asarray(jax.tree.leaves(state.extensions['representation'])[-1])
  assert weights.shape == (env.observation_space.shape[0], agent.representation_dimension)
  eigenfunction = agent.option_eigenfunctions[option]
  cells = np.argmax(batch['observation'], axis=1)
  next_cells = np.argmax(batch['next_observation'], axis=1)
  intrinsic_reward = sign * scale * (weights[next_cells, eigenfunction]
                                     - weights[cells, eigenfunction])
  assert np.ptp(intrinsic_reward) > 0

  # Then one Adam step of Rainbow's own (tested) loss for that option, against its own target,
  # each transition weighted by its importance weight, (1 / p)^0.5 scaled to a largest of 1.
  take = lambda options: options[option]  # noqa: E731
  option_batch = dict(batch, reward=jax.numpy.asarray(intrinsic_reward, np.float32))
  weights = (1 / batch['sampling_probability']) ** agent.importance_exponent
  weights = weights / weights.max()
  assert np.ptp(weights) > 0

  def loss(params):
    per_transition, _ = agent._per_transition_loss(
        params, take(state.extension_targets['options']), option_batch, jax.random.PRNGKey(0))
    return jax.numpy.mean(weights * per_transition)

  params = take(state.extensions['options'])
  gradients = jax.grad(loss)(params)
  updates, _ = agent._optimizer.update(gradients, take(state.extensions['option_optimizer_states']),
                                       params)
  expected = jax.tree.map(lambda p, u: p + u, params, updates)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['option'], expected)
  assert float(statistics['option_loss']) == pytest.approx(float(loss(params)), rel=1e-5)


def test_the_options_reward_comes_from_a_copy_of_phi_retaken_every_option_reward_period(
    tmp_path):
  env = grid()
  settings = dict(representation_network=table_representation())
  agent = make_agent(env, option_reward_period=10 ** 6, **settings)
  initial = agent.state.extensions['representation']
  run_episodes(agent, env, 3, seed=0)  # phi learns; its copy is the one of training step 0
  extensions = agent.state.extensions
  assert not all(np.allclose(a, b) for a, b in zip(
      jax.tree.leaves(extensions['representation']), jax.tree.leaves(initial)))
  jax.tree.map(np.testing.assert_array_equal, extensions['reward_representation'], initial)
  # The options learn from the copy: the step of an agent whose phi is the copy, without one.
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  key = jax.random.PRNGKey(3)
  agent._rng = np.random.default_rng(11)
  copied, _ = update_once(agent, batch, key)
  expected = update_without(agent, env, settings, batch, key, 'reward_', representation=initial)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               copied['option'], expected['option'])
  # phi itself still learns from its own value, not the copy's.
  unchanged = update_without(agent, env, settings, batch, key, 'reward_')
  jax.tree.map(np.testing.assert_array_equal, copied['representation'],
               unchanged['representation'])

  # Every `option_reward_period` training steps the copy is retaken, with R under procrustes.
  aligned = make_agent(env, option_reward_period=7, option_alignment='procrustes',
                       alignment_period=7, alignment_states=16, **settings)
  copies = []
  original = aligned._copy_reward_representation
  aligned._copy_reward_representation = lambda: (copies.append(aligned.training_steps),
                                                 original())
  run_episodes(aligned, env, 3, seed=0)
  assert copies == list(range(0, aligned.training_steps, 7))
  extensions = aligned.state.extensions
  np.testing.assert_array_equal(extensions['reward_rotation'], extensions['option_rotation'])
  directory, bundle = save_and_load(aligned, tmp_path)
  restored = make_agent(env, option_reward_period=7, option_alignment='procrustes',
                        alignment_period=7, alignment_states=16, seed=1, **settings)
  assert restored.unbundle(directory, 0, bundle)
  jax.tree.map(np.testing.assert_array_equal, restored.state.extensions['reward_representation'],
               extensions['reward_representation'])
  with pytest.raises(errors.InvalidSettingError, match='option_reward_period'):
    make_agent(env, option_reward_period=-1)


@pytest.mark.parametrize('state_weighting', ['replay', 'uniform_visited'])
def test_the_options_reward_comes_from_phi_averaged_over_time_with_option_reward_averaging(
    state_weighting, tmp_path):
  env = grid()
  settings = dict(representation_network=table_representation(), state_weighting=state_weighting,
                  normalize_option_reward=True)
  agent = make_agent(env, option_reward_averaging=0.25, **settings)
  initial = agent.state.extensions['representation']
  run_episodes(agent, env, 3, seed=0)
  extensions = agent.state.extensions
  average, phi = extensions['reward_representation'], extensions['representation']
  # After many updates the average lags phi but has left its start.
  for moved in (phi, average):
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(moved),
                                                      jax.tree.leaves(initial)))
  assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(phi), jax.tree.leaves(average)))

  batch = replayed_batch(agent)
  key = jax.random.PRNGKey(3)
  averaged, _ = update_once(agent, batch, key)
  # By hand: the average moves a quarter of the way to phi after this update's step.
  jax.tree.map(lambda new, old, stepped: np.testing.assert_allclose(
      new, 0.75 * np.asarray(old) + 0.25 * np.asarray(stepped), rtol=1e-6, atol=1e-7),
               averaged['reward_representation'], average, averaged['representation'])
  # phi steps as it would without the average, and the options learn as under a phi equal to
  # the average (normalised by the average's functions' mean square, over phi's pooled states).
  plain = update_without(agent, env, settings, batch, key, 'reward_representation')
  jax.tree.map(np.testing.assert_array_equal, averaged['representation'],
               plain['representation'])
  as_phi = update_without(agent, env, settings, batch, key, 'reward_representation',
                          representation=average)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-6),
               averaged['option'], as_phi['option'])
  np.testing.assert_allclose(averaged['reward_mean_square'], as_phi['reward_mean_square'],
                             rtol=1e-5)

  # The average goes into the checkpoint with the train state.
  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, option_reward_averaging=0.25, seed=1, **settings)
  assert restored.unbundle(directory, 0, bundle)
  jax.tree.map(np.testing.assert_array_equal, restored.state.extensions['reward_representation'],
               average)
  with pytest.raises(errors.InvalidSettingError, match='option_reward_averaging'):
    make_agent(env, option_reward_averaging=1.5)
  with pytest.raises(errors.InvalidSettingError, match='set one of them'):
    make_agent(env, option_reward_averaging=0.1, option_reward_period=10)


@pytest.mark.parametrize('state_weighting', ['replay', 'uniform_visited'])
def test_normalize_option_reward_divides_by_the_functions_running_rms(state_weighting, tmp_path):
  env = grid()
  settings = dict(representation_network=table_representation(), state_weighting=state_weighting)
  agent = make_agent(env, normalize_option_reward=True, option_reward_decay=0.9, **settings)
  run_episodes(agent, env, 3, seed=0)
  updates = int(agent.state.extensions['reward_mean_square_updates'])
  assert updates == agent.training_steps - agent.min_replay_history > 1  # one per update
  batch = replayed_batch(agent)
  key = jax.random.PRNGKey(3)
  option = int(agent.extensions_passed(0, updating=True)[0]['trained_option'])
  agent._rng = np.random.default_rng(11)
  extensions, statistics = update_once(agent, batch, key)

  # By hand: 0.9 times the estimate so far plus 0.1 times the mean of phi^2 (phi before the step)
  # over the states phi's objective pooled, the main batch's or, uniform_visited, its own batch's.
  prefix = 'representation_' if state_weighting == 'uniform_visited' else ''
  pooled = np.concatenate([batch[prefix + 'observation'], batch[prefix + 'next_observation']])
  batch_mean_square = np.mean(agent.representation_values(pooled) ** 2, axis=0)
  expected = 0.9 * np.asarray(agent.state.extensions['reward_mean_square']) + (
      0.1 * batch_mean_square)
  np.testing.assert_allclose(extensions['reward_mean_square'], expected, rtol=1e-5)
  assert int(extensions['reward_mean_square_updates']) == updates + 1
  eigenfunction = agent.option_eigenfunctions[option]
  rms = float(np.sqrt(expected[eigenfunction]))
  assert float(statistics['option_function_rms']) == pytest.approx(rms, rel=1e-5)
  assert abs(rms - 1) > 0.05  # the division is not a no-op here
  # The option's step is that of the unnormalised reward scaled by 1 / RMS.
  unnormalised = update_without(agent, env, dict(settings, intrinsic_reward_scale=1 / rms), batch,
                                key, 'reward_mean_square')
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-6),
               extensions['option'], unnormalised['option'])

  # The estimate goes into the checkpoint with the train state.
  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, normalize_option_reward=True, seed=1, **settings)
  assert restored.unbundle(directory, 0, bundle)
  for name in ('reward_mean_square', 'reward_mean_square_updates'):
    np.testing.assert_array_equal(restored.state.extensions[name], agent.state.extensions[name])
  with pytest.raises(errors.InvalidSettingError, match='option_reward_decay'):
    make_agent(env, normalize_option_reward=True, option_reward_decay=1.5)


def test_an_updates_call_acts_with_the_acting_option_as_updated_if_it_was_the_one_trained():
  env = grid()
  agent = make_agent(env)
  run_episodes(agent, env, 3, seed=0)
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  state = agent.state
  options = state.extensions['options']
  cells = np.eye(env.observation_space.shape[0], dtype=np.float32)

  def greedy(params, observation):
    q_values = agent._q_values(params, observation[None], jax.random.PRNGKey(0), True)
    return int(np.argmax(q_values[0]))

  # One update hardly moves an option's greedy actions, so the trained slot carries another
  # option's parameters (whose greedy actions differ in many cells) to tell the two apart.
  for acting, trained in ((1, 1), (1, 0), (2, 2), (0, 2)):
    passed, passed_targets = agent.extensions_passed(acting + 1, updating=True)
    stand_in = (acting + 1) % agent.num_options
    passed.update(trained_option=np.int32(trained), option=options[stand_in],
                  option_optimizer_state=state.extensions['option_optimizer_states'][stand_in])
    passed_targets = {'option': state.extension_targets['options'][trained]}
    actions = []
    for observation in cells:
      trained_parts, _, _, _, action = agent._update_and_act(
          state.params, state.target_params, jax.tree.map(np.copy, state.optimizer_state),
          passed, passed_targets, batch, observation, agent._base_key, 0, acting + 1)
      acted_with = trained_parts[2]['option'] if acting == trained else options[acting]
      actions.append((int(action), greedy(acted_with, observation),
                      greedy(options[acting] if acting == trained else options[stand_in],
                             observation)))
    assert all(action == expected for action, expected, _ in actions)
    assert any(action != other for action, _, other in actions)


def test_a_checkpoint_taken_while_an_option_runs_continues_the_option(tmp_path):
  env_a, env_b = grid(), grid()
  agent_a = make_agent(env_a, epsilon_train=1.0, option_prob=1.0, option_termination=0.05)
  run_episodes(agent_a, env_a, 2, seed=0)
  observation, _ = env_a.reset(seed=50)
  action = agent_a.begin_episode(observation)
  actions = [action]
  for _ in range(5):
    observation, reward, _, _, _ = env_a.step(action)
    action = agent_a.step(reward, observation)
    actions.append(action)
  assert agent_a.option_runs.current is not None
  directory, bundle = save_and_load(agent_a, tmp_path)

  agent_b = make_agent(env_b, epsilon_train=1.0, option_prob=1.0, option_termination=0.05,
                       seed=3)
  assert agent_b.unbundle(directory, 0, bundle)
  assert (agent_b.option_runs.current, agent_b.option_runs.run_length) == (
      agent_a.option_runs.current, agent_a.option_runs.run_length)
  env_b.reset(seed=50)
  for taken in actions[:-1]:
    env_b.step(taken)  # env_b where env_a is
  continued = {}
  for name, agent, env in (('a', agent_a, env_a), ('b', agent_b, env_b)):
    action, trace = actions[-1], []
    for _ in range(10):
      observation, reward, terminated, truncated, _ = env.step(action)
      if terminated or truncated:
        break
      action = agent.step(reward, observation)
      trace.append((action, agent.option_runs.current))
    continued[name] = trace
  assert continued['a'] == continued['b'] and len(continued['a']) >= 5


def test_on_a_named_grid_it_reports_subspace_overlap_and_describes_states_by_eigenfunction():
  env = grid('four_rooms')
  agent = make_agent(env, grid_layout='four_rooms')
  run_episodes(agent, env, 2, seed=0)
  statistics = agent.iteration_statistics()
  cells = gridworld.cell_observations('four_rooms', 'one_hot')
  _, eigenvectors = gridworld.laplacian_eigen('four_rooms')
  phi = agent.representation_values(cells)
  assert phi.shape == (104, agent.representation_dimension)
  assert statistics['subspace_overlap'] == pytest.approx(
      laplacian.subspace_overlap(phi, eigenvectors, agent.representation_dimension))
  # And over the cells its replay holds, against their own graph's eigenvectors.
  counts = agent.replay.stacks(np.arange(len(agent.replay))).sum(axis=0)  # one-hot rows
  visited = counts > 0
  oracle = laplacian_grid.visited_eigenvectors('four_rooms', counts, agent.representation_dimension)
  assert statistics['visited_subspace_overlap'] == pytest.approx(laplacian.subspace_overlap(
      phi[visited], np.linalg.qr(oracle[visited])[0], agent.representation_dimension))
  # And the traps of the options' functions over those cells, their mean over the options.
  assert statistics['option_function_traps'] == pytest.approx(np.mean(
      agent.grid.local_maxima(phi[:, list(agent.option_eigenfunctions)], counts)))
  described = agent.describe_states(cells[:7])
  assert list(described) == [f'eigenfunction {index}' for index in agent.option_eigenfunctions]
  np.testing.assert_allclose(described['eigenfunction 2'], phi[:7, 2], rtol=1e-6)
  with pytest.raises(errors.BadInputError, match='not a grid world'):
    make_agent(env, grid_layout='open_5x5')


def test_option_action_is_the_options_greedy_action():
  env = grid()
  agent = make_agent(env)
  run_episodes(agent, env, 2, seed=0)
  observation, _ = env.reset(seed=3)
  for option in range(agent.num_options):
    params = agent.state.extensions['options'][option]
    q_values = agent._q_values(params, observation[None], jax.random.PRNGKey(0), True)
    assert agent.option_action(observation, option) == int(np.argmax(q_values[0]))
  with pytest.raises(errors.InvalidSettingError, match='options 0..2'):
    agent.option_action(observation, 3)


def test_an_options_target_takes_its_parameters_on_the_options_own_clock():
  # As the reference's: after the option's first update, then after every target_update_period-th
  # (10 here) of its own updates; the main network's sync leaves the options' targets alone.
  env = grid()
  agent = make_agent(env)
  option, other = 2, 0
  other_target = jax.tree.leaves(agent.state.extension_targets['options'][other])[0]
  synced_after = []
  for update in range(25):
    extensions = agent.state.extensions
    marked = jax.tree.map(lambda leaf, shift=update + 1: leaf + shift,
                          extensions['options'][option])
    updated = {'representation': extensions['representation'],
               'representation_optimizer_state': extensions['representation_optimizer_state'],
               'option': marked,
               'option_optimizer_state': extensions['option_optimizer_states'][option]}
    new_extensions, targets = agent.extensions_returned({'trained_option': np.int32(option)},
                                                        updated)
    agent.state = agent.sync_targets(agent.state._replace(extensions=new_extensions,
                                                          extension_targets=targets))
    if np.array_equal(jax.tree.leaves(agent.state.extension_targets['options'][option])[0],
                      jax.tree.leaves(marked)[0]):
      synced_after.append(update)
  assert synced_after == [0, 10, 20]
  assert list(agent.state.extensions['option_updates']) == [0, 0, 25]  # 3 options
  np.testing.assert_array_equal(
      jax.tree.leaves(agent.state.extension_targets['options'][other])[0], other_target)
