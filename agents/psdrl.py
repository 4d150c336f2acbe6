"""PSDRL, posterior sampling for deep RL (Sasso et al., 2023): the agent that acts with a model of
the world drawn from a posterior, and re-learns and re-draws that model every few hundred steps.

The networks and every loss, rollout and planning step are agents/psdrl_model.py's pure
functions; the posterior of the transition model's last layer is agents/bayesian_last_layer.py's.
This file keeps state (one pytree, `PSDRLState`), the replay and the schedule, and jits the
functions that drive them. METHODS.md (PSDRL) -> here:

- Storage: every training step goes into a `CircularReplayBuffer` (100k transitions) with its
  reward squashed by tanh (`_store`); frames stay uint8 there, scaled inside the encoder.
- Update (`_update`), when due: (1) the autoencoder, (2) the transition and terminal networks,
  (3) the posterior, (4) a new draw, (5) the value network; each of (1), (2) and (5) trains
  `training_iterations` (3) iterations, every iteration on B = 125 fresh sequences of L = 250
  steps (agents/replay/views.SequenceView; a sequence that reaches its episode's end is padded
  and masked). As in the reference: the autoencoder takes one Adam step per sequence; the
  transition and terminal networks one per window of `transition_window` steps (truncated BPTT,
  h = 0 at each sequence's start; the reference's window counter makes windows of 5: set 5 to
  reproduce it); the value network one per sequence step, on the targets of
  psdrl_model.value_targets through the sampled model, with its target copied from it every
  `target_update_period` (4) steps of each sequence. Each is one jitted call that scans over its
  iterations and steps; a gradient step whose batch is all padding leaves the parameters and the
  Adam moments untouched. Sequences start at transitions drawn uniformly from the replay (the
  reference draws an episode, then a start from which all L steps fit in it).
- Posterior: X = the transition model's features of every stored transition, recomputed from
  h = 0 along each stored episode (agents/replay/views.EpisodeView, in chunks of
  `posterior_chunk_size` that carry h and sum X^T X and X^T Y on the device: one compilation);
  Y = [encoded next observation, squashed reward]. Ridge posterior with prior precision 100 and
  noise precision 1, Cholesky fallback x10 (bayesian_last_layer), then one draw with covariance
  scale 1e-3 (`draw_convention`: 'cholesky', the correct draw, or the reference's). A
  posterior whose factorisation still fails after the retries keeps the previous mean and draw.
  Before the first update the agent acts with a draw from the prior (the posterior of an empty
  replay).
- Acting: greedy one-step look-ahead through the sampled model (psdrl_model.lookahead_values,
  random tie-break), epsilon 0.001; the GRU state starts at 0 with each episode and follows the
  action actually taken (a random one included; the reference leaves it behind on random
  actions). One jitted call per step gives the action and the next GRU state. Evaluation acts
  the same way (the reference's test episodes do) or, with `evaluate_with_mean`, with the
  posterior mean.
- Schedule: counting the transitions stored so far, t, an update runs before acting whenever a
  training episode has ended and t is a multiple of `update_period` (250) while
  t <= `update_period_switch_step` (100k), of `late_update_period` (1000) after (Dopamine's
  clock; the reference tests the index t - 1 of the newest transition instead).

Checkpoints hold the state pytree, the replay, the RNGs, the counters, the episode in progress
and its GRU state (`_replay_state`): a run stopped mid-episode continues bit for bit.

iteration_statistics: `autoencoder_loss`, `transition_loss`, `terminal_loss`, `value_loss` (each
update's mean over its gradient steps, averaged over the iteration's updates), `updates`, and of
the iteration's last posterior `posterior_prior_precision` (the prior precision used),
`posterior_retries` (failed Cholesky factorisations) and `posterior_transitions` (its rows);
`posterior_failures` counts posteriors that failed altogether.
"""

import functools
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import flax.serialization
import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from agents import base
from agents import bayesian_last_layer as bll
from agents import compilation
from agents import psdrl_model as pm
from agents.optimizers import create_optimizer
from agents.replay import CircularReplayBuffer, EpisodeView, SequenceView
from runner import errors

LOSSES = ('autoencoder_loss', 'transition_loss', 'terminal_loss', 'value_loss')


