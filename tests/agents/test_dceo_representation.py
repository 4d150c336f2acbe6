"""DCEO's representation phi (agents/dceo.py) in the update's call: its Adam steps by hand under
each objective, weighting, batch of its own, pair horizon and optimizer, and a host-fitted
oracle's refits from the replay."""

import functools

import flax.linen as nn
import jax
import numpy as np
import pytest

from agents import laplacian
from agents import laplacian_grid
from agents import optimizers
from runner import errors
from tests.agents.dceo_testing import (update_once, update_without, replayed_batch, make_agent,
                                       grid, table_representation, assert_phi_stepped_on,
                                       update_with_own_batch)
from tests.fakes import run_episodes, save_and_load


def test_the_representation_loss_decreases_on_a_grid_world_replay():
  env = grid('four_rooms')
  agent = make_agent(env, epsilon_train=1.0, batch_size=32, representation_batch_size=32)
  run_episodes(agent, env, 5, seed=0)
  early = agent.iteration_statistics()['representation_loss']
  run_episodes(agent, env, 40, seed=5)
  agent.iteration_statistics()
  run_episodes(agent, env, 5, seed=45)
  late = agent.iteration_statistics()['representation_loss']
  assert late < early - 1.0, (early, late)


def test_representation_steps_are_adam_steps_on_the_same_positives_with_fresh_negatives():
  env = grid()
  steps = 3
  agent = make_agent(env, representation_network=table_representation(),
                     representation_steps=steps)
  run_episodes(agent, env, 3, seed=0)
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  key = jax.random.PRNGKey(3)
  results = {}
  for count in (1, steps):  # the same state, batch, key and trained option
    agent.representation_steps = count
    agent._rng = np.random.default_rng(11)
    results[count] = update_once(agent, batch, key)

  # By hand: `steps` Adam steps of the Laplacian loss, each on the batch's positive pairs and
  # negatives drawn from the pooled states with its own key.
  pooled = np.concatenate([batch['observation'], batch['next_observation']])
  pairs_key, _ = jax.random.split(key)
  params = agent.state.extensions['representation']
  optimizer_state = agent.state.extensions['representation_optimizer_state']
  first_loss = None
  for step_key in jax.random.split(pairs_key, steps):
    picks = np.asarray(jax.random.randint(step_key, (2, agent.representation_batch_size), 0,
                                          len(pooled)))

    def loss(params, picks=picks):
      phi = agent.representation.apply(params, pooled)
      state_phi, next_phi = np.split(np.arange(len(pooled)), 2)
      return laplacian.laplacian_loss(phi[state_phi], phi[next_phi], phi[picks[0]],
                                      phi[picks[1]], agent.objective.norm_transform)[0]

    value, gradients = jax.value_and_grad(loss)(params)
    first_loss = value if first_loss is None else first_loss
    updates, optimizer_state = agent._optimizer.update(gradients, optimizer_state, params)
    params = jax.tree.map(lambda p, u: p + u, params, updates)
  extensions, statistics = results[steps]
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['representation'], params)
  assert float(statistics['representation_loss']) == pytest.approx(float(first_loss), rel=1e-5)
  # The options' reward is phi from before the first step: the option learns as with one step.
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['option'], results[1][0]['option'])
  assert not np.allclose(jax.tree.leaves(extensions['representation'])[-1],
                         jax.tree.leaves(results[1][0]['representation'])[-1])
  with pytest.raises(errors.InvalidSettingError, match='representation_steps'):
    make_agent(env, representation_steps=0)


