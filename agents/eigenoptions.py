"""The covering eigenoptions (DCEO, agents/dceo.py): which functions they follow
(`checked_option_functions`), their reward, as pure functions, and their execution on the host
(`OptionRuns`).

Option o follows eigenfunction e = option_eigenfunctions[o] of a Laplacian representation phi
(optionally turned by a (d, d) R, `option_alignment`) and is rewarded for climbing it:

  reward(s, s') = sign * scale * (f_e(s') - f_e(s)) / sqrt(m_e),   f = phi @ R

with sign the option's direction (+1 in the reference; -1 descends f_e: `option_signs`), scale
`intrinsic_reward_scale` (1 in the reference) and m_e = 1 in the reference.
`normalize_option_reward` sets m_e to a running estimate of E[f_e^2] over the states phi's own
objective weighs (`running_mean_square`): then every option's reward is that of a function with
a unit mean square, the scale the Laplacian's eigenvectors are normalised to (and the
visited-cells oracle's functions have), whatever scale a learned phi settles at (a log1p phi's
mean square is near 0.16 on the grid worlds: benchmarks/DCEO_EXPLORATION.md).

The host-side fits of R: `procrustes_rotation` holds phi @ R to its values at the last fit;
`ritz_turn` makes phi @ R the Rayleigh-Ritz approximations of the Laplacian's eigenfunctions
within phi's span, and `matched_columns` keeps each column following the same function from one
fit to the next.

`OptionRuns` decides, per training step, which policy acts (METHODS.md): a running option ends
with probability `option_termination` or at an episode's first step; with none running, the step
explores with probability epsilon, and an exploring step starts a uniformly random option with
probability `option_prob`, else takes a random action (always, while options may not start yet).
"""

from typing import Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.optimize

from runner import errors

NO_OPTION = -1  # the running option's value, in checkpoints, when none runs

# Keeps the reward finite for a function that is (still) zero over the states seen.
MEAN_SQUARE_FLOOR = 1e-8


def default_eigenfunctions(num_options: int, follow_constant_eigenfunction: bool) -> tuple:
  """Indices 1..num_options (METHODS.md), or the reference's 0..num_options - 1, whose first
  option follows the eigenfunction that should be constant."""
  first = 0 if follow_constant_eigenfunction else 1
  return tuple(range(first, first + num_options))


def checked_option_functions(num_options: int, option_eigenfunctions: Optional[Sequence[int]],
                             follow_constant_eigenfunction: bool,
                             option_signs: Optional[Sequence[int]], dimension: int,
                             owner: str) -> Tuple[tuple, tuple]:
  """(eigenfunction index, sign) per option: `option_eigenfunctions` (default_eigenfunctions when
  None), each in 0..dimension - 1, and `option_signs` (all +1 when None), each +1 or -1; one per
  option, else an InvalidSettingError naming `owner`'s setting."""
  if num_options < 1:
    raise errors.InvalidSettingError(f'{owner} needs num_options >= 1, got {num_options}')
  if option_eigenfunctions is None:
    option_eigenfunctions = default_eigenfunctions(num_options, follow_constant_eigenfunction)
  eigenfunctions = tuple(int(index) for index in option_eigenfunctions)
  if len(eigenfunctions) != num_options or not all(0 <= index < dimension
                                                   for index in eigenfunctions):
    raise errors.InvalidSettingError(
        f'{owner}: option_eigenfunctions {eigenfunctions} must name one eigenfunction in '
        f'0..{dimension - 1} per option ({num_options})')
  signs = (1,) * num_options if option_signs is None else tuple(option_signs)
  if len(signs) != num_options or not all(sign in (1, -1) for sign in signs):
    raise errors.InvalidSettingError(
        f'{owner}: option_signs {signs} must give +1 (climb) or -1 (descend) per option '
        f'({num_options})')
  return eigenfunctions, tuple(int(sign) for sign in signs)


def running_mean_square(previous: jnp.ndarray, updates: jnp.ndarray, values: jnp.ndarray,
                        weights: Optional[jnp.ndarray], decay: float) -> jnp.ndarray:
  """The new running estimate of each function's mean square, (d,): the batch's own (weighted)
  mean of values ** 2 over its rows at the first update (`updates` == 0), afterwards
  decay * previous + (1 - decay) * the batch's. `values` is (batch, d); `weights` (batch,) or None
  (all alike), normalised here."""
  squares = values ** 2
  if weights is None:
    batch_mean_square = jnp.mean(squares, axis=0)
  else:
    batch_mean_square = weights @ squares / jnp.sum(weights)
  return jnp.where(updates == 0, batch_mean_square,
                   decay * previous + (1.0 - decay) * batch_mean_square)


