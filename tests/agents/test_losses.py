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
