"""The Agent contract every method implements, and helpers shared by all agents.

The Runner drives an agent through Dopamine's hooks:

    action = agent.begin_episode(observation)
    action = agent.step(reward, observation)          # for every following step
    agent.end_episode(reward, terminated, observation)

`terminated=False` in `end_episode` means the episode was cut by a time limit (truncation): the
final state is not absorbing and the agent must bootstrap from `observation`, the last observation
of the episode. Dopamine's contract has no final observation and therefore cannot bootstrap; this
one passes it (it is optional, so `end_episode(reward, terminated)` still works, and an agent that
receives no final observation on a truncation drops the unbootstrappable transitions).

`bundle_and_checkpoint` returns a pytree of arrays and Python scalars holding *everything* needed to
continue training bit-for-bit (parameters, optimizer state, replay contents, RNG state, counters);
the Runner's checkpointer serialises it. `unbundle` restores it.

After each iteration's `iteration_statistics` (scalars for metrics.jsonl) the Runner calls
`write_summaries(iteration)`, where an agent writes its own TensorBoard histograms (Q-values,
losses per transition, policy log-probabilities...) to the `summary_writer` it was built with.
"""

import abc
import collections
import logging
from typing import Any, Callable, Deque, Dict, Mapping, Optional, Sequence, Tuple, Type

import flax.serialization
import gymnasium
import jax
import numpy as np

from runner import errors


class IncompatibleSpaceError(errors.BadInputError, ValueError):
  """An agent was constructed for an observation or action space it cannot handle."""


def require_space(agent_name: str, kind: str, space: gymnasium.Space,
                  expected: Tuple[Type[gymnasium.Space], ...], detail: str = '') -> None:
  """Raises IncompatibleSpaceError naming the agent and the space unless `space` is of
  `expected`."""
  if not isinstance(space, expected):
    names = ' or '.join(f'gymnasium.spaces.{t.__name__}' for t in expected)
    raise IncompatibleSpaceError(
        f'{agent_name} cannot handle the {kind} space {space!r}: it needs {names}'
        + (f' {detail}' if detail else '') + '.')


def require_bounded_box(agent_name: str, action_space: gymnasium.Space) -> None:
  """Raises IncompatibleSpaceError naming the agent unless `action_space` is a Box with finite
  bounds, low < high in every dimension (what a policy whose actions in [-1, 1] are rescaled onto
  the bounds needs: SAC's tanh policy, BC's, GOM's diffusion readout)."""
  require_space(agent_name, 'action', action_space, (gymnasium.spaces.Box,), 'with finite bounds')
  low = np.asarray(action_space.low, np.float64)
  high = np.asarray(action_space.high, np.float64)
  if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
    raise IncompatibleSpaceError(
        f'{agent_name} cannot handle the action space {action_space!r}: it needs finite bounds '
        'with low < high in every dimension, since its policy\'s actions are rescaled onto them.')


def box_offset_and_scale(action_space: gymnasium.spaces.Box) -> Tuple[np.ndarray, np.ndarray]:
  """(offset, scale), flat float64: the Box's centre and half-widths, so that offset + scale * u
  maps u in [-1, 1] onto the bounds and (action - offset) / scale maps back."""
  low = np.asarray(action_space.low, np.float64).reshape(-1)
  high = np.asarray(action_space.high, np.float64).reshape(-1)
  return (high + low) / 2, (high - low) / 2


def generator_state_to_array(generator: np.random.Generator) -> np.ndarray:
  """Packs a PCG64 numpy Generator's state into a uint64 array (checkpointable as a plain array).

  PCG64's state and increment are 128-bit integers, which no array format stores directly, so each
  is split into two 64-bit words.
  """
  state = generator.bit_generator.state
  if state['bit_generator'] != 'PCG64':
    raise TypeError(f'only PCG64 generators can be checkpointed, not {state["bit_generator"]}')
  mask = (1 << 64) - 1
  words = [state['state']['state'] >> 64, state['state']['state'] & mask,
           state['state']['inc'] >> 64, state['state']['inc'] & mask,
           state['has_uint32'], state['uinteger']]
  return np.array(words, dtype=np.uint64)


