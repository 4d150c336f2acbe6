"""Behaviour cloning's losses: the negative log-likelihood of the dataset's actions under the
policy, per sample, for a tanh-squashed Gaussian (Box actions) and a categorical (Discrete).

Pure functions of arrays, tested against hand-computed likelihoods (tests/offline/bc/).
"""

import jax
import jax.numpy as jnp

from agents.sac import tanh_gaussian_log_prob

# Dataset actions in the unit box are clipped to +-this before atanh: an action on the Box's bound
# (a saturated controller, a clipped action; common in datasets) has atanh = +-inf, whose loss and
# gradient are infinite. 0.999 (atanh = 3.8) keeps the target within reach of a Gaussian whose
# mean the network can output, and changes the action by at most 0.1% of the Box's half-width.
DEFAULT_ACTION_CLIP = 0.999


def tanh_gaussian_nll(mean: jnp.ndarray, log_std: jnp.ndarray, unit_actions: jnp.ndarray,
                      log_action_scale: jnp.ndarray,
                      action_clip: float = DEFAULT_ACTION_CLIP) -> jnp.ndarray:
  """-log pi(a | s) for actions a = scale * tanh(u) + offset, u ~ N(mean, exp(log_std)^2), given
  as `unit_actions` (a rescaled to [-1, 1], clipped to +-`action_clip`); a density of the action
  in the environment's units (hence `log_action_scale`, the log half-widths of the Box)."""
  pre_tanh = jnp.arctanh(jnp.clip(unit_actions, -action_clip, action_clip))
  return -tanh_gaussian_log_prob(pre_tanh, mean, log_std, log_action_scale)


def categorical_nll(logits: jnp.ndarray, action_indices: jnp.ndarray) -> jnp.ndarray:
  """-log softmax(logits)[a] for each row's action index a (counted from 0)."""
  log_probabilities = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.take_along_axis(log_probabilities, action_indices[:, None], axis=-1)[:, 0]
