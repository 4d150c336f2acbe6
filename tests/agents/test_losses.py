"""Losses, targets and exploration schedules against hand-computed values."""

import numpy as np
import pytest

from agents import losses


def test_huber_loss_is_quadratic_inside_delta_and_linear_outside():
  targets = np.array([0.0, 0.0, 0.0, 1.0, 5.0])
  predictions = np.array([0.5, -1.0, 3.0, -1.0, 5.0])
  # |e| = 0.5 -> 0.125; |e| = 1 -> 0.5; |e| = 3 -> 0.5 + (3 - 1) = 2.5; |e| = 2 -> 1.5; 0 -> 0
  np.testing.assert_allclose(losses.huber_loss(targets, predictions), [0.125, 0.5, 2.5, 1.5, 0.0])


def test_huber_loss_with_other_delta():
  # delta = 2, |e| = 3: 0.5 * 4 + 2 * (3 - 2) = 4
  np.testing.assert_allclose(losses.huber_loss(np.array([3.0]), np.array([0.0]), delta=2.0), [4.0])


def test_mse_loss():
  np.testing.assert_allclose(losses.mse_loss(np.array([1.0, -2.0]), np.array([3.0, -2.5])),
                             [4.0, 0.25])


def test_unknown_loss_is_named():
  with pytest.raises(ValueError, match="'hinge'"):
    losses.get_loss('hinge')


def test_q_learning_targets_fold_discount_and_termination():
  next_q = np.array([[1.0, 3.0], [2.0, -1.0], [5.0, 4.0]])
  rewards = np.array([1.0, 0.5, -1.0])
  discounts = np.array([0.9, 0.0, 0.81])  # one-step, terminal, two-step
  np.testing.assert_allclose(losses.q_learning_targets(next_q, rewards, discounts),
                             [1.0 + 0.9 * 3.0, 0.5, -1.0 + 0.81 * 5.0], rtol=1e-6)


@pytest.mark.parametrize('step, expected', [
    (0, 1.0),        # still warming up
    (500, 1.0),      # warm-up just over: decay starts
    (550, 0.505),    # halfway: 0.01 + 0.99 * 50 / 100
    (600, 0.01),     # decayed
    (10000, 0.01),
])
def test_linearly_decaying_epsilon(step, expected):
  assert losses.linearly_decaying_epsilon(100, step, 500, 0.01) == pytest.approx(expected)


def test_identity_epsilon_is_constant():
  assert losses.identity_epsilon(100, 0, 500, 0.05) == 0.05
  assert losses.identity_epsilon(100, 10**6, 500, 0.05) == 0.05


def test_categorical_projection_by_hand():
  support = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
  # Atoms at 0.5 (mass 0.4) and 1.25 (mass 0.6): 0.5 splits 1/2-1/2 between 0 and 1; 1.25 gives
  # 3/4 to 1 and 1/4 to 2.
  projected = losses.categorical_projection(np.array([0.5, 1.25]), np.array([0.4, 0.6]), support)
  np.testing.assert_allclose(projected, [0.0, 0.0, 0.2, 0.2 + 0.45, 0.15], atol=1e-7)
  # Atoms beyond the support are clipped onto its ends; mass is conserved.
  projected = losses.categorical_projection(np.array([-7.0, 3.0, 1.0]), np.array([0.2, 0.3, 0.5]),
                                            support)
  np.testing.assert_allclose(projected, [0.2, 0.0, 0.0, 0.5, 0.3], atol=1e-7)


def test_categorical_projection_of_a_bellman_shift_is_batched():
  support = np.linspace(-10.0, 10.0, 51)  # spacing 0.4
  probabilities = np.zeros((2, 51))
  probabilities[:, 25] = 1.0  # all mass on 0
  rewards, discounts = np.array([1.0, 0.3]), np.array([0.99, 0.0])
  atoms = rewards[:, None] + discounts[:, None] * support[None, :]
  projected = np.asarray(losses.categorical_projection(atoms, probabilities, support))
  # Row 0: mass at 1.0 = 2.5 spacings above 0 -> half on atom 27 (0.8), half on atom 28 (1.2).
  np.testing.assert_allclose(projected[0, [27, 28]], [0.5, 0.5], atol=1e-5)
  # Row 1 (terminal): every atom collapses to 0.3 -> 0.25 on atom 25 (0.0), 0.75 on 26 (0.4).
  np.testing.assert_allclose(projected[1, [25, 26]], [0.25, 0.75], atol=1e-5)
  np.testing.assert_allclose(projected.sum(axis=1), [1.0, 1.0], rtol=1e-6)
  # Mean is preserved when nothing is clipped: E = r + gamma * 0.
  np.testing.assert_allclose(projected @ support, [1.0, 0.3], atol=1e-5)


def test_softmax_cross_entropy_by_hand():
  logits = np.log(np.array([[0.5, 0.25, 0.25]]))
  target = np.array([[0.0, 1.0, 0.0]])
  np.testing.assert_allclose(losses.softmax_cross_entropy(target, logits), [np.log(4.0)], rtol=1e-6)


def test_zero_epsilon():
  assert losses.zero_epsilon(100, 0, 500, 0.5) == 0.0