@gin.configurable
def select_autoencoder(observation_shape: Sequence[int],
                       image_autoencoder: Callable[..., Any] = pm.ConvAutoencoder,
                       vector_autoencoder: Callable[..., Any] = pm.MLPAutoencoder):
  """The autoencoder for observations of `observation_shape`: `image_autoencoder` for (H, W)
  frames, `vector_autoencoder` for vectors (the agent refuses any other shape first)."""
  shape = tuple(int(size) for size in observation_shape)
  if len(shape) == 2:
    return image_autoencoder(image_shape=shape)
  return vector_autoencoder(observation_shape=shape)


class PSDRLState(NamedTuple):
  """Everything PSDRL learns, as one pytree. `posterior_mean` and `last_layer` are (k, m): the
  last posterior's mean and the draw the agent acts and plans with; `prior_precision` is the one
  that posterior used. `value_target` is the copy made at the last value step's chunk (each
  value iteration starts with a fresh copy, as the reference's)."""
  autoencoder: Any
  transition: Any
  terminal: Any
  value: Any
  value_target: Any
  autoencoder_optimizer: Any
  transition_optimizer: Any
  terminal_optimizer: Any
  value_optimizer: Any
  posterior_mean: jnp.ndarray
  last_layer: jnp.ndarray
  prior_precision: jnp.ndarray


class Spec(NamedTuple):
  """The fixed parts of the jitted functions (hashable, static under jax.jit): agents built alike
  share their compilations, except the training steps', whose optimizers are their own."""
  autoencoder: Any
  networks: pm.Networks
  gamma: float
  terminal_threshold: float
  transition_window: int
  target_update_period: int
  prior_precision: float
  noise_precision: float
  covariance_scales: Tuple[float, float]  # the next latent's, the reward's
  max_cholesky_retries: int
  draw_convention: str


def _encode(spec: Spec, ae_params, observations: jnp.ndarray) -> jnp.ndarray:
  return spec.autoencoder.apply(ae_params, observations, method='encode')


def _optimizer_step(optimizer, loss_fn, params, optimizer_state, has_data):
  """One optimizer step on loss_fn(params) -> (loss, aux); a step without data (all padding)
  changes nothing: Adam's moments would otherwise still move the parameters."""
  (loss, aux), gradients = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, new_state = optimizer.update(gradients, optimizer_state, params)
  new_params = optax.apply_updates(params, updates)
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(has_data, n, o), new, old)
  return keep(new_params, params), keep(new_state, optimizer_state), loss, aux


def _time_chunks(x: jnp.ndarray, size: int) -> jnp.ndarray:
  """(B, T, ...) -> (ceil(T / size), B, size, ...), zero-padded at the end (padding is masked)."""
  x = jnp.pad(x, [(0, 0), (0, -x.shape[1] % size)] + [(0, 0)] * (x.ndim - 2))
  return jnp.moveaxis(x.reshape((x.shape[0], -1, size) + x.shape[2:]), 1, 0)


def _mean_where(values: jnp.ndarray, counts: jnp.ndarray) -> jnp.ndarray:
  counts = counts.astype(values.dtype)
  return jnp.sum(values * counts) / jnp.maximum(jnp.sum(counts), 1.0)


def _any_data(mask: jnp.ndarray) -> jnp.ndarray:
  return jnp.any(mask > 0)


def _zero_hidden(spec: Spec, batch_shape=()) -> jnp.ndarray:
  return jnp.zeros(batch_shape + (spec.networks.transition.hidden_size,))


def init_networks(spec: Spec, key: jax.Array, observation: jnp.ndarray):
  """[autoencoder, transition, terminal, value] parameters; `observation` is one zero
  observation, batched (1, ...)."""
  keys = jax.random.split(key, 4)
  latent = jnp.zeros((1, spec.autoencoder.latent_size))
  hidden = _zero_hidden(spec, (1,))
  return [spec.autoencoder.init(keys[0], observation),
          spec.networks.transition.init(keys[1], hidden, latent, jnp.zeros(1, jnp.int32)),
          spec.networks.terminal.init(keys[2], latent),
          spec.networks.value.init(keys[3], latent, hidden)]


