"""Soft Actor-Critic (Haarnoja et al., 2018, "Soft Actor-Critic Algorithms and Applications") with
Dopamine's MuJoCo defaults: twin Q networks with Polyak-averaged targets, a tanh-squashed Gaussian
policy, automatic entropy tuning (a fixed temperature as a switch) and n-step returns as an option.

The learning rule is a set of pure functions (the squashed-Gaussian density, the critic target and
the three losses), tested against hand-computed numbers; `sac_update` chains them into one update
(critic, then actor against the updated critics, then temperature, then a method's own losses,
then the Polyak step) and `sac_updates_and_act` runs an agent step's updates and returns the action
for the next observation under the new policy, so an agent step is one jitted call however many
updates it runs. `SACAgent` keeps the state and the replay and calls it.

Extension points, for a method that changes SAC rather than copying it (agents/sfp.py): the train
state's `extensions` hold a method's own parameters and optimizer states (`init_extensions`),
trained by `extension_update` inside the same jitted update; `prepare_batch` adds to each batch
what several hooks share; `next_action` replaces the critic target's next action,
`actor_q_weight` weighs the Q-value in the actor loss, `policy_action` is the acting policy
(given the host's `acting_context`, e.g. the previous action), and `warmup_action` the action
source before learning starts. With the defaults the agent is plain
SAC, its updates bit for bit.

Its TensorBoard histograms (`write_summaries`), per sampled transition over each iteration's
updates: the log-probability of the policy's action (`agent/policy_log_prob`; minus its mean is
the entropy estimate), the smaller twin Q-value of that action (`agent/min_q_value`) and the
critic target (`agent/critic_target`).

Actions live in the policy's units, [-1, 1] per dimension, in the replay and in the networks; the
environment gets them rescaled to its Box bounds, and log-probabilities are densities of the
rescaled action (as Dopamine's), so the entropy target means the same for any bounds.
"""

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
from agents import networks
from agents.optimizers import create_optimizer
from agents.replay import CircularReplayBuffer

LOG_2 = float(np.log(2.0))


# -- the squashed Gaussian ------------------------------------------------------------------------

def tanh_log_det_jacobian(pre_tanh: jnp.ndarray) -> jnp.ndarray:
  """log |d tanh(u) / du| = log(1 - tanh(u)^2), summed over the last axis, in the stable form
  2 (log 2 - u - softplus(-2u)), which stays finite where tanh(u) rounds to +-1."""
  return jnp.sum(2.0 * (LOG_2 - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh)), axis=-1)


def tanh_gaussian_log_prob(pre_tanh: jnp.ndarray, mean: jnp.ndarray, log_std: jnp.ndarray,
                           log_action_scale: jnp.ndarray) -> jnp.ndarray:
  """Log density of the action scale * tanh(u) + offset, u ~ N(mean, exp(log_std)^2) diagonal, at
  the action given by its pre-squash value u: change of variables through tanh and the scaling."""
  gaussian = -0.5 * jnp.sum(((pre_tanh - mean) / jnp.exp(log_std)) ** 2 + 2.0 * log_std
                            + jnp.log(2.0 * jnp.pi), axis=-1)
  return gaussian - tanh_log_det_jacobian(pre_tanh) - jnp.sum(log_action_scale)