def intrinsic_reward(phi_state: jnp.ndarray, phi_next: jnp.ndarray, eigenfunction: jnp.ndarray,
                     scale=1.0, rotation: Optional[jnp.ndarray] = None,
                     mean_square: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """The option's reward per transition (the module docstring), with no gradient into phi.
  phi_state, phi_next: (batch, d); eigenfunction: the followed column's index, scale a float
  (an option's sign folded in: DCEOAgent.option_signs), either traced or not;
  rotation: R, (d, d), or None (identity); mean_square: (d,), or None (no normalisation)."""
  if rotation is not None:
    phi_state, phi_next = phi_state @ rotation, phi_next @ rotation
  reward = phi_next[:, eigenfunction] - phi_state[:, eigenfunction]
  if mean_square is not None:
    reward = reward * jax.lax.rsqrt(jnp.maximum(mean_square[eigenfunction], MEAN_SQUARE_FLOOR))
  return scale * jax.lax.stop_gradient(reward)


def procrustes_rotation(current_values: np.ndarray, anchor_values: np.ndarray) -> np.ndarray:
  """The orthogonal R that brings phi's values now on the last fit's states nearest the values
  then, argmin ||current_values @ R - anchor_values||_F: U V^T from the SVD of
  current_values^T anchor_values (both (states, d))."""
  left, _, right = np.linalg.svd(np.asarray(current_values, np.float64).T
                                 @ np.asarray(anchor_values, np.float64))
  return left @ right


def ritz_turn(values: np.ndarray, later_values: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
  """The (d, d) R whose columns turn phi into the Rayleigh-Ritz approximations, within phi's span,
  of the Laplacian's eigenfunctions, in ascending order of their eigenvalues: the generalised
  eigenvectors of A r = lambda B r, with A = E[(phi(s) - phi(s'))(phi(s) - phi(s'))^T] over the
  pairs (s, s') (`values` and `later_values`, both (pairs, d)), the Laplacian's quadratic form,
  and B = E[phi phi^T] over both ends, so that R^T B R = I: each function phi @ R has a unit mean
  square. A learned phi that spans the eigenvectors mixes them (and its residual) in any
  rotation; these are the smoothest functions its span holds. `ridge` (relative to B's mean
  diagonal) keeps B invertible where phi's columns are nearly dependent."""
  values = np.asarray(values, np.float64)
  later_values = np.asarray(later_values, np.float64)
  differences = values - later_values
  quadratic = differences.T @ differences / len(values)
  gram = (values.T @ values + later_values.T @ later_values) / (2 * len(values))
  if not np.trace(gram) > 0:  # phi is zero on every pair (or not finite): nothing to turn
    return np.eye(len(gram))
  gram += ridge * np.trace(gram) / len(gram) * np.eye(len(gram))
  _, turn = scipy.linalg.eigh(quadratic, gram)
  return turn


def matched_columns(previous: np.ndarray, current: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(order, signs) such that current[:, order] * signs follows `previous` column by column (both
  (states, d), the same states): the assignment of columns maximising the summed |inner
  products|, each sign that of its inner product. Eigenvector solvers' signs and the order of
  near-equal eigenvalues are arbitrary, and an option must keep following the same function from
  one fit to the next."""
  inner = np.asarray(previous, np.float64).T @ np.asarray(current, np.float64)
  if inner.shape[0] != inner.shape[1]:
    raise errors.InvalidSettingError(f'matched_columns: {inner.shape[0]} previous columns against '
                                     f'{inner.shape[1]} current ones')
  _, order = scipy.optimize.linear_sum_assignment(-np.abs(inner))  # rows come back in order
  signs = np.where(inner[np.arange(len(order)), order] < 0, -1.0, 1.0)
  return order, signs


class OptionRuns:
  """Which option runs, on the host: `choose` per training step, the counts behind the option
  statistics, and the running option and its length so far for checkpoints (`state_dict`)."""

  def __init__(self, num_options: int, option_prob: float, option_termination: float):
    self.num_options = num_options
    self.option_prob = option_prob
    self.option_termination = option_termination
    self.current: Optional[int] = None  # the running option, 0..num_options - 1
    self.run_length = 0  # its steps so far
    self.random_action = False  # whether this step, with no option running, acts at random
    self.reset_counters()

  def choose(self, rng: np.random.Generator, epsilon: float, episode_first_step: bool,
             options_may_start: bool = True) -> int:
    """This step's policy: 0 the main one, o + 1 option o. Draws from `rng` in a fixed order.
    With `options_may_start` False no option starts: an exploring step acts at random."""
    if self.current is not None and (episode_first_step
                                     or rng.random() < self.option_termination):
      self.end_run()
    if self.current is None:
      # The same coin as DQN's epsilon-greedy (`<=`), drawn even when epsilon is 0.
      explore = rng.random() <= epsilon
      if explore and options_may_start and rng.random() < self.option_prob:
        self.current = int(rng.integers(self.num_options))
      else:
        self.random_action = explore
    self._steps += 1
    if self.current is None:
      return 0
    self.run_length += 1
    self._option_steps[self.current] += 1
    return self.current + 1

  def end_run(self) -> None:
    self._durations_sum += self.run_length
    self._runs_ended += 1
    self.current = None
    self.run_length = 0

  def reset_counters(self) -> None:
    self._steps = 0
    self._option_steps = np.zeros(self.num_options, np.int64)
    self._runs_ended = 0
    self._durations_sum = 0

  def statistics(self) -> Dict[str, float]:
    """`option_<o>_share` (the fraction of steps option o acted) and `option_mean_duration` (of
    the runs that ended; absent when none did) since the last call, whose counts it resets."""
    statistics = {}
    if self._steps:
      for option, steps in enumerate(self._option_steps):
        statistics[f'option_{option}_share'] = float(steps / self._steps)
    if self._runs_ended:
      statistics['option_mean_duration'] = self._durations_sum / self._runs_ended
    self.reset_counters()
    return statistics

  def state_dict(self) -> Dict[str, np.ndarray]:
    return {'current_option': np.int64(NO_OPTION if self.current is None else self.current),
            'option_run_length': np.int64(self.run_length)}

  def load_state_dict(self, state: Dict[str, np.ndarray]) -> None:
    current = int(state['current_option'])
    self.current = None if current == NO_OPTION else current
    self.run_length = int(state['option_run_length'])
    self.reset_counters()