def test_allo_steps_phi_and_climbs_its_duals_in_the_update(tmp_path):
  env = grid()
  steps, barrier, dual_rate = 2, 1.5, 0.25
  agent = make_agent(env, representation_network=table_representation(),
                     representation_steps=steps, representation_objective='allo',
                     allo_barrier=barrier, allo_dual_learning_rate=dual_rate)
  run_episodes(agent, env, 3, seed=0)
  duals_so_far = np.asarray(agent.state.extensions['representation_duals'])
  assert np.any(duals_so_far != 0) and np.all(np.triu(duals_so_far, 1) == 0)
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  key = jax.random.PRNGKey(3)
  extensions, statistics = update_once(agent, batch, key)

  # By hand: each step is an Adam step on ALLO's loss at the current duals, then the duals' step.
  pooled = np.concatenate([batch['observation'], batch['next_observation']])
  pairs_key, _ = jax.random.split(key)
  params = agent.state.extensions['representation']
  optimizer_state = agent.state.extensions['representation_optimizer_state']
  duals = agent.state.extensions['representation_duals']
  first_loss = None
  for step_key in jax.random.split(pairs_key, steps):
    picks = np.asarray(jax.random.randint(step_key, (2, agent.representation_batch_size), 0,
                                          len(pooled)))

    def loss(params, picks=picks, duals=duals):
      phi = agent.representation.apply(params, pooled)
      phi_state, phi_next = np.split(phi, 2)
      value, _, constraints = laplacian.allo_loss(phi_state, phi_next, phi[picks[0]],
                                                  phi[picks[1]], duals, barrier)
      return value, constraints

    (value, constraints), gradients = jax.value_and_grad(loss, has_aux=True)(params)
    first_loss = value if first_loss is None else first_loss
    updates, optimizer_state = agent._optimizer.update(gradients, optimizer_state, params)
    params = jax.tree.map(lambda p, u: p + u, params, updates)
    duals = laplacian.allo_dual_step(duals, constraints, dual_rate)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['representation'], params)
  np.testing.assert_allclose(extensions['representation_duals'], duals, rtol=1e-5, atol=1e-7)
  assert float(statistics['representation_loss']) == pytest.approx(float(first_loss), rel=1e-5)

  # The duals go into the checkpoint with the rest of the train state.
  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, representation_network=table_representation(),
                        representation_objective='allo', seed=1)
  assert restored.unbundle(directory, 0, bundle)
  np.testing.assert_array_equal(restored.state.extensions['representation_duals'], duals_so_far)
  with pytest.raises(errors.InvalidSettingError, match='representation objective'):
    make_agent(env, representation_objective='proper')


def test_inverse_visits_weigh_every_visited_state_alike_in_the_representation_step(tmp_path):
  env = grid()
  agent = make_agent(env, representation_network=table_representation(),
                     state_weighting='inverse_visits')
  run_episodes(agent, env, 3, seed=0)
  # The counts are the transitions stored from each cell.
  replay_rows = agent.replay.row_arrays()
  written = slice(0, len(agent.replay))
  stored = replay_rows['observation'][written][replay_rows['kind'][written] == 0]
  cells = np.eye(env.observation_space.shape[0], dtype=np.float32)
  np.testing.assert_array_equal(agent.visits.counts(cells),
                                [np.sum(np.all(stored == cell, axis=1)) for cell in cells])

  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  batch.update(agent.extension_batch(batch))
  key = jax.random.PRNGKey(3)
  extensions, statistics = update_once(agent, batch, key)

  # By hand: weights 1 / (P(i) n(s)) from the counts of each state, positives weighted by them,
  # negatives drawn from the pooled states in proportion to them.
  counts = np.maximum(agent.visits.counts(np.concatenate([batch['observation'],
                                                          batch['next_observation']])), 1)
  sampling = np.tile(batch['sampling_probability'], 2)
  weights = 1.0 / (sampling * counts)
  np.testing.assert_allclose(np.concatenate([batch['state_visits'], batch['next_state_visits']]),
                             counts)
  pooled = np.concatenate([batch['observation'], batch['next_observation']])
  pairs_key, _ = jax.random.split(key)
  picks = np.asarray(jax.random.choice(pairs_key, len(pooled), (2, agent.representation_batch_size),
                                       p=weights / weights.sum()))

  def loss(params):
    phi = agent.representation.apply(params, pooled)
    phi_state, phi_next = np.split(phi, 2)
    return laplacian.laplacian_loss(phi_state, phi_next, phi[picks[0]], phi[picks[1]],
                                    agent.objective.norm_transform,
                                    positive_weights=weights[:len(weights) // 2])[0]

  params = agent.state.extensions['representation']
  value, gradients = jax.value_and_grad(loss)(params)
  updates, _ = agent._optimizer.update(
      gradients, agent.state.extensions['representation_optimizer_state'], params)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['representation'], jax.tree.map(lambda p, u: p + u, params, updates))
  assert float(statistics['representation_loss']) == pytest.approx(float(value), rel=1e-5)
  assert len(set(counts.tolist())) > 1  # the weights are not uniform: the check tells them apart

  # The counts go into the checkpoint with the replay.
  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, representation_network=table_representation(),
                        state_weighting='inverse_visits', seed=1)
  assert restored.unbundle(directory, 0, bundle)
  np.testing.assert_array_equal(restored.visits.counts(cells), agent.visits.counts(cells))
  with pytest.raises(errors.BadInputError, match='no visit counts'):
    restored._load_replay_state({name: value for name, value in bundle.items()
                                 if name != 'visits'})
  with pytest.raises(errors.InvalidSettingError, match='state_weighting'):
    make_agent(env, state_weighting='uniform')


