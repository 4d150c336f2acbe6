"""What behaviour cloning's network outputs mean, per kind of action space.

An action model (`TanhGaussianActions` for a bounded Box, `CategoricalActions` for Discrete)
builds the network (agents/networks.py), converts the dataset's actions into what the loss
compares with (actions rescaled to [-1, 1]; indices from 0), and turns network outputs into the
loss, an evaluation metric and actions in the environment's units. The learner, its validation
and the exported policy all go through it, so they agree on what an output means.

Observations are standardised by a shift and scale (the training rows' mean and standard
deviation, kept in the learner's state) before the network sees them.
"""

from typing import Any, Sequence, Tuple

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from agents import base
from agents import networks
from offline.bc import losses


def standardized(observations: jnp.ndarray, shift: jnp.ndarray, scale: jnp.ndarray) -> jnp.ndarray:
  """(observations - shift) / scale, as float32."""
  return (observations.astype(jnp.float32) - shift) / scale


def standardization(observations: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(mean, std) per observation entry, std 1 where an entry is constant (nothing to scale)."""
  observations = np.asarray(observations, np.float64)
  mean, std = observations.mean(axis=0), observations.std(axis=0)
  return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


class TanhGaussianActions:
  """Box actions: a tanh-squashed Gaussian rescaled onto the Box's bounds (as SAC's policy)."""
  metric_name = 'action_error'  # mean |mode - dataset action| over dimensions, environment units

  def __init__(self, action_space: gymnasium.spaces.Box,
               action_clip: float = losses.DEFAULT_ACTION_CLIP):
    self.space = action_space
    self.action_clip = float(action_clip)
    self.offset, self.scale = base.box_offset_and_scale(action_space)
    self.log_scale = jnp.asarray(np.log(self.scale), jnp.float32)

  def network(self, hidden_sizes: Sequence[int], log_std_bounds: Tuple[float, float]) -> Any:
    return networks.TanhGaussianActor(action_dim=len(self.scale), hidden_sizes=tuple(hidden_sizes),
                                      log_std_bounds=tuple(log_std_bounds))

  def dataset_actions(self, actions: np.ndarray) -> np.ndarray:
    """Actions rescaled to [-1, 1] per dimension, (N, action_dim) float32."""
    actions = np.asarray(actions, np.float64).reshape(len(actions), -1)
    return ((actions - self.offset) / self.scale).astype(np.float32)

  def nll(self, outputs: Tuple[jnp.ndarray, jnp.ndarray], actions: jnp.ndarray) -> jnp.ndarray:
    mean, log_std = outputs
    return losses.tanh_gaussian_nll(mean, log_std, actions, self.log_scale, self.action_clip)

  def metric(self, outputs: Tuple[jnp.ndarray, jnp.ndarray], actions: jnp.ndarray) -> jnp.ndarray:
    mode = jnp.tanh(outputs[0])
    return jnp.mean(jnp.abs(mode - actions) * jnp.asarray(self.scale, jnp.float32), axis=-1)

  def action(self, outputs: Tuple[jnp.ndarray, jnp.ndarray], key: jax.Array,
             deterministic: bool) -> jnp.ndarray:
    """A batch of actions in [-1, 1]: tanh of the mean, or a sample."""
    mean, log_std = outputs
    if deterministic:
      return jnp.tanh(mean)
    return jnp.tanh(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape))

  def to_environment(self, action: np.ndarray) -> np.ndarray:
    """One action from [-1, 1] onto the Box, in its dtype and shape."""
    action = self.offset + self.scale * np.asarray(action, np.float64)
    return action.astype(self.space.dtype).reshape(self.space.shape)


class CategoricalActions:
  """Discrete actions: a categorical over the actions' logits."""
  metric_name = 'accuracy'  # how often the most likely action is the dataset's

  def __init__(self, action_space: gymnasium.spaces.Discrete):
    self.space = action_space
    self.start = int(action_space.start)

  def network(self, hidden_sizes: Sequence[int], log_std_bounds: Tuple[float, float]) -> Any:
    del log_std_bounds
    return networks.MLP(num_outputs=int(self.space.n), hidden_sizes=tuple(hidden_sizes),
                        min_vals=None, max_vals=None)

  def dataset_actions(self, actions: np.ndarray) -> np.ndarray:
    """Action indices counted from 0, (N,) int32."""
    return (np.asarray(actions, np.int64).reshape(-1) - self.start).astype(np.int32)

  def nll(self, logits: jnp.ndarray, actions: jnp.ndarray) -> jnp.ndarray:
    return losses.categorical_nll(logits, actions)

  def metric(self, logits: jnp.ndarray, actions: jnp.ndarray) -> jnp.ndarray:
    return (jnp.argmax(logits, axis=-1) == actions).astype(jnp.float32)

  def action(self, logits: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    if deterministic:
      return jnp.argmax(logits, axis=-1)
    return jax.random.categorical(key, logits, axis=-1)

  def to_environment(self, action: np.ndarray) -> int:
    return int(action) + self.start


def action_model(learner_name: str, action_space: gymnasium.Space,
                 action_clip: float = losses.DEFAULT_ACTION_CLIP):
  """The action model for `action_space`; IncompatibleSpaceError naming the learner otherwise."""
  if isinstance(action_space, gymnasium.spaces.Discrete):
    return CategoricalActions(action_space)
  base.require_bounded_box(learner_name, action_space)
  if not 0.0 < action_clip < 1.0:
    raise ValueError(f'{learner_name} needs 0 < action_clip < 1, got {action_clip}')
  return TanhGaussianActions(action_space, action_clip)