def posterior_and_draw(spec: Spec, gram, cross, key, previous_mean, previous_draw):
  """(mean, draw, prior precision used, retries, succeeded) of the posterior of the sufficient
  statistics; a failed posterior keeps the previous mean and draw."""
  posterior = bll.ridge_posterior_from_statistics(gram, cross, spec.prior_precision,
                                                  spec.noise_precision, spec.max_cholesky_retries)
  latent_scale, reward_scale = spec.covariance_scales
  scales = jnp.full(cross.shape[-1], latent_scale).at[-1].set(reward_scale)
  draw = bll.sample_last_layer(key, posterior.mean, posterior.covariance, scales,
                               spec.draw_convention, posterior.covariance_factor)
  keep = lambda new, old: jnp.where(posterior.succeeded, new, old)
  return (keep(posterior.mean, previous_mean), keep(draw, previous_draw),
          posterior.prior_precision, posterior.retries, posterior.succeeded)


def accumulate_statistics(spec: Spec, ae_params, transition_params, chunk, hidden, gram, cross):
  """(hidden after the chunk, gram + X^T X, cross + X^T Y) for one EpisodeView chunk."""
  latents = _encode(spec, ae_params, chunk['observation'])
  targets = jnp.concatenate([_encode(spec, ae_params, chunk['next_observation']),
                             chunk['reward'][:, None]], -1)
  features = pm.episode_features(spec.networks.transition, transition_params, latents,
                                 chunk['action'], chunk['first'], hidden)
  chunk_gram, chunk_cross = bll.sufficient_statistics(features.features, targets, chunk['mask'])
  return features.hidden[-1], gram + chunk_gram, cross + chunk_cross


def autoencoder_step(spec: Spec, optimizer, ae_params, ae_state, sequence):
  """(params, optimizer state, loss) after one Adam step on one sequence's frames (a sequence of
  padding only changes nothing)."""
  loss_fn = lambda p: (pm.reconstruction_loss(spec.autoencoder, p, sequence['observation'],
                                              sequence['mask']), ())
  ae_params, ae_state, loss, _ = _optimizer_step(optimizer, loss_fn, ae_params, ae_state,
                                                 _any_data(sequence['mask']))
  return ae_params, ae_state, loss


def train_autoencoder(spec: Spec, optimizer, ae_params, ae_state, batch):
  """(params, optimizer state, mean loss): one step per sequence (the reference's), over every
  iteration's sequences in turn; batch arrays are (iterations, B, L, ...)."""
  sequences = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)

  def step(carry, sequence):
    ae_params, ae_state, loss = autoencoder_step(spec, optimizer, *carry, sequence)
    return (ae_params, ae_state), loss

  carry, losses = lax.scan(step, (ae_params, ae_state), sequences)
  return carry + (jnp.mean(losses),)


def train_transition(spec: Spec, optimizers, ae_params, transition_params, transition_state,
                     terminal_params, terminal_state, batch):
  """The transition and terminal networks' steps, one per window of every iteration's B
  sequences (h = 0 at each sequence's start, carried detached from window to window):
  (their params and optimizer states, mean transition loss, mean terminal loss)."""
  transition_optimizer, terminal_optimizer = optimizers

  def window_step(carry, window):
    transition_params, transition_state, terminal_params, terminal_state, hidden = carry
    latents = _encode(spec, ae_params, window['observation'])
    next_latents = _encode(spec, ae_params, window['next_observation'])
    has_data = _any_data(window['mask'])
    transition_params, transition_state, transition_loss, hidden = _optimizer_step(
        transition_optimizer, lambda p: pm.transition_loss(
            spec.networks.transition, p, hidden, latents, window['action'], next_latents,
            window['reward'], window['mask']),
        transition_params, transition_state, has_data)
    terminal_params, terminal_state, terminal_loss, _ = _optimizer_step(
        terminal_optimizer, lambda p: (pm.terminal_loss(
            spec.networks.terminal, p, next_latents, window['terminated'], window['mask']), ()),
        terminal_params, terminal_state, has_data)
    carry = (transition_params, transition_state, terminal_params, terminal_state, hidden)
    return carry, (transition_loss, terminal_loss, has_data)

  def iteration(carry, sequences):
    windows = jax.tree.map(lambda x: _time_chunks(x, spec.transition_window), sequences)
    hidden = _zero_hidden(spec, sequences['mask'].shape[:1])
    carry, outputs = lax.scan(window_step, carry + (hidden,), windows)
    return carry[:4], outputs

  carry, (transition_losses, terminal_losses, has_data) = lax.scan(
      iteration, (transition_params, transition_state, terminal_params, terminal_state), batch)
  return carry + (_mean_where(transition_losses, has_data),
                  _mean_where(terminal_losses, has_data))


