"""Replay buffers: circular per-step storage with frame stacks and n-step returns rebuilt at
sampling time, sampled uniformly or by priority (sum tree)."""

from agents.replay.circular import CircularReplayBuffer
from agents.replay.prioritized import PrioritizedReplayBuffer, create_replay_buffer, importance_weights
from agents.replay.sum_tree import SumTree

__all__ = ['CircularReplayBuffer', 'PrioritizedReplayBuffer', 'SumTree', 'create_replay_buffer',
           'importance_weights']