def test_representation_optimizer_steps_phi_alone_and_the_options_keep_the_agents(tmp_path):
  env = grid()
  settings = dict(representation_network=table_representation())
  own = functools.partial(optimizers.create_optimizer, name='sgd', learning_rate=0.01)
  agent = make_agent(env, representation_optimizer=own, **settings)
  run_episodes(agent, env, 3, seed=0)
  assert agent.representation_optimizer is not agent._optimizer
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  agent._rng = np.random.default_rng(11)
  key = jax.random.PRNGKey(3)
  extensions, _ = update_once(agent, batch, key)
  # phi takes plain gradient steps of 0.01 (by hand, with the update's own negatives), and the
  # option the agent's Adam step, as it would under the agent's optimizer for phi too.
  assert_phi_stepped_on(agent, {'observation': batch['observation'],
                                'next_observation': batch['next_observation']}, key,
                        extensions['representation'])
  params = agent.state.extensions['representation']
  sgd_step = jax.tree.map(lambda new, old: new - old, extensions['representation'], params)
  assert any(np.abs(leaf).max() > 0 for leaf in jax.tree.leaves(sgd_step))
  expected = update_without(agent, env, settings, batch, key, 'representation_optimizer',
                            representation_optimizer_state=agent._optimizer.init(params))
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['option'], expected['option'])
  # A schedule's count lives in phi's optimizer state and survives a checkpoint.
  decaying = functools.partial(optimizers.create_optimizer, learning_rate=1e-3,
                               schedule='warmup_cosine', warmup_steps=2, decay_steps=50)
  agent = make_agent(env, representation_optimizer=decaying, **settings)
  run_episodes(agent, env, 3, seed=0)
  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, representation_optimizer=decaying, **settings)
  assert restored.unbundle(directory, 0, bundle)
  counts = [leaf for leaf in jax.tree.leaves(restored.state.extensions[
      'representation_optimizer_state']) if np.ndim(leaf) == 0]
  updates = agent.iteration_statistics()['updates']
  assert updates > 0 and counts and all(int(count) == updates for count in counts)
  jax.tree.map(np.testing.assert_array_equal, restored.state, agent.state)


def test_representation_pairs_batch_size_steps_phi_on_a_batch_of_its_own_drawn_as_replay_draws():
  env = grid()
  agent = make_agent(env, representation_network=table_representation(),
                     representation_pairs_batch_size=24)
  run_episodes(agent, env, 3, seed=0)
  update_with_own_batch(agent, env, agent.replay.sample(24, np.random.default_rng(5)))
  with pytest.raises(errors.InvalidSettingError, match='representation_pairs_batch_size'):
    make_agent(env, representation_pairs_batch_size=24, state_weighting='inverse_visits')


