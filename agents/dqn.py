"""DQN as Dopamine's JaxDQNAgent: target network, epsilon-greedy exploration, uniform replay; and
the shell that Rainbow, and the methods built on Rainbow, reuse.

The learning step is the pure function `td_update_and_act`, jitted once per agent; the agent class
only keeps state (the train-state pytree `ValueTrainState`, replay, RNG, counters) and calls it.
Acting costs one jitted forward pass per step; exploration coin flips use the agent's numpy
Generator so that a random action costs no device call at all.

A method built on the shell (DCEO: a representation network and option networks next to
Rainbow's) overrides hooks instead of copying the update, the acting or the checkpoints:
`init_extensions` gives its own networks' parameters, optimizer states and targets, kept in the
train state's `extensions` and `extension_targets`; `extension_update` trains them inside the same
jitted call, on the same replay batch, and its statistics join the iteration's; `sync_targets`
runs on the target clock; `policy_action` maps a policy index to an action, and `choose_policy`
and `explores` decide on the host, per step, which policy acts and whether the action is random.
`extensions_passed` and `extensions_returned` let a method pass a jitted call only the part of its
extensions that the call reads and trains, picked on the host (DCEO: one option of several), so
the rest is neither read nor written back; `extensions_returned` may also sync extension targets
on a clock of the method's own (DCEO: each option's, counted in its own updates).
`extension_batch` adds arrays of the method's own, computed on the host, to each sampled batch
(DCEO: the visit counts of the batch's states). The checkpoint holds the whole train state,
extensions included.

The agent's TensorBoard histograms (`write_summaries`), over each iteration's updates: the online
Q-values of the replayed actions (`agent/q_values`), the loss of each transition (`agent/td_loss`)
and, with prioritized replay, the priorities written back (`agent/priorities`).
"""

import inspect
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

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


class ValueTrainState(NamedTuple):
  """Everything a value-based agent learns, as one pytree: the Q-network's parameters, their
  target copy and the optimizer state; and what a method built on the shell adds, `extensions`
  (its own networks' parameters and optimizer states) and `extension_targets` (their target
  copies). DQN and Rainbow have no extensions: both are {}.

  Targets are kept apart from what the update trains because only the host changes them
  (`sync_targets` on the target clock, a method's `extensions_returned` on its own): the jitted
  update never hands them back (which would copy them every update), and between syncs they share
  the trained parameters' buffers."""
  params: Any
  target_params: Any
  optimizer_state: Any
  extensions: Any
  extension_targets: Any


def replay_weights(batch: Dict[str, jnp.ndarray], importance_exponent: float) -> jnp.ndarray:
  """Each replayed transition's loss weight: its importance weight under prioritized replay (the
  batch has `sampling_probability`), else 1."""
  if 'sampling_probability' in batch:
    return importance_weights(batch['sampling_probability'], importance_exponent)
  return jnp.ones_like(batch['reward'])