def sample_tanh_gaussian(mean: jnp.ndarray, log_std: jnp.ndarray, key: jnp.ndarray,
                         log_action_scale: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """A reparameterised sample tanh(mean + std * noise) in [-1, 1] and its log density (see
  tanh_gaussian_log_prob); gradients flow to mean and log_std."""
  pre_tanh = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
  return jnp.tanh(pre_tanh), tanh_gaussian_log_prob(pre_tanh, mean, log_std, log_action_scale)


# -- losses ---------------------------------------------------------------------------------------

def critic_target(reward: jnp.ndarray, discount: jnp.ndarray, next_q_values: jnp.ndarray,
                  next_log_prob: jnp.ndarray, alpha: jnp.ndarray) -> jnp.ndarray:
  """Soft n-step backup: r + discount * (min_i Q_target_i(s', a') - alpha log pi(a' | s')), with
  a' ~ pi(s'). `next_q_values` is (num_critics, batch); `discount` holds gamma^n and is 0 after a
  termination; `reward` is the (scaled) n-step return."""
  soft_value = jnp.min(next_q_values, axis=0) - alpha * next_log_prob
  return jax.lax.stop_gradient(reward + discount * soft_value)


def critic_loss(q_values: jnp.ndarray, targets: jnp.ndarray) -> jnp.ndarray:
  """J_Q: each critic's mean of 1/2 (Q(s, a) - y)^2, summed over the critics."""
  return jnp.sum(jnp.mean(0.5 * (q_values - targets[None]) ** 2, axis=1))


def actor_loss(log_prob: jnp.ndarray, q_values: jnp.ndarray, alpha: jnp.ndarray,
               q_weight: Any = 1.0) -> jnp.ndarray:
  """J_pi: mean of alpha log pi(a | s) - w min_i Q_i(s, a) over a ~ pi(s) (reparameterised); the
  weight w (a scalar or one per sample, 1 for SAC) is how much the Q-value counts for the policy
  (1 - lambda(s) in SFP, where the prior acts the rest of the time)."""
  return jnp.mean(alpha * log_prob - q_weight * jnp.min(q_values, axis=0))


def temperature_loss(log_alpha: jnp.ndarray, log_prob: jnp.ndarray,
                     target_entropy: float) -> jnp.ndarray:
  """J(alpha) on log alpha: mean of log_alpha * (-log pi - target_entropy). Its gradient is the
  policy's entropy estimate minus the target, so alpha falls while the policy is more random than
  the target and rises when it is less."""
  return jnp.mean(log_alpha * jax.lax.stop_gradient(-log_prob - target_entropy))


# -- the training step ----------------------------------------------------------------------------

class SACState(NamedTuple):
  """Everything SAC learns: parameters, target critics, log temperature, optimizer states; and
  `extensions`, what a method built on SAC adds (its own parameters and optimizer states; {} for
  SAC)."""
  actor: Any
  critic: Any
  target_critic: Any
  log_alpha: jnp.ndarray
  actor_optimizer: Any
  critic_optimizer: Any
  alpha_optimizer: Any
  extensions: Any = {}


class SACSettings(NamedTuple):
  """The fixed parts of a training step: networks, optimizers and hyperparameters (closed over by
  the jitted step, so changing one means a new agent)."""
  actor: Any
  critic: Any
  actor_optimizer: Any
  critic_optimizer: Any
  alpha_optimizer: Any
  learn_alpha: bool
  target_entropy: float
  reward_scale: float
  polyak_rate: float
  # A method's replacements (see the module docstring), traced into the update; None is SAC's own.
  # prepare_batch(state, batch, key) -> the batch with what the later hooks share (computed once)
  prepare_batch: Optional[Callable[..., Dict[str, jnp.ndarray]]] = None
  # next_action(state, batch, key) -> (a' for the critic target, log pi of the policy's a' ~ pi(s'))
  next_action: Optional[Callable[..., Tuple[jnp.ndarray, jnp.ndarray]]] = None
  # actor_q_weight(state, batch) -> the weight of min Q in the actor loss (scalar or per sample)
  actor_q_weight: Optional[Callable[..., Any]] = None
  # extension_update(state, batch, key) -> (extensions, scalar statistics), after the temperature
  extension_update: Optional[Callable[..., Tuple[Any, Dict[str, jnp.ndarray]]]] = None
  # policy_action(state, observation, context, key, deterministic) -> action in [-1, 1]
  policy_action: Optional[Callable[..., jnp.ndarray]] = None


def policy_sample(settings: SACSettings, actor_params: Any, observations: jnp.ndarray,
                  key: jnp.ndarray, log_action_scale: jnp.ndarray):
  """(actions, log densities) of a reparameterised sample of the policy for a batch."""
  mean, log_std = settings.actor.apply(actor_params, observations)
  return sample_tanh_gaussian(mean, log_std, key, log_action_scale)


def sac_update(settings: SACSettings, state: SACState, batch: Dict[str, jnp.ndarray],
               log_action_scale: jnp.ndarray, key: jnp.ndarray):
  """One SAC step on a batch (first extended by `settings.prepare_batch`): the critics, then the
  actor against the updated critics, then the temperature, then the extensions
  (`settings.extension_update`), then the Polyak step. Returns (state, statistics: scalars,
  per-sample values: 'policy_log_prob', 'min_q_value' of the policy's actions under the updated
  critics, and 'critic_target')."""
  next_key, actor_key = jax.random.split(key)
  alpha = jnp.exp(state.log_alpha)
  if settings.prepare_batch is not None:
    batch = settings.prepare_batch(state, batch, jax.random.fold_in(key, 2))

  if settings.next_action is None:
    next_action, next_log_prob = policy_sample(settings, state.actor, batch['next_observation'],
                                               next_key, log_action_scale)
  else:
    next_action, next_log_prob = settings.next_action(state, batch, next_key)
  next_q_values = settings.critic.apply(state.target_critic, batch['next_observation'], next_action)
  targets = critic_target(settings.reward_scale * batch['reward'], batch['discount'],
                          next_q_values, next_log_prob, alpha)

  def critic_objective(critic_params):
    return critic_loss(settings.critic.apply(critic_params, batch['observation'], batch['action']),
                       targets)

  critic_value, critic_gradients = jax.value_and_grad(critic_objective)(state.critic)
  updates, critic_optimizer = settings.critic_optimizer.update(critic_gradients,
                                                               state.critic_optimizer, state.critic)
  critic_params = optax.apply_updates(state.critic, updates)

  q_weight = 1.0 if settings.actor_q_weight is None else jax.lax.stop_gradient(
      settings.actor_q_weight(state, batch))

  def actor_objective(actor_params):
    action, log_prob = policy_sample(settings, actor_params, batch['observation'], actor_key,
                                     log_action_scale)
    q_values = settings.critic.apply(critic_params, batch['observation'], action)
    return actor_loss(log_prob, q_values, alpha, q_weight), (log_prob, jnp.min(q_values, axis=0))

  (actor_value, (log_prob, min_q_value)), actor_gradients = jax.value_and_grad(
      actor_objective, has_aux=True)(state.actor)
  updates, actor_optimizer = settings.actor_optimizer.update(actor_gradients,
                                                             state.actor_optimizer, state.actor)
  actor_params = optax.apply_updates(state.actor, updates)

  log_alpha, alpha_optimizer = state.log_alpha, state.alpha_optimizer
  if settings.learn_alpha:
    alpha_gradient = jax.grad(temperature_loss)(log_alpha, log_prob, settings.target_entropy)
    updates, alpha_optimizer = settings.alpha_optimizer.update(alpha_gradient, alpha_optimizer,
                                                               log_alpha)
    log_alpha = optax.apply_updates(log_alpha, updates)

  state = state._replace(actor=actor_params, critic=critic_params, log_alpha=log_alpha,
                         actor_optimizer=actor_optimizer, critic_optimizer=critic_optimizer,
                         alpha_optimizer=alpha_optimizer)
  extension_statistics = {}
  if settings.extension_update is not None:
    extensions, extension_statistics = settings.extension_update(
        state, batch, jax.random.fold_in(key, 1))
    state = state._replace(extensions=extensions)
  state = state._replace(target_critic=optax.incremental_update(
      critic_params, state.target_critic, settings.polyak_rate))
  statistics = {'critic_loss': critic_value, 'actor_loss': actor_value,
                'entropy': -jnp.mean(log_prob), 'alpha': jnp.exp(log_alpha),
                **extension_statistics}
  per_sample = {'policy_log_prob': log_prob, 'min_q_value': min_q_value, 'critic_target': targets}
  return state, statistics, per_sample


def sac_updates_and_act(settings: SACSettings, state: SACState, batches: Dict[str, jnp.ndarray],
                        observation: jnp.ndarray, log_action_scale: jnp.ndarray, key: jnp.ndarray,
                        context: Any = None):
  """`sac_update` once per batch of `batches` (one batch per update, stacked on a leading axis), in
  order, then the acting policy's action for the unbatched `observation` under the new state (a
  policy sample for SAC; `settings.policy_action` given `context` otherwise): the training of one
  agent step, however many updates it has, is one call. Returns (state, statistics and per-sample
  values stacked per update, action in [-1, 1])."""
  num_updates = jax.tree.leaves(batches)[0].shape[0]
  update_key, act_key = jax.random.split(key)
  if num_updates == 1:  # no loop to compile for the common case
    state, statistics, per_sample = sac_update(
        settings, state, jax.tree.map(lambda x: x[0], batches), log_action_scale, update_key)
    statistics, per_sample = jax.tree.map(lambda x: x[None], (statistics, per_sample))
  else:
    def one_update(carry, batch_and_key):
      batch, batch_key = batch_and_key
      state, statistics, per_sample = sac_update(settings, carry, batch, log_action_scale,
                                                 batch_key)
      return state, (statistics, per_sample)

    state, (statistics, per_sample) = jax.lax.scan(
        one_update, state, (batches, jax.random.split(update_key, num_updates)))
  if settings.policy_action is None:
    action = policy_action(settings.actor, state.actor, observation, act_key, log_action_scale,
                           False)
  else:
    action = settings.policy_action(state, observation, context, act_key, False)
  return state, statistics, per_sample, action


def policy_action(actor, actor_params, observation: jnp.ndarray, key: jnp.ndarray,
                  log_action_scale: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
  """The action in [-1, 1] for one unbatched observation: a sample, or tanh(mean) when
  `deterministic` (evaluation)."""
  mean, log_std = actor.apply(actor_params, observation[None])
  if deterministic:
    return jnp.tanh(mean[0])
  return sample_tanh_gaussian(mean, log_std, key, log_action_scale)[0][0]


# -- the agent ------------------------------------------------------------------------------------

@gin.configurable
class SACAgent(base.ReplayAgent):
  """Dopamine's SACAgent, on this zoo's replay and Runner.

  Training follows Dopamine's clock: until the replay holds more than `min_replay_history` rows the
  agent acts uniformly at random; after that it samples from its policy and runs `updates_per_step`
  updates every `update_period` steps (once the replay also holds a whole n-step transition).
  `target_entropy=None` is Dopamine's default, minus half the action dimension. `learn_alpha=False`
  keeps the temperature fixed at `alpha` (otherwise `alpha` is its initial value). Rewards are
  multiplied by `reward_scale` before learning (Dopamine uses 0.1 on MuJoCo).

  Departures from Dopamine, both as in Haarnoja et al.: the next action of the critic target is
  drawn from the online policy (Dopamine draws it from a Polyak-averaged copy of the actor), and the
  actor, critics and temperature have separate Adam optimizers (Dopamine sums the three losses,
  the critic's weighted 0.5, under one).

  The three optimizers come from `optimizer` (the zoo's create_optimizer), called with Adam, the
  component's learning rate and `adam_eps` given explicitly, so a DQN-style binding of
  `create_optimizer.name` or `.learning_rate` cannot change SAC; its other bindings (betas,
  schedule, clipping) do apply to all three.
  """

  # Whether replay batches carry 'previous_action' and 'next_previous_action' (agents/replay).
  replay_previous_actions = False

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               actor_network: Callable[..., Any] = networks.TanhGaussianActor,
               critic_network: Callable[..., Any] = networks.EnsembleQNetwork,
               gamma: float = 0.99,
               update_horizon: int = 1,
               min_replay_history: int = 10000,
               update_period: int = 1,
               updates_per_step: int = 1,
               polyak_rate: float = 0.005,
               reward_scale: float = 1.0,
               learn_alpha: bool = True,
               alpha: float = 1.0,
               target_entropy: Optional[float] = None,
               actor_learning_rate: float = 3e-4,
               critic_learning_rate: float = 3e-4,
               alpha_learning_rate: float = 3e-4,
               adam_eps: float = 1e-8,
               optimizer: Callable[..., optax.GradientTransformation] = create_optimizer,
               replay_capacity: int = 1000000,
               batch_size: int = 256):
    super().__init__(observation_space, action_space, seed, summary_writer)
    name = type(self).__name__
    base.require_space(name, 'observation', observation_space, (gymnasium.spaces.Box,))
    base.require_bounded_box(name, action_space)
    if alpha <= 0:
      raise ValueError(f'{name} needs a positive alpha, got {alpha}')
    if updates_per_step < 1 or update_period < 1:
      raise ValueError('update_period and updates_per_step must be at least 1')
    self.action_shape = tuple(action_space.shape)
    action_dim = int(np.prod(self.action_shape))
    self._action_offset, self._action_scale = base.box_offset_and_scale(action_space)
    self._log_action_scale = jnp.asarray(np.log(self._action_scale), jnp.float32)
    self.min_replay_history = min_replay_history
    self.update_period = update_period
    self.updates_per_step = updates_per_step
    self.batch_size = batch_size
    self.target_entropy = -0.5 * action_dim if target_entropy is None else float(target_entropy)

    adam = lambda rate: optimizer(name='adam', learning_rate=rate, eps=adam_eps)
    self._adam = adam  # for the optimizers of a subclass's extensions
    self._settings = SACSettings(
        actor=actor_network(action_dim=action_dim), critic=critic_network(),
        actor_optimizer=adam(actor_learning_rate), critic_optimizer=adam(critic_learning_rate),
        alpha_optimizer=adam(alpha_learning_rate), learn_alpha=bool(learn_alpha),
        target_entropy=self.target_entropy, reward_scale=float(reward_scale),
        polyak_rate=float(polyak_rate), prepare_batch=self.prepare_batch,
        next_action=self.next_action,
        actor_q_weight=self.actor_q_weight, extension_update=self.extension_update,
        policy_action=self.policy_action)
    actor_key, critic_key, self._base_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    observation = np.zeros((1, *observation_space.shape), np.float32)
    action = np.zeros((1, action_dim), np.float32)
    actor_params = jax.jit(self._settings.actor.init)(actor_key, observation)
    critic_params = jax.jit(self._settings.critic.init)(critic_key, observation, action)
    log_alpha = jnp.asarray(np.log(alpha), jnp.float32)
    s = self._settings
    # A copy, not the same buffers: the state is donated to each update, and one buffer cannot be
    # donated twice.
    target_critic_params = jax.tree.map(jnp.copy, critic_params)
    # A key of its own for the extensions, so that SAC's networks start as they do without them.
    extensions = self.init_extensions(jax.random.fold_in(actor_key, 1), observation)
    self.state = SACState(actor_params, critic_params, target_critic_params, log_alpha,
                          s.actor_optimizer.init(actor_params),
                          s.critic_optimizer.init(critic_params),
                          s.alpha_optimizer.init(log_alpha), extensions)

    def updates_and_act(state, batches, observation, context, base_key, counter):
      key = jax.random.fold_in(base_key, counter)
      return sac_updates_and_act(self._settings, state, batches, observation,
                                 self._log_action_scale, key, context)

    def act(state, observation, context, base_key, counter, deterministic):
      key = jax.random.fold_in(base_key, counter)
      return self.policy_action(state, observation, context, key, deterministic)

    def act_batch(state, observations, context, base_key, first_counter, deterministic):
      # Row i draws with the key `act` would use at counter first_counter + i, so a batch acts
      # exactly as that many consecutive `act` calls.
      counters = first_counter + jnp.arange(observations.shape[0])
      keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base_key, counters)
      return jax.vmap(self.policy_action, in_axes=(None, 0, None, 0, None))(
          state, observations, context, keys, deterministic)

    # The state is donated: its buffers are updated in place instead of copied every step.
    self._updates_and_act = compilation.jit(updates_and_act, donate_argnums=0)
    self._act_fn = compilation.jit(act, static_argnums=5)
    self._act_batch_fn = compilation.jit(act_batch, static_argnums=5)
    self.replay = CircularReplayBuffer(
        replay_capacity, observation_shape=observation_space.shape, observation_dtype=np.float32,
        update_horizon=update_horizon, gamma=gamma, action_shape=(action_dim,),
        action_dtype=np.float32, previous_actions=self.replay_previous_actions)
    self._statistics = []
    self._histogram_values = base.RecentValues()

  @classmethod
  def dopamine_baseline_names(cls, binding: Callable[[str, str], Any]) -> tuple[str, ...]:
    """Dopamine's SACAgent, its MuJoCo curves."""
    del binding
    return ('SAC',)

  # -- what a method built on SAC replaces (see the module docstring) ----------------------------

  def init_extensions(self, key: jnp.ndarray, sample_observations: np.ndarray) -> Any:
    """The initial `extensions` of the train state: a subclass's own parameters and optimizer
    states (a pytree; {} for SAC). `sample_observations` is a batch of one zero observation."""
    del key, sample_observations
    return {}

  def extension_update(self, state: SACState, batch: Dict[str, jnp.ndarray],
                       key: jnp.ndarray) -> Tuple[Any, Dict[str, jnp.ndarray]]:
    """(new extensions, scalar statistics by name), traced into each update after the critics,
    the actor and the temperature have stepped (`state` holds their new values). The statistics
    are averaged over the iteration into `agent/<name>` in metrics.jsonl."""
    del batch, key
    return state.extensions, {}

  def prepare_batch(self, state: SACState, batch: Dict[str, jnp.ndarray],
                    key: jnp.ndarray) -> Dict[str, jnp.ndarray]:
    """The batch with entries that several hooks of the update read, computed once (traced into
    each update before the critic target). SAC: the batch as sampled."""
    del state, key
    return batch

  def next_action(self, state: SACState, batch: Dict[str, jnp.ndarray],
                  key: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """(a', log pi(a'_pi | s')): the next action of the critic target for the batch's next
    observations, and the log density of the policy's sample there (the entropy term). SAC: both
    from one policy sample."""
    return policy_sample(self._settings, state.actor, batch['next_observation'], key,
                         self._log_action_scale)

  def actor_q_weight(self, state: SACState, batch: Dict[str, jnp.ndarray]) -> Any:
    """The weight of min Q(s, a_pi) in the actor loss, a scalar or one per sample (gradients do
    not flow through it). SAC: 1."""
    del state, batch
    return 1.0

  def policy_action(self, state: SACState, observation: jnp.ndarray, context: Any,
                    key: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
    """The action in [-1, 1] for one unbatched observation, traced into the jitted calls; `state`
    is the acting state (`_acting_state`) and `context` the host's `acting_context()`. SAC: a
    policy sample, or tanh of its mean when `deterministic` (evaluation)."""
    del context
    return policy_action(self._settings.actor, state.actor, observation, key,
                         self._log_action_scale, deterministic)

  def acting_context(self) -> Any:
    """What the acting policy needs from the host besides the observation (a pytree of arrays,
    e.g. the previous action); None for SAC."""
    return None

  def warmup_action(self, observation: np.ndarray) -> np.ndarray:
    """The action in [-1, 1] while the replay fills (before `min_replay_history` rows): uniform
    for SAC, drawn from the agent's Generator."""
    del observation
    return self._rng.uniform(-1.0, 1.0, self._action_scale.shape)

  def _acting_state(self) -> SACState:
    """The train state as the acting call takes it: without the critics and optimizer states,
    which no acting policy reads and each of whose arrays would add to every action's dispatch."""
    return self.state._replace(critic=None, target_critic=None, actor_optimizer=None,
                               critic_optimizer=None, alpha_optimizer=None)

  # -- acting --------------------------------------------------------------------------------------

  def _act(self, observation: np.ndarray) -> np.ndarray:
    """Trains if due (training mode only), then acts; returns the action in the env's bounds."""
    observation = np.asarray(observation, np.float32)
    action = self._train_step(observation) if not self.eval_mode else None
    if action is None:
      if not self.eval_mode and self.replay.add_count <= self.min_replay_history:
        action = self.warmup_action(observation)
      else:
        action = self._act_fn(self._acting_state(), observation, self.acting_context(),
                              self._base_key, self.action_count, self.eval_mode)
    action = np.asarray(action, np.float32)
    self.action_count += 1
    self._observation, self._action = observation, action
    return self._environment_action(action)

  def _environment_action(self, action: np.ndarray) -> np.ndarray:
    """Policy actions in [-1, 1], one [action_dim] or a batch [B, action_dim], rescaled onto the
    environment's bounds and shaped as its actions ([*action_shape] or [B, *action_shape])."""
    return (self._action_offset + self._action_scale * action).astype(
        self.action_space.dtype).reshape(action.shape[:-1] + tuple(self.action_shape))

  def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
    """The policy's action for `observation`, in the environment's bounds, neither recorded nor
    trained on (for collecting datasets from a trained agent): tanh of the Gaussian's mean when
    `deterministic`, else a sample."""
    action = self._act_fn(self._acting_state(), np.asarray(observation, np.float32),
                          self.acting_context(), self._base_key, self.action_count, deterministic)
    self.action_count += 1
    return self._environment_action(np.asarray(action, np.float32))

  def act_batch(self, observations: np.ndarray, deterministic: bool = True) -> np.ndarray:
    """`act` for each row of `observations` [B, ...] in one jitted call (the policy vmapped over
    the rows), actions [B, ...] in the environment's bounds: row i is the action `act` would give
    as the i-th of B consecutive calls. The acting context (`acting_context()`, None for SAC) is
    shared by all rows; a method whose context is per episode (SFP's previous action) acts on a
    batch of episodes only where that context does not matter (`deterministic`)."""
    observations = np.asarray(observations, np.float32)
    actions = self._act_batch_fn(self._acting_state(), observations, self.acting_context(),
                                 self._base_key, self.action_count, deterministic)
    self.action_count += observations.shape[0]
    return self._environment_action(np.asarray(actions, np.float32))

  # -- learning ------------------------------------------------------------------------------------

  def _train_step(self, observation: np.ndarray) -> Optional[jnp.ndarray]:
    """Runs the due updates (all of them in one call); returns the policy's action for
    `observation` under the updated actor, or None when no update ran."""
    action = None
    due = self.training_steps % self.update_period == 0
    if due and self._replay_ready(self.min_replay_history):
      # One draw of all the updates' rows, then split into a batch per update.
      batches = self.replay.sample(self.updates_per_step * self.batch_size, self._rng)
      del batches['indices']
      batches = {name: rows.reshape((self.updates_per_step, self.batch_size, *rows.shape[1:]))
                 for name, rows in batches.items()}
      self.state, statistics, per_sample, action = self._updates_and_act(
          self.state, batches, observation, self.acting_context(), self._base_key,
          self.action_count)
      self._statistics.append(statistics)
      self._histogram_values.append({f'agent/{name}': values
                                     for name, values in per_sample.items()})
    self.training_steps += 1
    return action

  def iteration_statistics(self) -> Dict[str, float]:
    if not self._statistics:
      return {}
    statistics = jax.device_get(self._statistics)  # one array per call, an entry per update
    self._statistics = []
    summary = {name: float(np.mean(np.concatenate([s[name] for s in statistics])))
               for name in statistics[0]}
    summary['updates'] = float(sum(len(s['critic_loss']) for s in statistics))
    return summary

  def iteration_histograms(self) -> Dict[str, np.ndarray]:
    """Per-sample policy log-probabilities, min twin Q-values and critic targets over the
    iteration's updates (the last ones when there are many)."""
    return self._histogram_values.fetch_and_clear()

  # -- checkpointing -------------------------------------------------------------------------------

  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    del checkpoint_dir, iteration  # everything fits in the returned pytree
    return {
        'state': flax.serialization.to_state_dict(jax.device_get(self.state)),
        **self._replay_state(),
    }

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    del checkpoint_dir, iteration
    self.state = base.restore_pytree(self.state, bundle['state'], 'state')
    self._load_replay_state(bundle)
    self._statistics = []
    self._histogram_values.clear()
    return True
