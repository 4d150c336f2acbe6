"""`DeltaModel`: what a trained DSM learner exports, a distribution over occupancy measures from
which return distributions are read out for any reward function of states, without retraining.

Atom i is a generator of states x ~ mu_i(. | s), a guess of the discounted state occupancy of the
data policy from s (s itself included). For a reward r of states, atom i's return is
E_{x ~ mu_i}[r(x)] / (1 - gamma), estimated by the mean of r over `num_samples` of its samples:
the atoms' returns are samples of the return distribution of the data policy from s.

`policy` is the data policy the model describes (the offline run's `DeltaModelLearner.policy`, a
collection policy of offline/collection.py: an `AgentPolicy` naming the run that recorded the
data, say), so an agent can act with the policy whose returns it predicts.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from agents import compilation
from offline.dsm.rewards import rewards_of
from runner import errors


def sample_atoms(generator: Any, params: Any, sources: jnp.ndarray, key: jax.Array,
                 num_atoms: int, num_samples: int, latent_dim: int) -> jnp.ndarray:
  """`num_samples` states of every atom from each source: sources [B, d] -> [B, atoms, samples,
  d], with latents z ~ N(0, I) drawn from `key`."""
  batch = sources.shape[0]
  latents = jax.random.normal(key, (num_atoms, batch * num_samples, latent_dim))
  states = generator.apply(params, latents, jnp.repeat(sources, num_samples, axis=0))
  return states.reshape(num_atoms, batch, num_samples, -1).transpose(1, 0, 2, 3)


class DeltaModel:
  """A trained delta-model (see the module docstring).

  `sample_states(observation, num_samples, key=None)`: [atoms, num_samples, state_dim] states;
  `return_distribution(observation, reward_fn, num_samples=1024, key=None)`: [atoms] returns,
  float64; `return_distributions(observations, reward_fn, ...)`: [B, atoms] for a batch of
  sources. `reward_fn` maps states [N, state_dim] to rewards [N]. Without `key`, draws come
  from the model's own stream (seeded, so a fresh load gives the same numbers).
  """

  def __init__(self, generator: Any, params: Any, num_atoms: int, latent_dim: int, gamma: float,
               observation_space: Any, policy: Optional[Any] = None, seed: int = 0):
    self.generator = generator
    self.params = params
    self.num_atoms = int(num_atoms)
    self.latent_dim = int(latent_dim)
    self.gamma = float(gamma)
    self.observation_space = observation_space
    self.state_dim = int(np.prod(observation_space.shape))
    self.policy = policy
    self._base_key = jax.random.PRNGKey(seed)
    self._draws = 0
    self._sample = compilation.jit(self._sample_batch, static_argnums=3)

  def _sample_batch(self, params: Any, sources: jnp.ndarray, key: jax.Array,
                    num_samples: int) -> jnp.ndarray:
    return sample_atoms(self.generator, params, sources, key, self.num_atoms, num_samples,
                        self.latent_dim)

  def _next_key(self, key: Optional[jax.Array]) -> jax.Array:
    if key is not None:
      return key
    self._draws += 1
    return jax.random.fold_in(self._base_key, self._draws)

  def _sources(self, observations: Any) -> np.ndarray:
    sources = np.asarray(observations, np.float32)
    if sources.size % self.state_dim or sources.shape[-len(self.observation_space.shape):] != \
        tuple(self.observation_space.shape):
      raise errors.BadInputError(
          f'DeltaModel: observations of shape {sources.shape} do not match the observation space '
          f'{self.observation_space} the model was trained on')
    return sources.reshape(-1, self.state_dim)

  def sample_states_batch(self, observations: Any, num_samples: int,
                          key: Optional[jax.Array] = None) -> np.ndarray:
    """[B, atoms, num_samples, state_dim] states from each of the observations [B, ...]."""
    if int(num_samples) < 1:
      raise errors.InvalidSettingError(f'num_samples must be at least 1, got {num_samples}')
    return np.asarray(self._sample(self.params, self._sources(observations), self._next_key(key),
                                   int(num_samples)))

  def sample_states(self, observation: Any, num_samples: int,
                    key: Optional[jax.Array] = None) -> np.ndarray:
    """[atoms, num_samples, state_dim] states from one observation."""
    return self.sample_states_batch(np.asarray(observation)[None], num_samples, key)[0]

  def return_distributions(self, observations: Any, reward_fn: Callable[[Any], Any],
                           num_samples: int = 1024,
                           key: Optional[jax.Array] = None) -> np.ndarray:
    """[B, atoms] returns of `reward_fn` from each of the observations [B, ...]."""
    states = self.sample_states_batch(observations, num_samples, key)
    rewards = rewards_of(reward_fn, states.reshape(-1, self.state_dim))
    return rewards.reshape(states.shape[:3]).mean(axis=2) / (1.0 - self.gamma)

  def return_distribution(self, observation: Any, reward_fn: Callable[[Any], Any],
                          num_samples: int = 1024, key: Optional[jax.Array] = None) -> np.ndarray:
    """[atoms] returns of `reward_fn` from one observation: atom i's mean reward over its
    `num_samples` samples, divided by 1 - gamma."""
    return self.return_distributions(np.asarray(observation)[None], reward_fn, num_samples,
                                     key)[0]

  def __repr__(self) -> str:
    return (f'DeltaModel(atoms={self.num_atoms}, gamma={self.gamma}, '
            f'observation_space={self.observation_space}, policy={self.policy!r})')