def td_update(per_transition_loss, optimizer, importance_exponent: float, state: ValueTrainState,
              batch: Dict[str, jnp.ndarray], key: jnp.ndarray):
  """One gradient step of the Q-network on the batch's mean loss.

  `per_transition_loss(params, target_params, batch, key) -> ((batch,) losses, (batch,) Q-values
  of the taken actions)` is the agent's loss; with prioritized replay (the batch has
  `sampling_probability`) each transition's loss is weighted by its importance weight. Returns
  (state with new params and optimizer_state, mean loss, per-transition losses, their Q-values).
  """
  weights = replay_weights(batch, importance_exponent)

  def weighted_loss(online_params):
    per_transition, chosen_q = per_transition_loss(online_params, state.target_params, batch, key)
    return jnp.mean(weights * per_transition), (per_transition, chosen_q)

  (loss_value, (per_transition, chosen_q)), gradients = jax.value_and_grad(
      weighted_loss, has_aux=True)(state.params)
  updates, optimizer_state = optimizer.update(gradients, state.optimizer_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return (state._replace(params=params, optimizer_state=optimizer_state), loss_value,
          per_transition, chosen_q)


def td_update_and_act(per_transition_loss, extension_update, policy_action, optimizer,
                      importance_exponent: float, state: ValueTrainState,
                      batch: Dict[str, jnp.ndarray], observation: jnp.ndarray, key: jnp.ndarray,
                      policy: jnp.ndarray):
  """A training step's whole device work, fused so that it is a single jitted call: the Q-network's
  gradient step on the batch (`td_update`), then `extension_update(extensions, state, batch, key)
  -> (extensions, statistics)` on the same batch and the state after that step, then the action of
  policy `policy` for the unbatched `observation` under the new state,
  `policy_action(state, observation, key, deterministic, policy)`.

  Returns (state, statistics: 'loss', the mean loss, and the extension's scalars, per-transition
  losses, their Q-values, action).
  """
  loss_key, act_key = jax.random.split(key)
  state, loss_value, per_transition, chosen_q = td_update(
      per_transition_loss, optimizer, importance_exponent, state, batch, loss_key)
  # Folded rather than split off, so that the loss and the action draw the same noise whether or
  # not an extension draws any.
  extensions, extension_statistics = extension_update(state.extensions, state, batch,
                                                      jax.random.fold_in(key, 1))
  state = state._replace(extensions=extensions)
  action = policy_action(state, observation, act_key, False, policy)
  return state, {'loss': loss_value, **extension_statistics}, per_transition, chosen_q, action


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
  `_q_values` (see RainbowAgent), and add to it with the extension hooks of the module docstring
  (`init_extensions`, `extension_update`, `sync_targets`, `policy_action`, `choose_policy`,
  `explores`).

  Everything learnt is `self.state`, a ValueTrainState; `params`, `target_params` and
  `optimizer_state` read its parts.
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
    self.importance_exponent = importance_exponent
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
    sample_observations = np.zeros((1, *observation_space.shape), observation_space.dtype)
    params = jax.jit(self.network.init)({'params': init_key, 'noise': init_key},
                                        sample_observations)
    # A key of its own for the extensions, so that the Q-network starts as it does without them.
    extensions, extension_targets = self.init_extensions(jax.random.fold_in(init_key, 1),
                                                         sample_observations)
    self.state = ValueTrainState(params=params, target_params=params,
                                 optimizer_state=self._optimizer.init(params),
                                 extensions=extensions, extension_targets=extension_targets)

    def update_and_act(params, target_params, optimizer_state, extensions, extension_targets,
                       batch, observation, base_key, counter, policy):
      key = jax.random.fold_in(base_key, counter)
      state = ValueTrainState(params, target_params, optimizer_state, extensions,
                              extension_targets)
      state, statistics, per_transition, chosen_q, action = td_update_and_act(
          self._per_transition_loss, self._checked_extension_update, self.policy_action,
          self._optimizer, importance_exponent, state, batch, observation, key, policy)
      # Only what the update trains goes back: handing back the targets would copy them.
      trained = (state.params, state.optimizer_state, state.extensions)
      return trained, statistics, per_transition, chosen_q, action

    def act(state, observation, base_key, counter, deterministic, policy):
      key = jax.random.fold_in(base_key, counter)
      return self.policy_action(state, observation, key, deterministic, policy)

    # The optimizer state is donated: XLA updates Adam's moments in place instead of allocating and
    # filling fresh buffers every update (about 10% of Rainbow's update on a CPU). The parameters
    # are not: the target network shares their buffers between syncs, and donating them as well
    # measured 15-20% slower for DQN (same speed for Rainbow). Extensions are not either, since
    # their targets share their buffers in the same way.
    self._update_and_act = compilation.jit(
        update_and_act, donate_argnums=ValueTrainState._fields.index('optimizer_state'))
    self._act_fn = compilation.jit(act, static_argnums=4)

    self.replay = create_replay_buffer(
        replay_scheme == 'prioritized', replay_capacity, observation_shape=observation_space.shape,
        observation_dtype=observation_space.dtype, stack_size=stack_size,
        update_horizon=update_horizon, gamma=gamma)
    self._statistics = []  # each update's scalars, left on the device until the iteration ends
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

  # -- what a method built on the shell adds (see the module docstring) ---------------------------

  def init_extensions(self, key: jnp.ndarray, sample_observations: np.ndarray) -> Tuple[Any, Any]:
    """(extensions, extension_targets): the initial parameters and optimizer states of a
    subclass's own networks, and their targets (pytrees; both {} here). `sample_observations` is
    a batch of one zero observation, for initialising networks."""
    del key, sample_observations
    return {}, {}

  def extension_update(self, extensions, state: ValueTrainState, batch: Dict[str, jnp.ndarray],
                       key: jnp.ndarray) -> Tuple[Any, Dict[str, jnp.ndarray]]:
    """(new extensions, scalar statistics by name): a subclass's own learning, traced into the
    update's jitted call after the Q-network's step, on the same replay batch (`indices` removed).
    `state` is the train state after the Q-network's step (its `extensions` are `extensions`).
    Each statistic is averaged over the iteration's updates into `iteration_statistics` (so
    `agent/<name>` in metrics.jsonl); 'loss', 'updates' and 'epsilon' are the shell's own."""
    del state, batch, key
    return extensions, {}

  def extension_batch(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Arrays, one row per transition, to add to a sampled batch before the update's call, which
    `extension_update` then reads (the same names every update: a new name compiles anew). The
    batch holds its replay start rows under 'indices' here, and no longer in the call. None
    here."""
    del batch
    return {}

  def sync_targets(self, state: ValueTrainState) -> ValueTrainState:
    """The state with its targets synchronised, on Dopamine's target clock (on the host, after
    that step's update). Subclasses with extension targets extend it to sync those as well."""
    return state._replace(target_params=state.params)

  def policy_action(self, state: ValueTrainState, observation: jnp.ndarray, key: jnp.ndarray,
                    deterministic: bool, policy: jnp.ndarray) -> jnp.ndarray:
    """The action (an index from 0) of policy `policy` for one unbatched observation, traced into
    the jitted calls; `policy` is a traced integer (see `choose_policy`). Acting alone passes the
    state without its targets and the Q-network's optimizer state (None). Here there is one
    policy, greedy with respect to the Q-network (without noise when `deterministic`)."""
    del policy
    return greedy_action(self._q_values, state.params, observation, key, deterministic)

  def choose_policy(self) -> int:
    """Which policy acts at this training step, decided on the host before the step's jitted call
    (drawing, if anything, from the agent's Generator `_rng`): 0 is the main Q-network's, other
    indices are a subclass's. Evaluation and `act` always use 0."""
    return 0

  def explores(self) -> bool:
    """Whether this step's action is uniformly random rather than the policy's (drawn after the
    step's update): epsilon-greedy."""
    # Draw the coin even when epsilon is 0, so the RNG stream does not depend on the schedule.
    return self._rng.random() <= self.epsilon

  def extensions_passed(self, policy: int, updating: bool) -> Tuple[Any, Any]:
    """(extensions, extension_targets) as this step's jitted call receives them, decided on the
    host just before it (drawing, if anything, from `_rng`): by default the train state's own.
    `updating` says whether the call trains (`extension_update`, then `policy_action` for
    `policy`) or only acts (`policy_action`, without targets). A subclass that trains a part of
    its extensions picked on the host passes only that part, and `extensions_returned` puts it
    back: written whole, a stacked pytree would be copied every update for one slice's change."""
    del policy, updating
    return self.state.extensions, self.state.extension_targets

  def extensions_returned(self, passed: Any, updated: Any) -> Tuple[Any, Any]:
    """(extensions, extension_targets) of the train state after an update that received `passed`
    (from `extensions_passed`) and returned `updated`: by default `updated` itself and the
    targets unchanged (they sync on the shell's clock, `sync_targets`)."""
    del passed
    return updated, self.state.extension_targets

  def _acting_state(self, policy: int = 0) -> ValueTrainState:
    """The train state as the acting call for `policy` takes it, without the targets and the
    Q-network's optimizer state: no policy reads them, and each of their arrays would add to every
    action's dispatch time (by a sixth for DQN on CartPole)."""
    extensions, _ = self.extensions_passed(policy, updating=False)
    return self.state._replace(target_params=None, optimizer_state=None, extensions=extensions,
                               extension_targets=None)

  def _checked_extension_update(self, extensions, state, batch, key):
    """extension_update, refusing at trace time statistics that would hide the shell's own."""
    extensions, statistics = self.extension_update(extensions, state, batch, key)
    clashes = sorted(set(statistics) & {'loss', 'updates', 'epsilon'})
    if clashes:
      raise ValueError(f'{type(self).__name__}.extension_update returns statistics named '
                       f'{clashes}, which are the agent\'s own; rename them')
    return extensions, statistics

  # -- the train state's parts, read-only ---------------------------------------------------------

  @property
  def params(self):
    return self.state.params

  @property
  def target_params(self):
    return self.state.target_params

  @property
  def optimizer_state(self):
    return self.state.optimizer_state

  # -- acting -------------------------------------------------------------------------------------

  def _training_epsilon(self) -> float:
    return self.epsilon_fn(self.epsilon_decay_period, self.training_steps,
                           self.min_replay_history, self.epsilon_train)

  @property
  def epsilon(self) -> float:
    return self.epsilon_eval if self.eval_mode else self._training_epsilon()

  def _act(self, observation: np.ndarray) -> int:
    """Trains if due (training mode only), then acts epsilon-greedily with the chosen policy (the
    main one in evaluation): one jitted call per step."""
    policy, greedy = 0, None
    if not self.eval_mode:
      policy = self.choose_policy()
      greedy = self._train_step(observation, policy)
    if self.explores():
      action = int(self._rng.integers(self.num_actions))
    else:
      if greedy is None:
        greedy = self._act_fn(self._acting_state(policy), observation, self._base_key,
                              self.action_count, self.eval_mode, policy)
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
      action = int(self._act_fn(self._acting_state(), observation, self._base_key,
                                self.action_count, True, 0))
    self.action_count += 1
    return action + self._first_action

  # -- learning -----------------------------------------------------------------------------------

  def _train_step(self, observation: np.ndarray, policy: int) -> Optional[jnp.ndarray]:
    """Dopamine's clock (see the class docstring). Returns the action of policy `policy` for
    `observation` under the updated state when an update ran (computed in the same call), else
    None."""
    greedy = None
    if self._replay_ready(self.min_replay_history):
      if self.training_steps % self.update_period == 0:
        batch = self.replay.sample(self.batch_size, self._rng)
        batch.update(self.extension_batch(batch))
        indices = batch.pop('indices')
        extensions, extension_targets = self.extensions_passed(policy, updating=True)
        trained, statistics, per_transition, chosen_q, greedy = self._update_and_act(
            self.state.params, self.state.target_params, self.state.optimizer_state, extensions,
            extension_targets, batch, observation, self._base_key, self.action_count, policy)
        params, optimizer_state, updated = trained
        extensions, extension_targets = self.extensions_returned(extensions, updated)
        self.state = self.state._replace(params=params, optimizer_state=optimizer_state,
                                         extensions=extensions, extension_targets=extension_targets)
        histograms = {'agent/q_values': chosen_q, 'agent/td_loss': per_transition}
        if isinstance(self.replay, PrioritizedReplayBuffer):
          # Dopamine's full Rainbow: priority = sqrt(loss + 1e-10) for exponent 0.5.
          priorities = (np.asarray(per_transition, np.float64) + 1e-10) ** self.priority_exponent
          self.replay.set_priorities(indices, priorities)
          histograms['agent/priorities'] = priorities
        self._statistics.append(statistics)
        self._histogram_values.append(histograms)
      if self.training_steps % self.target_update_period == 0:
        self.state = self.sync_targets(self.state)
    self.training_steps += 1
    return greedy

  def iteration_statistics(self) -> Dict[str, float]:
    statistics = {'epsilon': float(self._training_epsilon())}
    if self._statistics:
      per_update = jax.device_get(self._statistics)
      for name in per_update[0]:
        statistics[name] = float(np.mean([update[name] for update in per_update]))
      statistics['updates'] = float(len(per_update))
    self._statistics = []
    return statistics

  def iteration_histograms(self) -> Dict[str, np.ndarray]:
    """Q-values of the replayed actions, losses per transition and (prioritized replay) the
    priorities written, over the iteration's updates (the last ones when there are many)."""
    return self._histogram_values.fetch_and_clear()

  # -- checkpointing ------------------------------------------------------------------------------

  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    """The replay's entries and the train state's parts under their field names; parts without
    arrays (the extensions of an agent that has none) are left out, so DQN and Rainbow write the
    bundles they wrote before extensions existed, and read them back."""
    del checkpoint_dir, iteration  # everything fits in the returned pytree
    state = flax.serialization.to_state_dict(self.state)
    return {
        **{name: part for name, part in state.items() if jax.tree.leaves(part)},
        **self._replay_state(),
    }

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    del checkpoint_dir, iteration
    saved = {name: bundle.get(name, {}) for name in ValueTrainState._fields}
    self.state = base.restore_pytree(self.state, saved, 'state')
    self._load_replay_state(bundle)
    self._statistics = []
    self._histogram_values.clear()
    return True