def train_value(spec: Spec, optimizer, value_params, value_target, value_state, ae_params,
                transition_params, terminal_params, weights, batch):
  """The value network's steps, one per sequence step of every iteration's B sequences, on the
  targets of the model with last layer `weights` rolled along them; the target is copied from
  the network at every chunk of target_update_period steps. (params, target, optimizer state,
  mean loss)."""
  model = pm.SampledModel(transition_params, terminal_params, pm.sampled_last_layer(weights))

  def value_step(carry, step):
    latents, hidden, targets, mask = step
    loss_fn = lambda p: (pm.value_loss(spec.networks.value, p, latents, hidden, targets, mask),
                         ())
    has_data = _any_data(mask)
    value_params, value_state, loss, _ = _optimizer_step(optimizer, loss_fn, *carry, has_data)
    return (value_params, value_state), (loss, has_data)

  def chunk_step(carry, chunk):
    value_params, value_state, _, hidden = carry  # the target: a copy of value_params
    latents = _encode(spec, ae_params, chunk['observation'])
    targets = pm.value_targets(spec.networks, model, value_params, latents, chunk['action'],
                               hidden, discount=spec.gamma, threshold=spec.terminal_threshold)
    steps = jax.tree.map(lambda x: jnp.moveaxis(x, 1, 0),
                         (latents, targets.hidden, targets.targets, chunk['mask']))
    (new_params, value_state), outputs = lax.scan(value_step, (value_params, value_state), steps)
    return (new_params, value_state, value_params, targets.final_hidden), outputs

  def iteration(carry, sequences):
    chunks = jax.tree.map(lambda x: _time_chunks(x, spec.target_update_period), sequences)
    hidden = _zero_hidden(spec, sequences['mask'].shape[:1])
    carry, outputs = lax.scan(chunk_step, carry + (hidden,), chunks)
    return carry[:3], outputs

  (value_params, value_state, value_target), (losses, has_data) = lax.scan(
      iteration, (value_params, value_state, value_target), batch)
  return value_params, value_target, value_state, _mean_where(losses, has_data)


def act_step(spec: Spec, ae_params, transition_params, terminal_params, value_params, weights,
        observation, hidden, base_key, counter, explore, random_action):
  """(action, next GRU state): the greedy look-ahead action through the model with last layer
  `weights` (ties broken at random), or `random_action` when `explore`; the GRU state follows
  the action taken."""
  model = pm.SampledModel(transition_params, terminal_params, pm.sampled_last_layer(weights))
  latent = _encode(spec, ae_params, observation[None])[0]
  lookahead = pm.lookahead_values(spec.networks, model, value_params, hidden, latent, spec.gamma,
                                  spec.terminal_threshold)
  greedy = pm.greedy_action(jax.random.fold_in(base_key, counter), lookahead.values)
  action = jnp.where(explore, random_action, greedy)
  return action, lookahead.next_hidden[action]


