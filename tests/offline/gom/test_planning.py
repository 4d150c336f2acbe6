"""GOM's planners: random shooting and the guidance vector by hand; on a small deterministic
graph, the best of the dataset-supported outcomes is what value iteration over the dataset picks;
and a trained GOM on the branching graph acts as value iteration does, for two rewards."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline.gom import cumulants
from offline.gom import planning
from offline.gom.reward_weights import fit_reward_weights
from tests.offline.gom import branching


def test_random_shooting_keeps_the_best_outcomes():
  psis = jnp.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 5.0]])
  weights = jnp.array([1.0, -0.5])
  best, values = planning.random_shooting(psis, weights)
  np.testing.assert_allclose(values, [1.0, -1.0, 1.5, -3.5])
  np.testing.assert_allclose(best, [3.0, 3.0])
  elites, _ = planning.random_shooting(psis, weights, num_elites=2)
  np.testing.assert_allclose(elites, [2.0, 1.5])


def test_guidance_is_the_value_gradient_in_scaled_units():
  guidance = planning.guidance_vector(jnp.array([1.0, -2.0]), jnp.array([0.0, -10.0]),
                                      jnp.array([4.0, 10.0]), 0.5)
  np.testing.assert_allclose(guidance, [1.0, -10.0])


# A directed acyclic graph whose leaves are absorbing: node -> successors seen in the data.
GRAPH = {0: (1, 2), 1: (3, 4), 2: (4, 5), 3: (6,), 4: (6, 7), 5: (7,), 6: (), 7: ()}
POSITIONS = np.array([[0, 0], [1, 1], [1, -1], [2, 2], [2, 0], [2, -2], [3, 1], [3, -1]],
                     np.float32)


def _paths(node):
  if not GRAPH[node]:
    yield (node,)
  for successor in GRAPH[node]:
    for rest in _paths(successor):
      yield (node,) + rest


def _outcome(path, phi, gamma):
  """sum_k gamma^k phi(s_k), the leaf absorbing: its phi repeats forever."""
  discounts = gamma ** np.arange(len(path))
  psi = (discounts[:, None] * phi[list(path)]).sum(0)
  return psi + gamma ** len(path) / (1 - gamma) * phi[path[-1]]


def _value_iteration(rewards, gamma):
  values = np.zeros(len(GRAPH))
  for node in sorted(GRAPH, reverse=True):  # successors have larger numbers
    future = (max(values[s] for s in GRAPH[node]) if GRAPH[node]
              else rewards[node] / (1 - gamma))
    values[node] = rewards[node] + gamma * future if GRAPH[node] else future
  return values


@pytest.mark.parametrize('seed', range(4))
def test_the_best_dataset_outcome_is_what_value_iteration_picks(seed):
  gamma = 0.9
  params = cumulants.init_cumulants(jax.random.PRNGKey(seed), 2, num_features=8,
                                    bias_stddev=1.0)
  phi = np.asarray(cumulants.cumulants(params, POSITIONS), np.float64)
  true_weights = np.random.default_rng(seed).normal(size=phi.shape[1])
  rewards = phi @ true_weights
  # The dataset's transitions, each relabelled with the reward of its next state.
  next_states = [s for node in GRAPH for s in GRAPH[node]] + [6, 7]
  weights = np.asarray(fit_reward_weights(phi[next_states], rewards[next_states]), np.float64)
  values = _value_iteration(phi @ weights, gamma)
  for start in (0, 1, 2):
    paths = list(_paths(start))
    psis = jnp.asarray(np.stack([_outcome(path, phi, gamma) for path in paths]), jnp.float32)
    best, scores = planning.random_shooting(psis, jnp.asarray(weights, jnp.float32))
    chosen = paths[int(np.argmax(scores))]
    np.testing.assert_allclose(float(best @ weights), values[start], rtol=1e-4, atol=1e-3)
    greedy = max(GRAPH[start], key=lambda successor: values[successor])
    assert chosen[1] == greedy


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  return branching.trained_learner(str(tmp_path_factory.getbasetemp() / 'gom_branching'))


@pytest.mark.parametrize('planner', planning.PLANNERS)
def test_a_trained_gom_acts_as_value_iteration_for_two_rewards(trained, planner):
  model = trained.export()
  states = np.array([[0.0], [1.0], [-1.0]])
  phi = model.features(states)
  for sign in (1.0, -1.0):
    # r(s) = sign * s, exactly linear in these three states' cumulants.
    weights = np.asarray(fit_reward_weights(phi, sign * states[:, 0]))
    np.testing.assert_allclose(phi @ weights, sign * states[:, 0], atol=1e-4)
    actions = [float(model.act(np.array([0.0]), weights, jax.random.PRNGKey(key), planner,
                               num_samples=64, guidance_coefficient=2.0)[0][0])
               for key in range(8)]
    # Value iteration over the data: up for r = s, down for r = -s.
    assert np.mean(np.sign(actions) == sign) >= 0.75, actions
