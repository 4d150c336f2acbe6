"""Shared flax.linen networks. Parameters stay explicit pytrees (target networks are just copies)."""

from typing import Optional, Sequence

import flax.linen as nn
import gin
import jax.numpy as jnp


@gin.configurable
class MLP(nn.Module):
  """Fully connected ReLU network for vector observations, Dopamine's classic-control torso + head.

  If `min_vals`/`max_vals` are given (one per flattened input), inputs are rescaled from that box
  to [-1, 1] first.
  """
  num_outputs: int
  hidden_sizes: Sequence[int] = (512, 512)
  min_vals: Optional[Sequence[float]] = None
  max_vals: Optional[Sequence[float]] = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """x: a batch of observations of any shape, flattened to vectors (the batch axis first)."""
    x = x.astype(jnp.float32).reshape((x.shape[0], -1))
    if self.min_vals is not None:
      if self.max_vals is None or len(self.min_vals) != len(self.max_vals):
        raise ValueError('MLP.min_vals and MLP.max_vals must be given together, of equal length')
      low = jnp.asarray(self.min_vals, jnp.float32)
      high = jnp.asarray(self.max_vals, jnp.float32)
      x = 2.0 * (x - low) / (high - low) - 1.0
    initializer = nn.initializers.xavier_uniform()
    for size in self.hidden_sizes:
      x = nn.relu(nn.Dense(size, kernel_init=initializer)(x))
    return nn.Dense(self.num_outputs, kernel_init=initializer)(x)
