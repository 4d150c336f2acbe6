"""Replay: circular per-step storage (circular.py) with frame stacks and n-step returns rebuilt at
sampling time, sampled uniformly or by priority (prioritized.py, a sum tree); the same storage read
as sequences of one episode or as every stored episode in order (views.py, for PSDRL)."""

from agents.replay.circular import CircularReplayBuffer
from agents.replay.prioritized import (PrioritizedReplayBuffer, create_replay_buffer,
                                       importance_weights)
from agents.replay.sum_tree import SumTree
from agents.replay.views import EpisodeView, SequenceView

__all__ = ['CircularReplayBuffer', 'EpisodeView', 'PrioritizedReplayBuffer', 'SequenceView',
           'SumTree', 'create_replay_buffer', 'importance_weights']