def generator_from_array(words: np.ndarray) -> np.random.Generator:
  """Inverse of generator_state_to_array."""
  words = [int(w) for w in np.asarray(words, dtype=np.uint64)]
  generator = np.random.Generator(np.random.PCG64())
  generator.bit_generator.state = {
      'bit_generator': 'PCG64',
      'state': {'state': (words[0] << 64) | words[1], 'inc': (words[2] << 64) | words[3]},
      'has_uint32': words[4],
      'uinteger': words[5],
  }
  return generator


def restore_pytree(template: Any, saved: Any, name: str) -> Any:
  """`saved` (a state dict read from a checkpoint) as a pytree of device arrays structured like
  `template`; a ValueError naming the first array whose shape differs, e.g. after a network was
  resized, instead of a failure at the first update."""
  try:
    restored = flax.serialization.from_state_dict(template, saved)
  except ValueError as error:  # flax's message names the path where the keys differ
    raise ValueError(f'{name} in the checkpoint does not fit this agent: {error}') from error
  if jax.tree.structure(restored) != jax.tree.structure(template):
    raise ValueError(f'{name} in the checkpoint is structured as {jax.tree.structure(restored)}, '
                     f'this agent expects {jax.tree.structure(template)}')
  expected_leaves = jax.tree_util.tree_flatten_with_path(template)[0]
  for (path, expected), saved_leaf in zip(expected_leaves, jax.tree.leaves(restored)):
    if np.shape(expected) != np.shape(saved_leaf):
      raise ValueError(f'{name}{jax.tree_util.keystr(path)} has shape {np.shape(saved_leaf)} in '
                       f'the checkpoint but {np.shape(expected)} in this agent')
  return jax.device_put(restored)


class RecentValues:
  """Per-sample values of an agent's recent updates, for its histograms: what the jitted update
  returned, left on the device (no transfer per step), fetched in one transfer when asked for.

  Memory is bounded: the oldest entries are dropped while more than `max_values` values of a name
  are kept, so a histogram shows the last updates of an iteration that has more.
  """

  def __init__(self, max_values: int = 100_000):
    self.max_values = max_values
    self._entries: Deque[Dict[str, Any]] = collections.deque()
    self._sizes: Deque[int] = collections.deque()  # the largest array of each entry
    self._total = 0

  def append(self, values: Mapping[str, Any]) -> None:
    """Records one call's arrays by name (each flattened when fetched)."""
    size = max(int(np.size(value)) for value in values.values())
    self._entries.append(dict(values))
    self._sizes.append(size)
    self._total += size
    while self._total > self.max_values and len(self._entries) > 1:
      self._total -= self._sizes.popleft()
      self._entries.popleft()

  def fetch_and_clear(self) -> Dict[str, np.ndarray]:
    """The recorded values as one flat host array per name, oldest first; then forgets them."""
    entries = jax.device_get(list(self._entries))
    self.clear()
    names = sorted({name for entry in entries for name in entry})
    return {name: np.concatenate([np.ravel(entry[name]) for entry in entries if name in entry])
            for name in names}

  def clear(self) -> None:
    self._entries.clear()
    self._sizes.clear()
    self._total = 0


