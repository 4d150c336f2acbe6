"""Collecting offline datasets: run a policy in an environment and write what happened as a Minari
dataset (offline/datasets.py). `python -um offline.make_dataset` is the command; this module holds
what its gin files configure.

A policy is anything with `reset(env, observation, info, rng)`, called after every reset, and
`policy(observation, info) -> action`, called every step: the scripted controllers of
offline/controllers.py, or `AgentPolicy`, an agent trained by this zoo and restored from its run
directory. A policy may also have `act_batch(observations, rng)`, its actions for many copies of
the environment at once (offline/controllers.py's `Policy`). All randomness comes from
`collect.seed` (the environment's first reset and the policy's numpy Generator), so a collection
is deterministic for a seed. The dataset is written under a temporary name and renamed only once
complete, so an interrupted collection never leaves a dataset that looks complete.
"""

import datetime
import os
from typing import Any, Dict, Optional

import gin
import gymnasium
import numpy as np
import tqdm

from offline import components
from offline import datasets
from runner import errors
from runner import factories


class CollectionError(errors.BadInputError):
  """A collection that cannot start: a bad source or output, named in the message."""


@gin.configurable
class AgentPolicy:
  """A trained agent of this zoo as a data source: the agent of the online run in `run_dir`,
  rebuilt from that run's own config.gin and newest complete checkpoint
  (offline/components.restore_trained, as load_component does), whatever this config binds; so a
  dataset config names the run and the environment, not the gin file the agent was trained with.
  `deterministic`: its greedy / mean action; otherwise its stochastic policy (SAC's samples, DQN's
  epsilon_eval-greedy), drawn from `collect.seed`. Nothing is learned or recorded by the agent
  while collecting."""

  def __init__(self, run_dir: Optional[str] = None, deterministic: bool = False):
    self.run_dir = errors.require_binding(run_dir, 'AgentPolicy.run_dir',
                                          'the --base_dir of a `runner.train` run')
    self.deterministic = deterministic
    self._agent = None

  def _load(self, env: gymnasium.Env):
    agent = components.restore_trained(self.run_dir, 'agent')
    for kind, trained, here in [('observation', agent.observation_space, env.observation_space),
                                ('action', agent.action_space, env.action_space)]:
      if trained != here:
        raise CollectionError(f'the agent of {self.run_dir} was trained with the {kind} space '
                              f'{trained}, but this environment has {here}: is '
                              '`create_environment.fn` the environment it was trained on?')
    agent.eval_mode = True
    return agent

  def reset(self, env: gymnasium.Env, observation, info, rng: np.random.Generator) -> None:
    del observation, info
    if self._agent is None:
      self._agent = self._load(env)
    # Each episode's exploration from `rng`, not from the training run's restored stream: the
    # same generator state gives the same episode (a resumed run acts as an uninterrupted one).
    self._agent.reseed_acting(int(rng.integers(2**31)))

  def __call__(self, observation, info) -> Any:
    del info
    return self._agent.act(observation, deterministic=self.deterministic)

  def act_batch(self, observations, rng: np.random.Generator) -> np.ndarray:
    """The agent's actions for a batch of observations [B, ...] (its `act_batch`, one device call
    for agents that batch), [B, ...]. `rng` is unused: the agent draws from its own streams,
    which `reset` reseeded."""
    del rng
    if self._agent is None:
      raise RuntimeError('AgentPolicy.act_batch before reset: the agent is not loaded yet')
    return self._agent.act_batch(np.asarray(observations), deterministic=self.deterministic)


@gin.configurable
def collect(output_dir: Optional[str] = None,
            policy: Any = None,
            num_steps: Optional[int] = None,
            num_episodes: Optional[int] = None,
            seed: int = 0,
            max_steps_per_episode: Optional[int] = None,
            overwrite: bool = False,
            progress_bar: bool = True,
            config_text: str = '') -> Dict[str, Any]:
  """Runs `policy` in the environment of `create_environment.fn` and writes a Minari dataset to
  `output_dir`: exactly `num_steps` steps (the last episode cut there, as a truncation) or
  `num_episodes` whole episodes, one of the two. Episodes longer than `max_steps_per_episode` are
  truncated. Returns a summary (episodes, steps, returns, wall time)."""
  errors.require_binding(output_dir, 'collect.output_dir')
  errors.require_binding(policy, 'collect.policy', 'a controller, @UniformRandomPolicy() or '
                         '@AgentPolicy()')
  if (num_steps is None) == (num_episodes is None):
    raise CollectionError('give exactly one of collect.num_steps and collect.num_episodes')
  if (num_steps or num_episodes) <= 0:
    raise CollectionError('collect.num_steps / num_episodes must be positive')
  if os.path.exists(output_dir) and not overwrite:
    raise CollectionError(f'{output_dir} exists: choose another collect.output_dir or set '
                          'collect.overwrite = True')
  env = factories.create_environment()
  rng = np.random.default_rng(seed)
  metadata = {
      'source': f'{type(policy).__module__}.{type(policy).__name__}',
      'environment': env.spec.id if env.spec is not None else type(env.unwrapped).__name__,
      'seed': seed, 'created': datetime.datetime.now().isoformat(timespec='seconds'),
      'gin_config': config_text,
  }
  total = num_steps if num_steps is not None else num_episodes
  bar = tqdm.tqdm(total=total, unit='step' if num_steps is not None else 'episode',
                  desc=f'collecting {os.path.basename(os.path.normpath(output_dir))}',
                  disable=not progress_bar)
  steps, returns = 0, []
  start = datetime.datetime.now()
  with datasets.DatasetWriter(output_dir, env.observation_space, env.action_space, metadata,
                              overwrite=overwrite) as writer:
    episode = 0
    while (steps < num_steps) if num_steps is not None else (episode < num_episodes):
      # Only the first reset is seeded: later ones continue the environment's own generator.
      observation, info = env.reset(seed=seed if episode == 0 else None)
      with errors.bad_input_from((ValueError,), 'the policy cannot drive this environment'):
        policy.reset(env, observation, info, rng)
      observations, actions, rewards, terminations, truncations = [observation], [], [], [], []
      while True:
        action = policy(observation, info)
        observation, reward, terminated, truncated, info = env.step(action)
        observations.append(observation)
        actions.append(action)
        rewards.append(reward)
        length = len(actions)
        budget_reached = num_steps is not None and steps + length >= num_steps
        cap_reached = max_steps_per_episode is not None and length >= max_steps_per_episode
        truncated = bool(truncated or (not terminated and (budget_reached or cap_reached)))
        terminations.append(bool(terminated))
        truncations.append(truncated)
        if num_steps is not None:
          bar.update(1)
        if terminated or truncated:
          break
      writer.add_episode(np.asarray(observations), np.asarray(actions),
                         np.asarray(rewards, np.float64), np.asarray(terminations),
                         np.asarray(truncations))
      steps += len(actions)
      returns.append(float(np.sum(rewards)))
      episode += 1
      if num_episodes is not None:
        bar.update(1)
      bar.set_postfix(episodes=episode, average_return=f'{np.mean(returns):.3g}')
  bar.close()
  env.close()
  wall = (datetime.datetime.now() - start).total_seconds()
  return {'output_dir': output_dir, 'episodes': len(returns), 'steps': steps,
          'average_return': float(np.mean(returns)), 'wall_s': wall,
          'steps_per_second': steps / max(wall, 1e-9)}
