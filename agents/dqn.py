"""DQN as Dopamine's JaxDQNAgent: target network, epsilon-greedy exploration, uniform replay; and
the shell that Rainbow (and the agents built on it) reuse.

The learning step is the pure function `td_update_and_act`, jitted once per agent; the agent class
only keeps state (parameters, optimizer state, replay, RNG, counters) and calls it. Acting costs one
jitted forward pass per step; exploration coin flips use the agent's numpy Generator so that a
random action costs no device call at all.

The agent's TensorBoard histograms (`write_summaries`), over each iteration's updates: the online
Q-values of the replayed actions (`agent/q_values`), the loss of each transition (`agent/td_loss`)
and, with prioritized replay, the priorities written back (`agent/priorities`).
"""

import inspect
from typing import Any, Callable, Dict, Optional, Tuple

import flax.serialization
import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents import base
from agents import compilation
from agents import losses
from agents import networks
# Re-exported: DQNAgent's default optimizer, and where code before agents/optimizers.py found it.
from agents.optimizers import create_optimizer
from agents.replay import PrioritizedReplayBuffer, create_replay_buffer, importance_weights


def dqn_loss(network, loss_fn, params, target_params, batch: Dict[str, jnp.ndarray],
             key: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Per-transition DQN loss on a batch of (n-step) transitions, and the online Q-value of each
  transition's action (computed for the loss anyway; the agent's histograms show it).

  Target: reward + discount * max_a Q_target(next_observation, a), where `discount` holds gamma^n
  and is 0 for terminal transitions.
  """
  del key  # DQN's networks are deterministic
  targets = losses.q_learning_targets(
      network.apply(target_params, batch['next_observation']), batch['reward'], batch['discount'])
  q_values = network.apply(params, batch['observation'])
  chosen_q = jnp.take_along_axis(q_values, batch['action'][:, None], axis=-1)[:, 0]
  return loss_fn(targets, chosen_q), chosen_q


def dqn_q_values(network, params, observations: jnp.ndarray, key: jnp.ndarray,
                 deterministic: bool) -> jnp.ndarray:
  del key, deterministic
  return network.apply(params, observations)


def td_update_and_act(per_transition_loss, q_values, optimizer, importance_exponent: float,
                      params, target_params, optimizer_state, batch: Dict[str, jnp.ndarray],
                      observation: jnp.ndarray, key: jnp.ndarray):
  """One gradient step on the batch's mean loss, then the greedy action for `observation` under the
  new parameters: fused so that a training step that updates is still a single jitted call.

  `per_transition_loss(params, target_params, batch, key) -> ((batch,) losses, (batch,) Q-values
  of the taken actions)` is the agent's loss; with prioritized replay (the batch has
  `sampling_probability`) each transition's loss is weighted by its importance weight. Returns
  (params, optimizer_state, mean loss, per-transition losses, their Q-values, action).
  """
  loss_key, act_key = jax.random.split(key)
  if 'sampling_probability' in batch:
    weights = importance_weights(batch['sampling_probability'], importance_exponent)
  else:
    weights = jnp.ones_like(batch['reward'])

  def weighted_loss(online_params):
    per_transition, chosen_q = per_transition_loss(online_params, target_params, batch, loss_key)
    return jnp.mean(weights * per_transition), (per_transition, chosen_q)

  (loss_value, (per_transition, chosen_q)), gradients = jax.value_and_grad(
      weighted_loss, has_aux=True)(params)
  updates, optimizer_state = optimizer.update(gradients, optimizer_state, params)
  params = optax.apply_updates(params, updates)
  action = greedy_action(q_values, params, observation, act_key, False)
  return params, optimizer_state, loss_value, per_transition, chosen_q, action


def greedy_action(q_values, params, observation: jnp.ndarray, key: jnp.ndarray,
                  deterministic: bool) -> jnp.ndarray:
  """argmax_a Q(observation, a) for one unbatched observation."""
  return jnp.argmax(q_values(params, observation[None], key, deterministic)[0])


@gin.configurable
class DQNAgent(base.ReplayAgent):
  """Dopamine's DQN: Huber (or MSE) loss, target network, linearly decaying epsilon, uniform replay
  (prioritized as a switch), n-step returns.

  Training follows Dopamine's clock: `training_steps` counts every action taken in training mode;
  once the replay holds more than `min_replay_history` rows (and more than `update_horizon`, the
  fewest that hold a whole transition), an update runs every `update_period` steps and the target
  network is synchronised every `target_update_period` steps.

  `stack_size` must match the environment's frame stack (Atari: 4) so that the replay stores each
  frame once; 1 stores whole observations. Subclasses change the learning rule by overriding
  `_make_network`, `_per_transition_loss` (each transition's loss and its action's Q-value) and
  `_q_values` (see RainbowAgent).
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
               replay_scheme: str = 'uniform',
               priority_exponent: float = 0.5,
               importance_exponent: float = 0.5,
               stack_size: int = 1,
               batch_size: int = 32):
    super().__init__(observation_space, action_space, seed, summary_writer)
    base.require_space(type(self).__name__, 'action', action_space, (gymnasium.spaces.Discrete,))
    base.require_space(type(self).__name__, 'observation', observation_space,
                       (gymnasium.spaces.Box,))
    if replay_scheme not in ('uniform', 'prioritized'):
      raise ValueError(f"replay_scheme must be 'uniform' or 'prioritized', got {replay_scheme!r}")
    self.num_actions = int(action_space.n)
    # Networks, replay and losses work with indices 0..n-1; the environment gets index + start.
    self._first_action = int(action_space.start)
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
    self.priority_exponent = priority_exponent
    self.loss_fn = losses.get_loss(loss_type)

    self.network = self._make_network(network)
    self._optimizer = optimizer()
    init_key, self._base_key = jax.random.split(jax.random.PRNGKey(seed))
    sample_observation = np.zeros(observation_space.shape, observation_space.dtype)
    self.params = jax.jit(self.network.init)({'params': init_key, 'noise': init_key},
                                             sample_observation[None])
    self.target_params = self.params
    self.optimizer_state = self._optimizer.init(self.params)

    def update_and_act(params, target_params, optimizer_state, batch, observation, base_key,
                       counter):
      key = jax.random.fold_in(base_key, counter)
      return td_update_and_act(self._per_transition_loss, self._q_values, self._optimizer,
                               importance_exponent, params, target_params, optimizer_state,
                               batch, observation, key)

    def act(params, observation, base_key, counter, deterministic):
      key = jax.random.fold_in(base_key, counter)
      return greedy_action(self._q_values, params, observation, key, deterministic)

    # The optimizer state is donated: XLA updates Adam's moments in place instead of allocating and
    # filling fresh buffers every update (about 10% of Rainbow's update on a CPU). The parameters
    # are not: the target network shares their buffers between syncs, and donating them as well
    # measured 15-20% slower for DQN (same speed for Rainbow).
    self._update_and_act = compilation.jit(update_and_act, donate_argnums=2)
    self._greedy_action = compilation.jit(act, static_argnums=4)

    self.replay = create_replay_buffer(
        replay_scheme == 'prioritized', replay_capacity, observation_shape=observation_space.shape,
        observation_dtype=observation_space.dtype, stack_size=stack_size,
        update_horizon=update_horizon, gamma=gamma)
    self._losses = []
    self._histogram_values = base.RecentValues()

  @classmethod
  def dopamine_baseline_names(cls, binding: Callable[[str, str], Any]) -> tuple[str, ...]:
    """Dopamine's JAX DQN with the MSE loss (Adam) where a baseline file has it, for
    `DQNAgent.loss_type = 'mse'`; else its original DQN (RMSProp, Huber)."""
    if binding('DQNAgent', 'loss_type') == 'mse':
      return ('DQN (Adam + MSE in JAX)', 'DQN')
    return ('DQN',)

  # -- what subclasses change ---------------------------------------------------------------------

  def _make_network(self, network: Callable[..., Any]):
    return network(num_outputs=self.num_actions)

  def _per_transition_loss(self, params, target_params, batch,
                           key) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """(loss, Q-value of the taken action) per transition: see td_update_and_act."""
    return dqn_loss(self.network, self.loss_fn, params, target_params, batch, key)

  def _q_values(self, params, observations, key, deterministic) -> jnp.ndarray:
    return dqn_q_values(self.network, params, observations, key, deterministic)

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
        greedy = self._greedy_action(self.params, observation, self._base_key, self.action_count,
                                     self.eval_mode)
      action = int(greedy)
    self.action_count += 1
    self._observation, self._action = observation, action
    return action + self._first_action

  def act(self, observation: np.ndarray, deterministic: bool = True) -> int:
    """The action for `observation`, neither recorded nor trained on (for collecting datasets
    from a trained agent): greedy (noise-free for noisy networks) when `deterministic`, else
    epsilon-greedy with `epsilon_eval`."""
    if not deterministic and self._rng.random() <= self.epsilon_eval:
      action = int(self._rng.integers(self.num_actions))
    else:
      action = int(self._greedy_action(self.params, observation, self._base_key,
                                       self.action_count, True))
    self.action_count += 1
    return action + self._first_action

  # -- learning -----------------------------------------------------------------------------------

  def _train_step(self, observation: np.ndarray) -> Optional[jnp.ndarray]:
    """Dopamine's clock (see the class docstring). Returns the greedy action for `observation`
    under the updated parameters when an update ran (computed in the same call), else None."""
    greedy = None
    if self._replay_ready(self.min_replay_history):
      if self.training_steps % self.update_period == 0:
        batch = self.replay.sample(self.batch_size, self._rng)
        indices = batch.pop('indices')
        (self.params, self.optimizer_state, loss, per_transition, chosen_q,
         greedy) = self._update_and_act(self.params, self.target_params, self.optimizer_state,
                                        batch, observation, self._base_key, self.action_count)
        histograms = {'agent/q_values': chosen_q, 'agent/td_loss': per_transition}
        if isinstance(self.replay, PrioritizedReplayBuffer):
          # Dopamine's full Rainbow: priority = sqrt(loss + 1e-10) for exponent 0.5.
          priorities = (np.asarray(per_transition, np.float64) + 1e-10) ** self.priority_exponent
          self.replay.set_priorities(indices, priorities)
          histograms['agent/priorities'] = priorities
        self._losses.append(loss)
        self._histogram_values.append(histograms)
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

  def iteration_histograms(self) -> Dict[str, np.ndarray]:
    """Q-values of the replayed actions, losses per transition and (prioritized replay) the
    priorities written, over the iteration's updates (the last ones when there are many)."""
    return self._histogram_values.fetch_and_clear()

  # -- checkpointing ------------------------------------------------------------------------------

  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    del checkpoint_dir, iteration  # everything fits in the returned pytree
    return {
        'params': flax.serialization.to_state_dict(self.params),
        'target_params': flax.serialization.to_state_dict(self.target_params),
        'optimizer_state': flax.serialization.to_state_dict(self.optimizer_state),
        **self._replay_state(),
    }

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    del checkpoint_dir, iteration
    self.params = base.restore_pytree(self.params, bundle['params'], 'params')
    self.target_params = base.restore_pytree(self.target_params, bundle['target_params'],
                                             'target_params')
    self.optimizer_state = base.restore_pytree(self.optimizer_state, bundle['optimizer_state'],
                                               'optimizer_state')
    self._load_replay_state(bundle)
    self._losses = []
    self._histogram_values.clear()
    return True
