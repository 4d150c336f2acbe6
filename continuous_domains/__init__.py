"""Continuous-control environment factories (MuJoCo, point mazes, Meta-world), each returning a gymnasium.Env."""