@gin.configurable
class PSDRLAgent(base.ReplayAgent):
  """PSDRL (see the module docstring). Discrete actions; Box observations, (H, W) frames or
  vectors, encoded by `autoencoder(observation_shape)`. Reference defaults throughout."""

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               autoencoder: Callable[..., Any] = select_autoencoder,
               transition_network: Callable[..., Any] = pm.TransitionModel,
               terminal_network: Callable[..., Any] = pm.TerminalNetwork,
               value_network: Callable[..., Any] = pm.ValueNetwork,
               gamma: float = pm.DISCOUNT,
               terminal_threshold: float = pm.TERMINAL_THRESHOLD,
               epsilon_train: float = 0.001,
               epsilon_eval: float = 0.001,
               update_period: int = 250,
               update_period_switch_step: int = 100_000,
               late_update_period: int = 1000,
               batch_size: int = 125,
               sequence_length: int = 250,
               training_iterations: int = 3,
               transition_window: int = 4,
               target_update_period: int = 4,
               autoencoder_learning_rate: float = 1e-4,
               transition_learning_rate: float = 1e-4,
               terminal_learning_rate: float = 1e-4,
               value_learning_rate: float = 1e-4,
               adam_eps: float = 1e-8,
               optimizer: Callable[..., optax.GradientTransformation] = create_optimizer,
               prior_precision: float = bll.PRIOR_PRECISION,
               noise_precision: float = bll.NOISE_PRECISION,
               transition_covariance_scale: float = bll.COVARIANCE_SCALE,
               reward_covariance_scale: float = bll.COVARIANCE_SCALE,
               max_cholesky_retries: int = bll.MAX_RETRIES,
               draw_convention: str = 'cholesky',
               posterior_chunk_size: int = 1000,
               evaluate_with_mean: bool = False,
               replay_capacity: int = 100_000):
    super().__init__(observation_space, action_space, seed, summary_writer)
    name = type(self).__name__
    base.require_space(name, 'action', action_space, (gymnasium.spaces.Discrete,))
    base.require_space(name, 'observation', observation_space, (gymnasium.spaces.Box,))
    if len(observation_space.shape) not in (1, 2):
      raise base.IncompatibleSpaceError(
          f'{name} cannot handle the observation space {observation_space!r}: it needs (H, W) '
          'frames (no channel or stack axis: PSDRL stacks no frames) or vectors.')
    for setting, value in (('update_period', update_period),
                           ('late_update_period', late_update_period),
                           ('batch_size', batch_size), ('sequence_length', sequence_length),
                           ('training_iterations', training_iterations),
                           ('transition_window', transition_window),
                           ('target_update_period', target_update_period),
                           ('posterior_chunk_size', posterior_chunk_size)):
      if value < 1:
        raise errors.InvalidSettingError(f'{name}.{setting} must be at least 1, got {value}')
    bll.check_convention(draw_convention)
    self.num_actions = int(action_space.n)
    self._first_action = int(action_space.start)
    self.epsilon_train, self.epsilon_eval = epsilon_train, epsilon_eval
    self.update_period, self.late_update_period = update_period, late_update_period
    self.update_period_switch_step = update_period_switch_step
    self.batch_size, self.sequence_length = batch_size, sequence_length
    self.training_iterations = training_iterations
    self.posterior_chunk_size = posterior_chunk_size
    self.evaluate_with_mean = evaluate_with_mean

    autoencoder_module = autoencoder(observation_space.shape)
    networks = pm.Networks(
        transition_network(num_actions=self.num_actions,
                           latent_size=int(autoencoder_module.latent_size)),
        terminal_network(), value_network())
    self.spec = Spec(autoencoder_module, networks, gamma, terminal_threshold, transition_window,
                     target_update_period, prior_precision, noise_precision,
                     (transition_covariance_scale, reward_covariance_scale),
                     max_cholesky_retries, draw_convention)
    adam = lambda rate: optimizer(name='adam', learning_rate=rate, eps=adam_eps)
    optimizers = [adam(rate) for rate in (autoencoder_learning_rate, transition_learning_rate,
                                          terminal_learning_rate, value_learning_rate)]

    def jit(function, *static, **options):
      """`function` jitted with the spec, and then `static`, as its first, static arguments:
      jax reuses a compilation across agents (and fresh jit wrappers) whenever they are equal."""
      jitted = compilation.jit(function, static_argnums=tuple(range(1 + len(static))), **options)
      return functools.partial(jitted, self.spec, *static)

    self._posterior_and_draw = jit(posterior_and_draw)
    self._accumulate_statistics = jit(accumulate_statistics, donate_argnums=(5, 6))
    self._train_autoencoder = jit(train_autoencoder, optimizers[0])
    self._autoencoder_step = jit(autoencoder_step, optimizers[0])
    # XLA's CPU backend runs convolutions inside a loop's body, and their gradients above all,
    # through a slow path (jax-ml/jax#12868: the reference autoencoder's step on 250 frames took
    # 150 s inside lax.scan against 4.7 s outside): there, a convolutional autoencoder's steps
    # are a loop on the host of one jitted step each, which costs a dispatch per step.
    self._autoencoder_steps_on_host = (len(observation_space.shape) == 2
                                       and jax.default_backend() == 'cpu')
    self._train_transition = jit(train_transition, tuple(optimizers[1:3]))
    self._train_value = jit(train_value, optimizers[3])
    self._act_fn = jit(act_step)

    init_key, self._base_key = jax.random.split(jax.random.PRNGKey(seed))
    network_key, draw_key = jax.random.split(init_key)
    params = jit(init_networks)(network_key, np.zeros((1, *observation_space.shape),
                                                      observation_space.dtype))
    self._zero_hidden = _zero_hidden(self.spec)
    num_features = networks.transition.mlp_sizes[-1]
    self._statistics_shape = (num_features, int(autoencoder_module.latent_size) + 1)
    # Before any data, the model is a draw from the prior: the posterior of an empty replay.
    zeros = jnp.zeros(self._statistics_shape)
    mean, draw, prior, _, _ = self._posterior_and_draw(
        jnp.zeros((num_features, num_features)), zeros, draw_key, zeros, zeros)
    self.state = PSDRLState(
        *params, value_target=params[3],
        autoencoder_optimizer=optimizers[0].init(params[0]),
        transition_optimizer=optimizers[1].init(params[1]),
        terminal_optimizer=optimizers[2].init(params[2]),
        value_optimizer=optimizers[3].init(params[3]),
        posterior_mean=mean, last_layer=draw, prior_precision=prior)
    self.replay = CircularReplayBuffer(replay_capacity, observation_space.shape,
                                       observation_space.dtype)
    self._hidden = self._zero_hidden
    self._training_episodes = 0  # ended in training mode: updates start after the first
    self._statistics = []

  # -- acting -------------------------------------------------------------------------------------

  @property
  def epsilon(self) -> float:
    return self.epsilon_eval if self.eval_mode else self.epsilon_train

  def begin_episode(self, observation: np.ndarray) -> int:
    self._hidden = self._zero_hidden
    return super().begin_episode(observation)

  def end_episode(self, reward: float, terminated: bool,
                  observation: Optional[np.ndarray] = None) -> None:
    if not self.eval_mode:
      self._training_episodes += 1
    super().end_episode(reward, terminated, observation)

  def _store(self, reward: float, terminated: bool) -> None:
    super()._store(float(np.tanh(reward)), terminated)

  def _act(self, observation: np.ndarray) -> int:
    if not self.eval_mode:
      if self._update_due():
        self._update()
      self.training_steps += 1
    # The coin is drawn even when epsilon is 0, so the RNG stream does not depend on it.
    explore = self._rng.random() < self.epsilon
    random_action = int(self._rng.integers(self.num_actions)) if explore else 0
    state = self.state
    weights = (state.posterior_mean if self.eval_mode and self.evaluate_with_mean
               else state.last_layer)
    action, self._hidden = self._act_fn(
        state.autoencoder, state.transition, state.terminal, state.value, weights, observation,
        self._hidden, self._base_key, self.action_count, explore, random_action)
    action = int(action)
    self.action_count += 1
    self._observation, self._action = observation, action
    return action + self._first_action

  # -- learning -----------------------------------------------------------------------------------

  def update_period_at(self, stored: int) -> int:
    """The update period in force once `stored` transitions have been stored."""
    if stored <= self.update_period_switch_step:
      return self.update_period
    return self.late_update_period

  def _update_due(self) -> bool:
    # Each training action's transition is stored before the next call (a truncation without a
    # final observation drops its last one): training_steps counts the stored transitions.
    stored = self.training_steps
    return (self._training_episodes > 0 and stored > 0
            and stored % self.update_period_at(stored) == 0)

  def _sequences(self, fields: Sequence[str]) -> Dict[str, np.ndarray]:
    """training_iterations batches of B sequences of L steps, stacked: (iterations, B, L, ...)."""
    view = SequenceView(self.replay)
    batches = [view.sample(self.batch_size, self.sequence_length, self._rng)
               for _ in range(self.training_iterations)]
    return {field: np.stack([batch[field] for batch in batches]) for field in fields}

  def train_autoencoder(self, ae_params, ae_state, batch):
    """train_autoencoder's result, in one jitted scan or, for convolutions on a CPU, step by
    step from the host (see __init__)."""
    if not self._autoencoder_steps_on_host:
      return self._train_autoencoder(ae_params, ae_state, batch)
    losses = []
    iterations, batch_size = batch['mask'].shape[:2]
    for iteration in range(iterations):
      for index in range(batch_size):
        ae_params, ae_state, loss = self._autoencoder_step(
            ae_params, ae_state, {field: values[iteration, index]
                                  for field, values in batch.items()})
        losses.append(loss)
    return ae_params, ae_state, jnp.mean(jnp.stack(losses))

  def posterior_statistics(self, ae_params, transition_params):
    """(X^T X, X^T Y, transitions) over every stored transition, chunk by chunk."""
    num_features = self._statistics_shape[0]
    hidden = self._zero_hidden
    gram = jnp.zeros((num_features, num_features))
    cross = jnp.zeros(self._statistics_shape)
    transitions = 0
    fields = ('observation', 'next_observation', 'action', 'reward', 'first', 'mask')
    for chunk in EpisodeView(self.replay).chunks(self.posterior_chunk_size):
      transitions += int(chunk['mask'].sum())
      hidden, gram, cross = self._accumulate_statistics(
          ae_params, transition_params, {field: chunk[field] for field in fields}, hidden, gram,
          cross)
    return gram, cross, transitions

  def _update(self) -> None:
    """The five stages of the module docstring, in order; every batch is drawn from `_rng`."""
    key = jax.random.fold_in(jax.random.fold_in(self._base_key, self.action_count), 1)
    state = self.state
    ae_params, ae_state, ae_loss = self.train_autoencoder(
        state.autoencoder, state.autoencoder_optimizer, self._sequences(('observation', 'mask')))
    (transition_params, transition_state, terminal_params, terminal_state, transition_loss,
     terminal_loss) = self._train_transition(
         ae_params, state.transition, state.transition_optimizer, state.terminal,
         state.terminal_optimizer,
         self._sequences(('observation', 'next_observation', 'action', 'reward', 'terminated',
                          'mask')))
    gram, cross, transitions = self.posterior_statistics(ae_params, transition_params)
    mean, draw, prior, retries, succeeded = self._posterior_and_draw(
        gram, cross, key, state.posterior_mean, state.last_layer)
    value_params, value_target, value_state, value_loss = self._train_value(
        state.value, state.value_target, state.value_optimizer, ae_params, transition_params,
        terminal_params, draw, self._sequences(('observation', 'action', 'mask')))
    self.state = PSDRLState(
        ae_params, transition_params, terminal_params, value_params, value_target, ae_state,
        transition_state, terminal_state, value_state, mean, draw, prior)
    self._statistics.append({
        'autoencoder_loss': ae_loss, 'transition_loss': transition_loss,
        'terminal_loss': terminal_loss, 'value_loss': value_loss,
        'posterior_prior_precision': prior, 'posterior_retries': retries,
        'posterior_succeeded': succeeded, 'posterior_transitions': transitions})

  def iteration_statistics(self) -> Dict[str, float]:
    per_update = jax.device_get(self._statistics)
    self._statistics = []
    statistics = {'updates': float(len(per_update))}
    if per_update:
      for name in LOSSES:
        statistics[name] = float(np.mean([update[name] for update in per_update]))
      last = per_update[-1]
      for name in ('posterior_prior_precision', 'posterior_retries', 'posterior_transitions'):
        statistics[name] = float(last[name])
      statistics['posterior_failures'] = float(
          sum(not update['posterior_succeeded'] for update in per_update))
    return statistics

  # -- checkpointing ------------------------------------------------------------------------------

  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    del checkpoint_dir, iteration  # everything fits in the returned pytree
    return {'state': flax.serialization.to_state_dict(self.state), **self._replay_state()}

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    del checkpoint_dir, iteration
    self.state = base.restore_pytree(self.state, bundle['state'], 'state')
    self._load_replay_state(bundle)
    self._statistics = []
    return True

  def _replay_state(self) -> Dict[str, Any]:
    """The base class's entries, the GRU state of the episode in progress and the number of
    training episodes ended (which gates the first update)."""
    return {**super()._replay_state(), 'hidden': np.asarray(jax.device_get(self._hidden)),
            'training_episodes': np.int64(self._training_episodes)}

  def _load_replay_state(self, bundle: Dict[str, Any]) -> None:
    super()._load_replay_state(bundle)
    self._hidden = base.restore_pytree(self._zero_hidden, bundle['hidden'], 'hidden')
    self._training_episodes = int(bundle['training_episodes'])
