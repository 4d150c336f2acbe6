"""DSM's training targets: geometric-horizon samples of the discounted state occupancy, read from
dataset windows and bootstrapped from the target generator beyond them (METHODS.md, DSM).

The occupancy from s_0 includes s_0 itself: it is sum_k (1 - gamma) gamma^k delta_{s_k}, so a
sample is s_k with k ~ Geometric(1 - gamma) - 1 (P(k) = (1 - gamma) gamma^k, k >= 0). A window
s_0 .. s_H of the dataset gives s_k directly for k < H; for k >= H the sample comes from the
target generator at s_H (the occupancy from s_H, shifted by H steps: the geometric law is
memoryless). So a fraction gamma^H of the targets are bootstrapped.

Episode ends inside a window: with `e` the index of the episode's final observation in the window
(e < H when the episode ends inside it), samples with k >= e are
  - s_e itself when the episode terminated there (an absorbing state: the occupancy stays on it);
  - a target-generator sample at s_e when the episode was truncated (a time limit is not part of
    the task, so the process goes on from s_e), or s_e with `absorbing_truncations` (the
    reference's handling, which makes every episode end absorbing).
"""

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np


def prepare_windows(dataset, horizon: int, absorbing_truncations: bool = False
                    ) -> Dict[str, np.ndarray]:
  """One window of `horizon` + 1 observations from every step of `dataset` (an offline Dataset),
  held at the episode's final observation past its end: {'observations' [N, H+1, ...] float32,
  'end_index' [N] int32 (e: the window's last observation of the episode, H when it does not
  end inside the window), 'bootstraps' [N] bool (whether samples with k >= e come from the target
  generator at s_e)}."""
  windows = dataset.windows(horizon, pad_episode_ends=True)
  valid = windows['valid']
  steps = valid.sum(axis=1).astype(np.int32)  # the steps of the episode inside the window
  terminated = np.any(windows['terminations'] & valid, axis=1)
  truncated = np.any(windows['truncations'] & valid, axis=1)
  # An episode that ends in the window without a flag (a dataset cut short) counts as truncated.
  ended = steps < horizon
  truncated = truncated | (ended & ~terminated)
  bootstraps = ~terminated & ~(absorbing_truncations & truncated)
  return {'observations': windows['observations'].astype(np.float32),
          'end_index': steps,
          'bootstraps': bootstraps}


def geometric_offsets(key: jax.Array, shape, gamma: float) -> jnp.ndarray:
  """Offsets k >= 0 with P(k) = (1 - gamma) gamma^k, int32."""
  if gamma <= 0.0:
    return jnp.zeros(shape, jnp.int32)
  uniform = jax.random.uniform(key, shape, minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)
  # Inversion: k = floor(log U / log gamma), exact for the geometric law, and bounded (unlike a
  # count of trials) by the float range.
  return jnp.floor(jnp.log(uniform) / jnp.log(gamma)).astype(jnp.int32)


def occupancy_targets(observations: jnp.ndarray, end_index: jnp.ndarray, bootstraps: jnp.ndarray,
                      bootstrap_samples: jnp.ndarray, offsets: jnp.ndarray) -> jnp.ndarray:
  """Target samples [B, A, N, ...] for windows observations [B, H+1, ...] (end_index [B],
  bootstraps [B] as prepare_windows gives them), the target generator's samples at each window's
  s_e, bootstrap_samples [B, A, N, ...], and offsets k [B, A, N]: s_k when k < e, else the
  bootstrap sample, or s_e when the window does not bootstrap."""
  index = jnp.minimum(offsets, end_index[:, None, None])  # k, held at e
  taken = jax.vmap(lambda window, rows: window[rows])(observations, index)
  beyond = (offsets >= end_index[:, None, None]) & bootstraps[:, None, None]
  beyond = beyond.reshape(beyond.shape + (1,) * (taken.ndim - beyond.ndim))
  return jnp.where(beyond, bootstrap_samples, taken)
