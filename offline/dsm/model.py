"""DSM's networks: the generator (a "model of models": one MLP per atom, parameters vmapped over
the atoms) and the adversarial discriminator that embeds states for the inner kernel.

Generator atom i maps [z, s] (z ~ N(0, I_latent), s the source state) to a state x: its samples
are atom i's guess of the discounted state occupancy from s. Its parameters are stacked on a
leading axis of `num_atoms`, so the whole generator is one pytree and one batched matmul per layer.

The discriminator is the reference's residual MLP under spectral normalisation (an "iResMLP": the
normalisation keeps every residual branch a contraction, so the embedding is injective and an MMD
on embeddings is still a distance between distributions of states). Its power-iteration vectors
live in the 'spectral_norm' variable collection; they move only in discriminator steps.
"""

from typing import Callable, Sequence

import flax.linen as nn
import gin
import jax.numpy as jnp

SPECTRAL_NORM = 'spectral_norm'


class LeakyMLP(nn.Module):
  """Dense layers of `hidden_sizes` with leaky ReLUs, then a linear layer of `num_outputs`."""
  hidden_sizes: Sequence[int]
  num_outputs: int
  activation: Callable[[jnp.ndarray], jnp.ndarray] = nn.leaky_relu

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    for size in self.hidden_sizes:
      x = self.activation(nn.Dense(size)(x))
    return nn.Dense(self.num_outputs)(x)


@gin.configurable
class Generator(nn.Module):
  """`num_atoms` MLPs of `hidden_sizes`, one per atom, each mapping [z, source] to a state.

  Called with latents [num_atoms, N, latent_dim] and sources [N, state_dim] (the same sources for
  every atom), returns states [num_atoms, N, state_dim].
  """
  num_atoms: int
  state_dim: int
  hidden_sizes: Sequence[int] = (256, 256, 256)

  @nn.compact
  def __call__(self, latents: jnp.ndarray, sources: jnp.ndarray) -> jnp.ndarray:
    sources = jnp.broadcast_to(sources, latents.shape[:-1] + sources.shape[-1:])
    inputs = jnp.concatenate([latents, sources.astype(latents.dtype)], axis=-1)
    atoms = nn.vmap(LeakyMLP, in_axes=0, out_axes=0, variable_axes={'params': 0},
                    split_rngs={'params': True}, axis_size=self.num_atoms)
    return atoms(tuple(self.hidden_sizes), self.state_dim, name='atoms')(inputs)


class ResidualMLP(nn.Module):
  """A linear layer to `hidden_size`, `num_blocks` residual blocks, and a linear layer to
  `num_outputs` (the reference's discriminator body). A block adds to its input a LeakyMLP of
  `layers_per_block` hidden layers (and its linear output) applied to the activated input."""
  hidden_size: int
  num_blocks: int
  layers_per_block: int
  num_outputs: int

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = nn.Dense(self.hidden_size)(x)
    for _ in range(self.num_blocks):
      x = x + LeakyMLP((self.hidden_size,) * self.layers_per_block,
                       self.hidden_size)(nn.leaky_relu(x))
    return nn.Dense(self.num_outputs)(nn.leaky_relu(x))


@gin.configurable
class Discriminator(nn.Module):
  """Embeds states [..., state_dim] as [..., embedding_dim], shared by every atom: a ResidualMLP
  under spectral normalisation (`spectral_norm`; off, the reference's plain-MLP variant's
  body). Call with `update_stats=True` in discriminator steps, with the 'spectral_norm' collection
  mutable."""
  embedding_dim: int = 8
  hidden_size: int = 256
  num_blocks: int = 2
  layers_per_block: int = 2
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, states: jnp.ndarray, update_stats: bool = False) -> jnp.ndarray:
    body = ResidualMLP(self.hidden_size, self.num_blocks, self.layers_per_block,
                       self.embedding_dim)
    flat = states.reshape(-1, states.shape[-1])
    if self.spectral_norm:
      embedded = nn.SpectralNorm(body, collection_name=SPECTRAL_NORM)(flat,
                                                                     update_stats=update_stats)
    else:
      embedded = body(flat)
    return embedded.reshape(states.shape[:-1] + (self.embedding_dim,))
