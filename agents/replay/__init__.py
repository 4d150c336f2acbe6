"""Replay buffers: circular storage of named fields, n-step accumulation, uniform sampling."""

from agents.replay.n_step import NStepAccumulator
from agents.replay.uniform import ReplayBuffer

__all__ = ['NStepAccumulator', 'ReplayBuffer']
