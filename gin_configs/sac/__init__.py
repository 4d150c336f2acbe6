"""Gin configs of SAC experiments."""
