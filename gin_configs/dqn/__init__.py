"""Gin configs of DQN experiments."""
