"""Drivers of a run: the train entry point, the Runner, checkpoints and metrics."""
