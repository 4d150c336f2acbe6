"""DQN as Dopamine's JaxDQNAgent: target network, epsilon-greedy exploration, uniform replay.

The learning step is the pure function `dqn_update`, jitted once per agent; the agent class only
keeps state (parameters, optimizer state, replay, RNG, counters) and calls it. Acting costs one
jitted forward pass per step; exploration coin flips use the agent's numpy Generator so that a
random action costs no device call at all.
"""

import functools
import inspect
from typing import Any, Callable, Dict, Optional

import flax.serialization
import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents import base
from agents import losses
from agents import networks
from agents.replay import NStepAccumulator, ReplayBuffer


@gin.configurable
def create_optimizer(name: str = 'adam', learning_rate: float = 6.25e-5, beta1: float = 0.9,
                     beta2: float = 0.999, eps: float = 1.5e-4, centered: bool = False
                     ) -> optax.GradientTransformation:
  """Dopamine's optimizer factory (defaults are its Atari Adam settings)."""
  factories = {
      'adam': lambda: optax.adam(learning_rate, b1=beta1, b2=beta2, eps=eps),
      'rmsprop': lambda: optax.rmsprop(learning_rate, decay=beta2, eps=eps, centered=centered),
      'sgd': lambda: optax.sgd(learning_rate),
  }
  if name not in factories:
    raise ValueError(f'unknown optimizer {name!r}; choose one of {sorted(factories)}')
  return factories[name]()


def dqn_update(network, optimizer, loss_fn, params, target_params, optimizer_state,
               batch: Dict[str, jnp.ndarray]):
  """One gradient step of DQN on a batch of (n-step) transitions; returns new state and the loss.

  Target: reward + discount * max_a Q_target(next_observation, a), where `discount` holds gamma^n
  and is 0 for terminal transitions.
  """
  targets = losses.q_learning_targets(
      network.apply(target_params, batch['next_observation']), batch['reward'], batch['discount'])

  def loss(online_params):
    q_values = network.apply(online_params, batch['observation'])
    chosen_q = jnp.take_along_axis(q_values, batch['action'][:, None], axis=-1)[:, 0]
    return jnp.mean(loss_fn(targets, chosen_q))

  loss_value, gradients = jax.value_and_grad(loss)(params)
  updates, optimizer_state = optimizer.update(gradients, optimizer_state, params)
  return optax.apply_updates(params, updates), optimizer_state, loss_value


def greedy_action(network, params, observation: jnp.ndarray) -> jnp.ndarray:
  """argmax_a Q(observation, a) for one unbatched observation."""
  return jnp.argmax(network.apply(params, observation[None])[0])


def dqn_update_and_act(network, optimizer, loss_fn, params, target_params, optimizer_state,
                       batch: Dict[str, jnp.ndarray], observation: jnp.ndarray):
  """dqn_update, then the greedy action for `observation` under the new parameters.

  Fused so that a training step that updates still costs a single jitted call.
  """
  params, optimizer_state, loss_value = dqn_update(network, optimizer, loss_fn, params,
                                                   target_params, optimizer_state, batch)
  return params, optimizer_state, loss_value, greedy_action(network, params, observation)


