"""GOM's planners: choosing the outcome psi* to realise for reward weights w (r ~ w . phi).

The value of an outcome is w . psi, the discounted return of the reward's linear fit along that
outcome, so planning is the choice of the best outcome the outcome model gives probability to:

  - random shooting: sample many outcomes from the current state, keep the `num_elites` of largest
    w . psi and average them (the reference keeps one);
  - guided diffusion: sample one outcome with the outcome model's score tilted toward larger
    w . psi (diffusion.ddim_sample's `guidance`), g = coefficient * w * (psi_high - psi_low) / 2:
    the gradient of w . psi with respect to psi scaled to [-1, 1] (the reference's 0.5 * psi_range
    * guidance_coef; 0.5 for mazes).

The readout policy then acts toward psi* (model.OccupancyModel.act).
"""

from typing import Tuple

import jax
import jax.numpy as jnp

PLANNERS = ('random_shooting', 'guided_diffusion')


def random_shooting(psis: jnp.ndarray, weights: jnp.ndarray,
                    num_elites: int = 1) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """(psi*, values): the mean of the `num_elites` outcomes of largest value among psis [K, D]
  (for one elite, the argmax, ties to the first), and every outcome's value w . psi [K]."""
  values = psis @ weights
  _, elites = jax.lax.top_k(values, num_elites)
  return jnp.mean(psis[elites], axis=0), values


def guidance_vector(weights: jnp.ndarray, psi_low: jnp.ndarray, psi_high: jnp.ndarray,
                    coefficient: jnp.ndarray) -> jnp.ndarray:
  """The guidance added to the score of psi scaled to [-1, 1]: coefficient * d(w . psi)/d(scaled
  psi) = coefficient * w * (psi_high - psi_low) / 2, [D]."""
  return coefficient * weights * (psi_high - psi_low) / 2.0