class Agent(abc.ABC):
  """Base class of every agent; see the module docstring for the contract."""

  def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               seed: int = 0, summary_writer: Optional[Any] = None):
    self.observation_space = observation_space
    self.action_space = action_space
    self.seed = seed
    self.summary_writer = summary_writer
    self.eval_mode = False

  @classmethod
  def dopamine_baseline_names(cls, binding: Callable[[str, str], Any]) -> Sequence[str]:
    """Dopamine's names for this agent's curves in its published baselines, best match first;
    () when Dopamine has none. Sweep reports draw a run against the first one its task's baseline
    file has. `binding(configurable, parameter)` is the run's bound value (macros resolved) or
    None, for agents whose Dopamine counterpart depends on a setting. Subclasses inherit their
    parent's names: a method built on Rainbow is drawn against Dopamine's Rainbow unless it says
    otherwise."""
    del binding
    return ()

  @abc.abstractmethod
  def begin_episode(self, observation: np.ndarray) -> Any:
    """Returns the first action of an episode."""

  @abc.abstractmethod
  def step(self, reward: float, observation: np.ndarray) -> Any:
    """Records the reward of the last action and the new observation; returns the next action."""

  @abc.abstractmethod
  def end_episode(self, reward: float, terminated: bool,
                  observation: Optional[np.ndarray] = None) -> None:
    """Records the last reward. `terminated=False`: truncated, bootstrap from `observation`."""

  @abc.abstractmethod
  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    """Returns the agent's whole state as a pytree; may also write large files to checkpoint_dir."""

  @abc.abstractmethod
  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    """Restores the state returned by bundle_and_checkpoint; returns False if it cannot."""

  def act(self, observation: np.ndarray, deterministic: bool = True) -> Any:
    """The agent's action for `observation` without recording or learning anything, greedy or
    deterministic when `deterministic`; used to collect datasets from trained agents."""
    raise NotImplementedError(f'{type(self).__name__} cannot act outside its episode hooks')

  def act_batch(self, observations: np.ndarray, deterministic: bool = True) -> np.ndarray:
    """`act` for each row of `observations` [B, ...]: actions [B, ...], as `act` would give them
    one after the other. Agents that can act on a batch in one device call override this loop
    (rolling out many copies of an environment calls it once per step)."""
    return np.stack([np.asarray(self.act(observation, deterministic))
                     for observation in np.asarray(observations)])

  def reseed_acting(self, seed: int) -> None:
    """Acting draws its randomness from `seed` from now on, not from the stream a checkpoint
    restored (the training run's): for acting with a restored agent, e.g. collecting a dataset
    whose seed should decide the exploration. An agent whose acting draws only on its constructor
    seed (as the device key streams here do) has nothing to change."""
    del seed

  def iteration_statistics(self) -> Dict[str, float]:
    """Scalars summarising the agent since the last call (losses, epsilon...); the Runner logs them.

    Must be deterministic given the seed: they go to metrics.jsonl.
    """
    return {}

  def iteration_histograms(self) -> Dict[str, np.ndarray]:
    """Per-sample values of the iteration that just ended, by TensorBoard tag ('agent/...'), for
    `write_summaries`; the agent forgets them once returned. Override to add histograms."""
    return {}

  def write_summaries(self, iteration: int) -> None:
    """Writes the agent's own TensorBoard histograms for `iteration` (iteration_histograms) to
    `summary_writer` at step `iteration`; without a writer they are discarded all the same, so
    each call covers one iteration. The Runner calls it after iteration_statistics."""
    histograms = self.iteration_histograms()
    if self.summary_writer is None:
      return
    for tag, values in sorted(histograms.items()):
      if np.size(values):
        self.summary_writer.add_histogram(tag, np.asarray(values, np.float64), iteration)

  def describe_states(self, observations: np.ndarray) -> Dict[str, np.ndarray]:
    """Values the agent would have drawn over the states its training visited, by name, each
    (states,) for the batch `observations` (DCEO: its eigenfunctions). The Runner draws them over
    the positions a domain reports (runner/coverage.py). None by default."""
    del observations
    return {}


class ActingAgent(Agent):
  """An agent that learns nothing online (it acts with what was trained elsewhere): its whole
  checkpoint is the numpy Generator `self._rng` it acts from."""

  def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               seed: int = 0, summary_writer: Optional[Any] = None):
    super().__init__(observation_space, action_space, seed, summary_writer)
    self._rng = np.random.default_rng(seed)

  def reseed_acting(self, seed: int) -> None:
    self._rng = np.random.default_rng(seed)

  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    del checkpoint_dir, iteration
    return {'rng': generator_state_to_array(self._rng)}

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    del checkpoint_dir, iteration
    self._rng = generator_from_array(bundle['rng'])
    return True


