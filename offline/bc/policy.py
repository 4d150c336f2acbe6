"""`Policy`: what a trained behaviour-cloning learner exports, a network that acts in the
environment's action units (PolicyAgent, agents/policy_agent.py, acts with one).
"""

from typing import Any, Optional

import gymnasium
import jax
import numpy as np

from agents import compilation
from offline.bc import model


class Policy:
  """A trained BC policy for `observation_space` and `action_space`.

  `act(observation, deterministic=True, rng=None)`: for one observation, the most likely action
  (tanh of the Gaussian's mean; the argmax) or, with `deterministic=False`, a sample whose
  randomness comes from `rng` (a numpy Generator the caller owns and checkpoints).
  """

  def __init__(self, observation_space: gymnasium.Space, action_model: Any, network: Any,
               params: Any, observation_shift: Any, observation_scale: Any):
    self.observation_space = observation_space
    self.action_space = action_model.space
    self._action_model = action_model
    self._network = network
    self._variables = (params, observation_shift, observation_scale)
    self._act = compilation.jit(self._device_action, static_argnums=3)

  def _device_action(self, variables, observation, seed, deterministic):
    params, shift, scale = variables
    outputs = self._network.apply(params, model.standardized(observation[None], shift, scale))
    action = self._action_model.action(outputs, jax.random.PRNGKey(seed), deterministic)
    return action[0]

  def act(self, observation: np.ndarray, deterministic: bool = True,
          rng: Optional[np.random.Generator] = None) -> Any:
    """The action for `observation` in the environment's units (see the class docstring)."""
    if deterministic:
      seed = 0  # unused
    elif rng is None:
      raise ValueError('Policy.act needs an rng (numpy Generator) to sample an action')
    else:
      seed = int(rng.integers(0, 2 ** 32, dtype=np.uint64))
    observation = np.asarray(observation, np.float32).reshape(self.observation_space.shape)
    action = self._act(self._variables, observation, np.uint32(seed), bool(deterministic))
    return self._action_model.to_environment(np.asarray(action))