@gin.configurable
class DQNAgent(base.Agent):
  """Dopamine's DQN: Huber (or MSE) loss, target network, linearly decaying epsilon, uniform replay.

  Training follows Dopamine's clock: `training_steps` counts every action taken in training mode;
  once the replay holds more than `min_replay_history` transitions, an update runs every
  `update_period` steps and the target network is synchronised every `target_update_period` steps.
  """

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               network: Callable[..., Any] = networks.MLP,
               gamma: float = 0.99,
               update_horizon: int = 1,
               min_replay_history: int = 20000,
               update_period: int = 4,
               target_update_period: int = 8000,
               epsilon_fn: Callable[..., float] = losses.linearly_decaying_epsilon,
               epsilon_train: float = 0.01,
               epsilon_eval: float = 0.001,
               epsilon_decay_period: int = 250000,
               loss_type: str = 'huber',
               optimizer: Callable[[], optax.GradientTransformation] = create_optimizer,
               replay_capacity: int = 1000000,
               batch_size: int = 32):
    super().__init__(observation_space, action_space, seed, summary_writer)
    base.require_space(type(self).__name__, 'action', action_space, (gymnasium.spaces.Discrete,))
    base.require_space(type(self).__name__, 'observation', observation_space,
                       (gymnasium.spaces.Box,))
    self.num_actions = int(action_space.n)
    self.gamma = gamma
    self.min_replay_history = min_replay_history
    self.update_period = update_period
    self.target_update_period = target_update_period
    # The schedule receives all four of its arguments on every call, so no gin binding can apply
    # to it; calling the undecorated function skips gin's per-call wrapper (about 5 us a step).
    self.epsilon_fn = inspect.unwrap(epsilon_fn)
    self.epsilon_train = epsilon_train
    self.epsilon_eval = epsilon_eval
    self.epsilon_decay_period = epsilon_decay_period
    self.batch_size = batch_size

    self.network = network(num_outputs=self.num_actions)
    self._optimizer = optimizer()
    init_key = jax.random.PRNGKey(seed)
    sample_observation = np.zeros(observation_space.shape, observation_space.dtype)
    self.params = self.network.init(init_key, sample_observation[None])
    self.target_params = self.params
    self.optimizer_state = self._optimizer.init(self.params)

    self._update_and_act = jax.jit(functools.partial(
        dqn_update_and_act, self.network, self._optimizer, losses.get_loss(loss_type)))
    self._greedy_action = jax.jit(functools.partial(greedy_action, self.network))

    self.replay = ReplayBuffer(replay_capacity, {
        'observation': (observation_space.shape, observation_space.dtype),
        'action': ((), np.int32),
        'reward': ((), np.float32),
        'next_observation': (observation_space.shape, observation_space.dtype),
        'discount': ((), np.float32),
    })
    self._accumulator = NStepAccumulator(update_horizon, gamma)
    self._rng = np.random.default_rng(seed)
    self.training_steps = 0
    self._observation = None
    self._action = None
    self._losses = []

  # -- acting -------------------------------------------------------------------------------------

  def _training_epsilon(self) -> float:
    return self.epsilon_fn(self.epsilon_decay_period, self.training_steps,
                           self.min_replay_history, self.epsilon_train)

  @property
  def epsilon(self) -> float:
    return self.epsilon_eval if self.eval_mode else self._training_epsilon()

  def _act(self, observation: np.ndarray) -> int:
    """Trains if due (training mode only), then acts epsilon-greedily: one jitted call per step."""
    greedy = self._train_step(observation) if not self.eval_mode else None
    # Draw the coin even when epsilon is 0, so the RNG stream does not depend on the schedule.
    if self._rng.random() <= self.epsilon:
      action = int(self._rng.integers(self.num_actions))
    else:
      if greedy is None:
        greedy = self._greedy_action(self.params, observation)
      action = int(greedy)
    self._observation, self._action = observation, action
    return action

  def begin_episode(self, observation: np.ndarray) -> int:
    self._accumulator.reset()
    return self._act(observation)

  def step(self, reward: float, observation: np.ndarray) -> int:
    if not self.eval_mode:
      self._store(reward, observation, terminated=False, episode_end=False)
    return self._act(observation)

  def end_episode(self, reward: float, terminated: bool,
                  observation: Optional[np.ndarray] = None) -> None:
    if self.eval_mode:
      return
    if observation is None and not terminated:
      # Truncated with nothing to bootstrap from: storing these transitions as terminal would
      # teach a wrong value, so drop them (Dopamine's behaviour).
      self._accumulator.reset()
      return
    next_observation = self._observation if observation is None else observation
    self._store(reward, next_observation, terminated=terminated, episode_end=True)

  def _store(self, reward, next_observation, terminated: bool, episode_end: bool) -> None:
    for transition in self._accumulator.add(self._observation, self._action, reward,
                                            next_observation, terminated, episode_end):
      self.replay.add(transition)

  # -- learning -----------------------------------------------------------------------------------

  def _train_step(self, observation: np.ndarray) -> Optional[jnp.ndarray]:
    """Dopamine's clock (see the class docstring). Returns the greedy action for `observation`
    under the updated parameters when an update ran (computed in the same call), else None."""
    greedy = None
    if self.replay.add_count > self.min_replay_history:
      if self.training_steps % self.update_period == 0:
        batch = self.replay.sample(self.batch_size, self._rng)
        self.params, self.optimizer_state, loss, greedy = self._update_and_act(
            self.params, self.target_params, self.optimizer_state, batch, observation)
        self._losses.append(loss)
      if self.training_steps % self.target_update_period == 0:
        self.target_params = self.params
    self.training_steps += 1
    return greedy

  def iteration_statistics(self) -> Dict[str, float]:
    statistics = {'epsilon': float(self._training_epsilon())}
    if self._losses:
      statistics['loss'] = float(np.mean(jax.device_get(self._losses)))
      statistics['updates'] = float(len(self._losses))
    self._losses = []
    return statistics

  # -- checkpointing ------------------------------------------------------------------------------

  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    del checkpoint_dir, iteration  # everything fits in the returned pytree
    if len(self._accumulator):
      raise RuntimeError('DQNAgent can only be checkpointed between episodes')
    return {
        'params': flax.serialization.to_state_dict(self.params),
        'target_params': flax.serialization.to_state_dict(self.target_params),
        'optimizer_state': flax.serialization.to_state_dict(self.optimizer_state),
        'replay': self.replay.state_dict(),
        'rng': base.generator_state_to_array(self._rng),
        'training_steps': np.int64(self.training_steps),
    }

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    del checkpoint_dir, iteration
    restore = lambda template, state: jax.device_put(
        flax.serialization.from_state_dict(template, state))
    self.params = restore(self.params, bundle['params'])
    self.target_params = restore(self.target_params, bundle['target_params'])
    self.optimizer_state = restore(self.optimizer_state, bundle['optimizer_state'])
    self.replay.load_state_dict(bundle['replay'])
    self._rng = base.generator_from_array(bundle['rng'])
    self.training_steps = int(bundle['training_steps'])
    self._losses = []
    return True