@pytest.mark.parametrize('state_weighting', ['replay', 'uniform_visited'])
def test_representation_pair_horizon_pairs_phi_k_moves_on_and_leaves_the_options_n_step_reward(
    state_weighting):
  env = grid()
  settings = dict(representation_network=table_representation(), update_horizon=3)
  agent = make_agent(env, representation_pair_horizon=1, state_weighting=state_weighting,
                     **settings)
  run_episodes(agent, env, 3, seed=0)
  batch = replayed_batch(agent)
  own = batch if state_weighting == 'replay' else agent.replay.gather(
      agent.visited_sampler.draw_starts(agent.replay, agent.batch_size, np.random.default_rng(5)))
  one_move_on = agent.replay.later_stacks(
      agent.replay.sample(agent.batch_size, np.random.default_rng(7))['indices']
      if state_weighting == 'replay' else own['indices'], 1)
  np.testing.assert_array_equal(batch['representation_observation'], own['observation'])
  np.testing.assert_array_equal(batch['representation_next_observation'], one_move_on)
  assert not np.array_equal(one_move_on, own['next_observation'])  # 3 moves on, mostly
  key = jax.random.PRNGKey(3)
  extensions, _ = update_once(agent, batch, key)
  assert_phi_stepped_on(agent, {'observation': own['observation'],
                                'next_observation': one_move_on}, key,
                        extensions['representation'])
  # The option learns on the main batch's n-step reward, as with phi's pairs n moves on.
  main = {name: value for name, value in batch.items() if not name.startswith('representation')}
  expected = update_without(agent, env, settings, main, key, 'nothing')
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['option'], expected['option'])
  # Through the shell's step, which hands extension_batch the batch's replay rows.
  run_episodes(agent, env, 2, seed=3)
  statistics = agent.iteration_statistics()
  assert statistics['updates'] > 0 and np.isfinite(statistics['representation_loss'])
  # The n-step horizon itself is the reference's pairing; beyond it, or weighed by inverse visits,
  # a clear error.
  assert make_agent(env, representation_pair_horizon=3, **settings).representation_pair_horizon == 0
  for bad in (dict(representation_pair_horizon=4), dict(representation_pair_horizon=-1),
              dict(representation_pair_horizon=1, state_weighting='inverse_visits')):
    with pytest.raises(errors.InvalidSettingError, match='representation_pair_horizon'):
      make_agent(env, **settings, **bad)


def test_uniform_visited_learns_phi_on_its_own_batch_and_rewards_options_on_the_main_one(
    tmp_path):
  env = grid()
  agent = make_agent(env, representation_network=table_representation(),
                     state_weighting='uniform_visited')
  run_episodes(agent, env, 3, seed=0)
  update_with_own_batch(agent, env, agent.replay.gather(agent.visited_sampler.draw_starts(
      agent.replay, agent.batch_size, np.random.default_rng(5))))

  # The index of visited states goes into the checkpoint with the replay.
  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, representation_network=table_representation(),
                        state_weighting='uniform_visited', seed=1)
  assert restored.unbundle(directory, 0, bundle)
  np.testing.assert_array_equal(
      restored.visited_sampler.draw_starts(restored.replay, 20, np.random.default_rng(3)),
      agent.visited_sampler.draw_starts(agent.replay, 20, np.random.default_rng(3)))
  with pytest.raises(errors.BadInputError, match='no visited-state index'):
    restored._load_replay_state({name: value for name, value in bundle.items()
                                 if name != 'visited_rows'})


def test_a_representation_fitted_on_the_host_is_refit_from_the_replay_every_refresh_period():
  refits = []  # (the table passed in, the observations, the table returned)

  class RecordedVisitedRepresentation(laplacian_grid.VisitedGridRepresentation):

    @nn.nowrap
    def refreshed(self, params, observations):
      new = super().refreshed(params, observations)
      refits.append((params['params']['table'], observations, new['params']['table']))
      return new

  env = grid()
  representation = functools.partial(RecordedVisitedRepresentation, layout='open_5x5',
                                     refresh_period=7)
  agent = make_agent(env, representation_network=representation)
  run_episodes(agent, env, 3, seed=0)
  # Before each training step that is a multiple of 7, once the replay holds a row: every
  # observation the replay holds, and the table the last refit left.
  assert len(refits) == (agent.training_steps - 1) // 7 > 5
  np.testing.assert_array_equal(refits[0][0], 0.0)
  for (_, _, returned), (passed, _, _) in zip(refits, refits[1:]):
    np.testing.assert_array_equal(passed, returned)
  for (_, earlier, _), (_, later, _) in zip(refits, refits[1:]):
    assert 7 <= len(later) - len(earlier) <= 9  # a row per step, and one per episode's end
    np.testing.assert_array_equal(later[:len(earlier)], earlier)
  np.testing.assert_array_equal(agent.state.extensions['representation']['params']['table'],
                                refits[-1][2])
  assert np.any(refits[-1][2] != 0)
