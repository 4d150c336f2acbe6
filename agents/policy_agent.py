"""`PolicyAgent`: an agent that only acts, with a policy trained elsewhere (a behaviour-cloning
component, offline/bc/policy.py), for the 'eval' schedule or any run that measures a loaded
policy:

    create_agent.agent_class = @PolicyAgent
    PolicyAgent.policy = @load_component()
    load_component.base_dir = 'runs/bc_pointmaze'

A policy is any object with `observation_space`, `action_space` and `act(observation,
deterministic=True, rng=None)` returning an action in the environment's units; it learns nothing
here, so the agent's checkpoint is its random generator alone.
"""

from typing import Any, Optional

import gin
import gymnasium
import numpy as np

from agents import base
from runner import errors


@gin.configurable
class PolicyAgent(base.ActingAgent):
  """Acts with `policy`: its most likely action in evaluation mode, and in training mode a sample
  (or, with `deterministic=True`, the most likely action there too)."""

  def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               seed: int = 0, summary_writer: Optional[Any] = None, policy: Optional[Any] = None,
               deterministic: bool = False):
    super().__init__(observation_space, action_space, seed, summary_writer)
    name = type(self).__name__
    errors.require_binding(policy, f'{name}.policy', 'a trained policy such as @load_component()')
    missing = [part for part in ('observation_space', 'action_space', 'act')
               if not hasattr(policy, part)]
    if missing:
      raise errors.BadInputError(f'{name}.policy = {policy!r} is not a policy: it has no '
                                 f'{", ".join(missing)}')
    for kind, own, trained_for in (('observation', observation_space, policy.observation_space),
                               ('action', action_space, policy.action_space)):
      if own != trained_for:
        raise base.IncompatibleSpaceError(
            f'{name} cannot act in the {kind} space {own!r} with a policy trained for '
            f'{trained_for!r}')
    self.policy = policy
    self.deterministic = bool(deterministic)

  def act(self, observation: np.ndarray, deterministic: bool = True) -> Any:
    return self.policy.act(observation, deterministic=deterministic,
                           rng=None if deterministic else self._rng)

  def _episode_action(self, observation: np.ndarray) -> Any:
    return self.act(observation, deterministic=self.eval_mode or self.deterministic)

  def begin_episode(self, observation: np.ndarray) -> Any:
    return self._episode_action(observation)

  def step(self, reward: float, observation: np.ndarray) -> Any:
    del reward
    return self._episode_action(observation)

  def end_episode(self, reward: float, terminated: bool,
                  observation: Optional[np.ndarray] = None) -> None:
    del reward, terminated, observation
