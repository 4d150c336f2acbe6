"""`ActionPrior`: what a trained SFP prior learner exports, the state-free action prior
p(a_t | a_{t-1}) an SFP agent samples from and scores inside its own jitted updates.

Actions in and out are in [-1, 1] units per dimension (the dataset's action Box rescaled as
(a - offset) / scale: the agent converts). `params` (parameters and batch-norm running
statistics, in evaluation mode) is handed to `sample` and `log_prob` explicitly, so an agent can
pass it into its jitted functions as an argument rather than a constant baked into them.
"""

from typing import Any, Optional

import jax
import jax.numpy as jnp

from offline.sfp import models

# The reference clamps prior samples just inside the bounds: atanh of a SAC critic's or policy's
# input stays finite.
SAMPLE_CLAMP = 0.99


class ActionPrior:
  """A trained prior over `action_dim`-dimensional actions (see the module docstring).

  `sample(params, previous_actions, key)`: [B, D] -> [B, D] in [-0.99, 0.99] (NaNs, which an
  untrained flow's inverse can produce, become 0); `log_prob(params, previous_actions, actions)`:
  [B] log densities in nats of the unclamped model (a BadInputError for a deterministic prior,
  which has none). Both are pure and jittable.

  `initial_actions` [K, D]: actions drawn from the training data, from which the reference draws
  the condition of an episode's first action (its `rand_init_cond`: a uniformly chosen dataset
  action); None when the learner had none.
  """

  def __init__(self, model: models.PriorModel, params: Any,
               initial_actions: Optional[jnp.ndarray] = None):
    self.model = model
    self.prior_type = model.name
    self.action_dim = model.action_dim
    self.params = params
    self.initial_actions = initial_actions

  def sample(self, params: Any, previous_actions: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    actions = self.model.sample(params, previous_actions, key)
    return jnp.clip(jnp.nan_to_num(actions), -SAMPLE_CLAMP, SAMPLE_CLAMP)

  def log_prob(self, params: Any, previous_actions: jnp.ndarray,
               actions: jnp.ndarray) -> jnp.ndarray:
    return self.model.log_prob(params, previous_actions, actions)

  def __repr__(self) -> str:
    return f'ActionPrior({self.prior_type!r}, action_dim={self.action_dim})'
