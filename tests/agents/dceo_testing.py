"""Helpers shared by DCEO's tests (test_dceo.py, test_dceo_representation.py): a small agent on a
grid world, one extension update as a step's call makes it, and phi's Adam step by hand."""

import functools

import jax
import numpy as np

from agents import dceo
from agents import laplacian
from agents import losses
from agents import networks
from discrete_domains import gridworld


def update_once(agent, batch, key, policy=0):
  """One extension_update of `agent` on `batch` with `key`, its extensions passed as a step's
  update passes them: (extensions, statistics)."""
  passed, passed_targets = agent.extensions_passed(policy, updating=True)
  return agent.extension_update(
      passed, agent.state._replace(extensions=passed, extension_targets=passed_targets), batch,
      key)


def update_without(agent, env, settings, batch, key, dropped, **replaced):
  """The extensions after update_once of an agent made with `settings`, holding `agent`'s train
  state less the extensions whose names start with `dropped`, and with `replaced` ones."""
  plain = make_agent(env, **settings)
  plain.state = agent.state._replace(extensions={
      name: value for name, value in agent.state.extensions.items()
      if not name.startswith(dropped)} | replaced)
  plain._rng = np.random.default_rng(11)
  return update_once(plain, batch, key)[0]


def replayed_batch(agent):
  """A batch of `agent`'s replay with its extension batch, and the agent's generator reset, so
  that the next update_once trains the option update_without's agents do."""
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  agent._rng = np.random.default_rng(5)
  batch.update(agent.extension_batch(batch))  # as the shell calls it, with the batch's rows
  batch.pop('indices')
  agent._rng = np.random.default_rng(11)
  return batch


def make_agent(env, **overrides):
  settings = dict(
      network=functools.partial(networks.RainbowNetwork, hidden_size=0,
                                torso=functools.partial(networks.MLPTorso, hidden_sizes=(16,))),
      representation_network=functools.partial(
          networks.RepresentationNetwork, hidden_size=0,
          torso=functools.partial(networks.MLPTorso, hidden_sizes=(32,))),
      representation_dimension=4, num_options=3, num_atoms=11, vmax=5.0, noisy=False,
      epsilon_fn=losses.identity_epsilon, epsilon_train=0.5, epsilon_eval=0.0,
      min_replay_history=20, update_period=1, target_update_period=10, replay_capacity=2000,
      batch_size=8, representation_batch_size=8, seed=0)
  settings.update(overrides)
  return dceo.DCEOAgent(env.observation_space, env.action_space, **settings)


def grid(layout='open_5x5'):
  return gridworld.create_gridworld_environment(layout=layout, observation_type='one_hot',
                                                max_episode_steps=20)


def option_slices_changed(before, after, num_options):
  """Which options' parameters or Adam states differ between two extension pytrees."""
  changed = []
  for option in range(num_options):
    differs = [not np.array_equal(a, b) for part in ('options', 'option_optimizer_states')
               for a, b in zip(jax.tree.leaves(before[part][option]),
                               jax.tree.leaves(after[part][option]))]
    if any(differs):
      changed.append(option)
  return changed


def table_representation():
  """phi as a table on one-hot observations: a linear layer, phi(s) = W[s] + b."""
  return functools.partial(networks.RepresentationNetwork, hidden_size=0,
                           torso=functools.partial(networks.MLPTorso, hidden_sizes=()))


def assert_phi_stepped_on(agent, own, key, stepped):
  """That `stepped` is phi's Adam step, by hand, on the Laplacian loss of the transitions `own`,
  its negatives drawn from their pooled states with the update's `key`."""
  pooled = np.concatenate([own['observation'], own['next_observation']])
  pairs_key, _ = jax.random.split(key)
  picks = np.asarray(jax.random.randint(pairs_key, (2, agent.representation_batch_size), 0,
                                        len(pooled)))

  def loss(params):
    phi = agent.representation.apply(params, pooled)
    phi_state, phi_next = np.split(phi, 2)
    return laplacian.laplacian_loss(phi_state, phi_next, phi[picks[0]], phi[picks[1]],
                                    agent.objective.norm_transform)[0]

  params = agent.state.extensions['representation']
  gradients = jax.grad(loss)(params)
  updates, _ = agent.representation_optimizer.update(
      gradients, agent.state.extensions['representation_optimizer_state'], params)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               stepped, jax.tree.map(lambda p, u: p + u, params, updates))


def update_with_own_batch(agent, env, own):
  """update_once of `agent` on replayed_batch, whose extension batch must hold the transitions
  `own` (drawn with a generator seeded 5, as replayed_batch seeds the agent's): phi steps on them,
  by hand, and the option on the main batch, as under the reference's weighting. The extensions."""
  batch = replayed_batch(agent)
  np.testing.assert_array_equal(batch['representation_observation'], own['observation'])
  np.testing.assert_array_equal(batch['representation_next_observation'],
                                own['next_observation'])
  key = jax.random.PRNGKey(3)
  extensions, _ = update_once(agent, batch, key)
  assert_phi_stepped_on(agent, own, key, extensions['representation'])
  plain = {name: value for name, value in batch.items() if not name.startswith('representation')}
  expected = update_without(agent, env, dict(representation_network=table_representation()),
                            plain, key, 'nothing')
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               extensions['option'], expected['option'])
  return extensions
