"""Behaviour cloning: the first offline component (losses.py, model.py, policy.py, learner.py,
goal_conditioned.py)."""