class ReplayAgent(Agent):
  """An agent that learns from a replay buffer of its own training steps (DQN, Rainbow, SAC...).

  It implements the three episode hooks once: in training mode every step is recorded in
  `self.replay` (a `CircularReplayBuffer`: the observation, the action taken from it, the reward
  that followed, whether it terminated, whether it opened the episode), and an episode's end adds
  its final observation so truncated transitions can bootstrap. Subclasses set `self.replay` and
  implement `_act(observation)`, which trains if due and returns the action; it must set
  `self._observation` and `self._action` (the action as stored in the replay).

  It also keeps what every such agent counts and draws from, and checkpoints it with the replay
  (`_replay_state` / `_load_replay_state`): the numpy Generator for sampling and exploration,
  `training_steps` (actions taken in training mode), `action_count` (every action taken) and
  `_base_key`, the device RNG key that each jitted call folds with `action_count`. Subclasses
  derive `_base_key` from the seed and must pass it to their jitted functions as an argument (a
  key closed over would be frozen into the compiled code, and a restored one ignored).
  """

  def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               seed: int = 0, summary_writer: Optional[Any] = None):
    super().__init__(observation_space, action_space, seed, summary_writer)
    self.replay = None
    self._rng = np.random.default_rng(seed)
    self.training_steps = 0
    self.action_count = 0
    self._base_key = None  # set by subclasses: see the class docstring
    self._observation = None
    self._action = None
    self._episode_first_step = False

  def reseed_acting(self, seed: int) -> None:
    self._rng = np.random.default_rng(seed)
    # The device stream too: jitted acting (SAC's policy samples) folds `_base_key`.
    self._base_key = jax.random.PRNGKey(seed)

  def _replay_ready(self, min_replay_history: int) -> bool:
    """Whether updates may start: more than `min_replay_history` rows stored, and more than
    `update_horizon`, the fewest that hold a whole n-step transition (a smaller warm-up would
    otherwise have nothing to sample at the first update)."""
    return self.replay.add_count > max(min_replay_history, self.replay.update_horizon)

  @abc.abstractmethod
  def _act(self, observation: np.ndarray) -> Any:
    """Trains if due (training mode only), then returns the action for `observation`."""

  def begin_episode(self, observation: np.ndarray) -> Any:
    self._episode_first_step = True
    return self._act(observation)

  def step(self, reward: float, observation: np.ndarray) -> Any:
    if not self.eval_mode:
      self._store(reward, terminated=False)
    return self._act(observation)

  def end_episode(self, reward: float, terminated: bool,
                  observation: Optional[np.ndarray] = None) -> None:
    if self.eval_mode:
      return
    if observation is None and not terminated:
      # Truncated with nothing to bootstrap the last action from: drop that transition and end
      # the episode at the observation before it (earlier transitions bootstrap from it).
      self.replay.add_final(self._observation)
      return
    self._store(reward, terminated)
    self.replay.add_final(self._observation if observation is None else observation)

  def _store(self, reward: float, terminated: bool) -> None:
    self.replay.add(self._observation, self._action, reward, terminated, self._episode_first_step)
    self._episode_first_step = False

  def _replay_state(self) -> Dict[str, Any]:
    """The checkpoint entries this class keeps: replay contents, Generator state, device RNG key,
    counters, and the episode in progress (the last observation and action, which the next
    step stores), so that a checkpoint taken mid-episode continues it too."""
    state = {
        'replay': self.replay.state_dict(),
        'rng': generator_state_to_array(self._rng),
        'base_key': np.asarray(jax.device_get(self._base_key)),
        'training_steps': np.int64(self.training_steps),
        'action_count': np.int64(self.action_count),
    }
    if self._observation is not None:
      state.update(episode_observation=np.asarray(self._observation),
                   episode_action=np.asarray(self._action),
                   episode_first_step=np.bool_(self._episode_first_step))
    return state

  def _load_replay_state(self, bundle: Dict[str, Any]) -> None:
    """Inverse of _replay_state (reads its entries from a whole bundle).

    Checkpoints written before the device key was saved have no 'base_key': the agent then keeps
    the key of its own seed, which is the one such a run used, so it resumes as before when
    restored with the run's seed (as the Runner does); a warning says so.
    """
    self.replay.load_state_dict(bundle['replay'])
    self._rng = generator_from_array(bundle['rng'])
    if 'base_key' in bundle:
      self._base_key = restore_pytree(self._base_key, bundle['base_key'], 'base_key')
    else:
      logging.warning('%s: the checkpoint has no device RNG key (written before keys were '
                      'saved); continuing with the key of seed %d', type(self).__name__, self.seed)
    self.training_steps = int(bundle['training_steps'])
    self.action_count = int(bundle['action_count'])
    if 'episode_observation' in bundle:
      self._observation = np.asarray(bundle['episode_observation'])
      action = np.asarray(bundle['episode_action'])
      self._action = action.item() if action.ndim == 0 else action
      self._episode_first_step = bool(bundle['episode_first_step'])
