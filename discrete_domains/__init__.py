"""Discrete-action environment factories (classic control, Atari, grid worlds), each returning a gymnasium.Env."""
