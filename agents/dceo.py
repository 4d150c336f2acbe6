"""DCEO, Deep Covering Eigenoptions (Klissarov and Machado, 2023), on the Rainbow shell.

Full Rainbow (agents/rainbow.py) is the main agent. Next to it, through the shell's extension hooks
(agents/dqn.py) and nothing else of the update, the acting or the checkpoints:

- a Laplacian representation phi (networks.RepresentationNetwork, d = `representation_dimension`
  outputs) trained with agents/laplacian.laplacian_loss: positive pairs (s, s'), s' the n-step
  next state of the replayed transition; negative pairs (u, v) of `representation_batch_size`
  states each, drawn uniformly with replacement from the replayed batch's own states
  (observations and next observations pooled): no second replay sample. The reference's
  choices are the defaults; the departures, each a gin parameter (benchmarks/DCEO_EXPLORATION.md
  measures them):
  `representation_pairs_batch_size` > 0 draws the positive pairs as a batch of their own;
  `representation_pair_horizon` = k in 1..n pairs each state with the one k moves on (phi's
  minimiser is then the k-step graph's Laplacian; the options' reward stays n-step);
  `representation_steps` > 1 takes that many Adam steps of phi per update, in the same call;
  `representation_optimizer` gives phi an optimizer of its own (e.g. a decaying learning rate);
- `state_weighting`: what the objective's expectations weigh. 'replay' (the reference's) takes
  the batch as drawn: the visited graph's eigenvectors under the visit (and priority)
  distribution. 'inverse_visits' weighs every visited state alike: each positive pair by
  1 / (P(i) n(s)), n(s) the visits of s (agents/visit_density.py: exact observations, or SimHash
  keys with `visit_hash_bits`), the negatives drawn in proportion to the same weights.
  'uniform_visited' reaches that minimiser by sampling: phi's pairs come from a batch of their own
  (`representation_pairs_batch_size`, or `batch_size`), uniform over the distinct states the
  replay holds, then over each state's transitions (visit_density.VisitedStateSampler);
- `representation_objective`: 'generalized' (the reference's, with `norm_transform` log1p or
  x^2/d) or 'allo' (laplacian.allo_loss, the augmented Lagrangian objective the reference's README
  recommends; its (d, d) duals sit beside phi and climb after each of phi's steps,
  `allo_dual_learning_rate`, `allo_barrier`);
- on a grid world, `representation_network = @ExactGridRepresentation` (agents/laplacian_grid.py)
  gives the options the exact eigenvectors, and `@VisitedGridRepresentation` those of the cells
  the replay holds, refit on the host every `refresh_period` steps (as is any representation with
  a `refresh_period` and a `refreshed(params, observations)` method): oracles;
- `option_alignment` (a departure): the options follow phi @ R, R refit on the host every
  `alignment_period` steps from `alignment_states` replay states (eigenoptions). 'procrustes':
  R orthogonal, holding phi @ R nearest its values at the last fit. 'ritz': phi @ R the
  Rayleigh-Ritz functions of phi's span from phi's own pairs, matched to the last fit's;
- `option_reward_period` > 0 (a departure): the options' reward comes from a copy of phi (and R)
  retaken every that many steps, as a target network holds targets still; or, exclusive of it,
  `option_reward_averaging` = tau > 0 from phi's average over time, moved by tau each call;
- `num_options` options, each a C51 network of the main architecture with its own Adam state and
  target network (a tuple of per-option pytrees). Option o is rewarded for climbing eigenfunction
  `option_eigenfunctions[o]` of phi as it was before this update's step, with no gradient into
  phi (agents/eigenoptions.py; the departures `intrinsic_reward_scale`, `option_signs` and
  `normalize_option_reward`, decay `option_reward_decay`, are described there). Each update
  trains one option, drawn uniformly on the host, with Rainbow's own loss weighted by the
  importance weights, as the reference's are. Its target takes its parameters after its first
  update, then after every `target_update_period`-th of its own (`option_updates`). The call
  receives that option's parameters, Adam state and target alone (`extensions_passed`,
  `extensions_returned`): writing all of them back cost a fifth of an update on Pong.

The representation, the chosen option and Rainbow's Q-network all learn in the shell's single
jitted call per update, with the agent's optimizer (`DQNAgent.optimizer`) unless
`representation_optimizer` is given.

Acting, on the host, per training step (`choose_policy`, `explores`; eigenoptions.OptionRuns): a
running option ends with probability `option_termination` or at an episode's first step; with no
option running, the step explores with probability epsilon, and an exploring step starts a
uniformly random option with probability `option_prob`, else takes a random action (before
`option_warmup_steps`, a departure, always a random action). A running option acts
epsilon-greedily on its own Q-values (policy o + 1; 0 is Rainbow's). Evaluation acts with the main
policy only. The running option and its length go into the checkpoint with the replay's state, so
a restored agent continues bit for bit even mid-episode.

Iteration statistics besides Rainbow's: `representation_loss`, `option_loss`, `option_<o>_share`
(the fraction of training steps option o acted) and `option_mean_duration`. On a grid world named
by `grid_layout` (bound with the environment's layout through a gin macro), also
`subspace_overlap` (phi over every free cell against the exact Laplacian's d smallest
eigenvectors, agents/laplacian_grid.py), `visited_subspace_overlap` (over the cells the replay
holds, against their own graph's), `option_function_traps` (the visited cells no visited
neighbour exceeds, where a greedy option stalls) and a figure of the first eigenfunctions
(`agent/eigenfunctions`, eigenfunctions.png). The Runner draws the followed eigenfunctions over
the positions training visited (`describe_states`): grid cells, or Montezuma's (room, x, y).
"""

import os
from typing import Any, Callable, Dict, Optional, Sequence

import flax.linen as nn
import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents import compilation
from agents import dqn
from agents import eigenoptions
from agents import laplacian
from agents import laplacian_grid
from agents import networks
from agents import rainbow
from agents import visit_density
from runner import errors
from runner import metrics

EIGENFUNCTIONS_FILE = 'eigenfunctions.png'
DESCRIBED_BATCH = 256  # observations per forward pass when describing visited states
STATE_WEIGHTINGS = ('replay', 'inverse_visits', 'uniform_visited')
OPTION_ALIGNMENTS = ('none', 'procrustes', 'ritz')


@gin.configurable
class DCEOAgent(rainbow.RainbowAgent):
  """Rainbow with a Laplacian representation and eigenoptions (see the module docstring).
  Arguments not listed are RainbowAgent's and DQNAgent's."""

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               representation_dimension: int = 20,
               num_options: int = 5,
               option_eigenfunctions: Optional[Sequence[int]] = None,
               follow_constant_eigenfunction: bool = False,
               option_prob: float = 0.9,
               option_termination: float = 0.1,
               option_warmup_steps: int = 0,
               norm_transform: str = 'log1p',
               representation_network: Callable[..., nn.Module] = networks.RepresentationNetwork,
               representation_batch_size: int = 32,
               representation_steps: int = 1,
               representation_pairs_batch_size: int = 0,
               representation_pair_horizon: int = 0,
               representation_optimizer: Optional[Callable[..., Any]] = None,
               option_alignment: str = 'none',
               alignment_period: int = 250,
               alignment_states: int = 1024,
               option_reward_period: int = 0,
               option_reward_averaging: float = 0.0,
               intrinsic_reward_scale: float = 1.0,
               option_signs: Optional[Sequence[int]] = None,
               normalize_option_reward: bool = False,
               option_reward_decay: float = 0.99,
               state_weighting: str = 'replay',
               representation_objective: str = 'generalized',
               allo_barrier: float = 2.0,
               allo_dual_learning_rate: float = 1e-2,
               visit_hash_bits: int = 0,
               grid_layout: Optional[str] = None,
               plotted_eigenfunctions: int = 4,
               **rainbow_arguments):
    option_eigenfunctions, option_signs = eigenoptions.checked_option_functions(
        num_options, option_eigenfunctions, follow_constant_eigenfunction, option_signs,
        representation_dimension, 'DCEOAgent')
    for name, probability in (('option_prob', option_prob),
                              ('option_termination', option_termination),
                              ('option_reward_decay', option_reward_decay),
                              ('option_reward_averaging', option_reward_averaging)):
      if not 0.0 <= probability <= 1.0:
        raise errors.InvalidSettingError(f'DCEOAgent: {name} must be in [0, 1], got {probability}')
    for name, value, least in (('representation_steps', representation_steps, 1),
                               ('alignment_period', alignment_period, 1),
                               ('alignment_states', alignment_states, representation_dimension),
                               ('option_reward_period', option_reward_period, 0),
                               ('option_warmup_steps', option_warmup_steps, 0),
                               ('representation_pairs_batch_size',
                                representation_pairs_batch_size, 0)):
      if value < least:
        raise errors.InvalidSettingError(f'DCEOAgent needs {name} >= {least}, got {value}')
    if option_reward_period and option_reward_averaging:
      raise errors.InvalidSettingError(
          'DCEOAgent: option_reward_period and option_reward_averaging are two ways to hold the '
          'options\' reward still; set one of them (the other 0)')
    for name, value in (('representation_pairs_batch_size', representation_pairs_batch_size),
                        ('representation_pair_horizon', representation_pair_horizon)):
      if value and state_weighting == 'inverse_visits':
        raise errors.InvalidSettingError(
            f"DCEOAgent: {name} needs state_weighting 'replay' or 'uniform_visited' "
            "('inverse_visits' weighs the main batch's own n-step pairs)")
    for name, value, choices in (('state_weighting', state_weighting, STATE_WEIGHTINGS),
                                 ('option_alignment', option_alignment, OPTION_ALIGNMENTS)):
      if value not in choices:
        raise errors.InvalidSettingError(
            f'DCEOAgent: unknown {name} {value!r}: choose one of {", ".join(choices)}')
    self.objective = laplacian.Objective(
        representation_objective, norm_transform, float(allo_barrier),
        float(allo_dual_learning_rate)).checked('DCEOAgent', representation_dimension)
    self.representation_dimension = representation_dimension
    self.num_options = num_options
    self.option_eigenfunctions = option_eigenfunctions
    self.representation_batch_size = representation_batch_size
    self.representation_steps = representation_steps
    self.representation_pairs_batch_size = representation_pairs_batch_size
    self.option_reward_period = option_reward_period
    self.option_reward_averaging = float(option_reward_averaging)
    self.intrinsic_reward_scale = float(intrinsic_reward_scale)
    self.option_signs = option_signs
    self.normalize_option_reward = bool(normalize_option_reward)
    self.option_reward_decay = float(option_reward_decay)
    self.option_alignment = option_alignment
    self.alignment_period = alignment_period
    self.alignment_states = alignment_states
    self.state_weighting = state_weighting
    self.visits = (visit_density.VisitCounter(visit_hash_bits, seed, 'DCEOAgent')
                   if state_weighting == 'inverse_visits' else None)
    self.visited_sampler = None  # 'uniform_visited''s, made with the replay below
    self.representation = representation_network(dimension=representation_dimension)
    self._representation_optimizer = (None if representation_optimizer is None
                                      else representation_optimizer())
    # Host-side: the running option is checkpointed (`_replay_state`).
    self.option_runs = eigenoptions.OptionRuns(num_options, option_prob, option_termination)
    self.option_warmup_steps = option_warmup_steps
    super().__init__(observation_space, action_space, seed, summary_writer, **rainbow_arguments)
    if not 0 <= representation_pair_horizon <= self.replay.update_horizon:
      raise errors.InvalidSettingError(
          f'DCEOAgent: representation_pair_horizon must be 0 (the n-step next state) or 1..'
          f'{self.replay.update_horizon} (update_horizon), got {representation_pair_horizon}')
    self.representation_pair_horizon = (
        0 if representation_pair_horizon == self.replay.update_horizon
        else representation_pair_horizon)
    if state_weighting == 'uniform_visited':
      self.visited_sampler = visit_density.VisitedStateSampler(
          self.replay.capacity, visit_hash_bits, seed, 'DCEOAgent')
    self.plotted_eigenfunctions = plotted_eigenfunctions
    self.grid = (None if grid_layout is None else laplacian_grid.GridSpectrum(
        grid_layout, observation_space, representation_dimension, 'DCEOAgent.grid_layout'))
    self._phi = compilation.jit(self.representation.apply)

  @property
  def representation_optimizer(self) -> optax.GradientTransformation:
    """phi's optimizer: `representation_optimizer`'s, else the agent's."""
    if self._representation_optimizer is None:
      return self._optimizer
    return self._representation_optimizer

  # -- the shell's extension hooks ----------------------------------------------------------------

  def init_extensions(self, key, sample_observations):
    representation_key, options_key = jax.random.split(key)
    representation = self.representation.init(representation_key, sample_observations)

    def init_option(option_key):
      return self.network.init({'params': option_key, 'noise': option_key}, sample_observations)

    stacked = jax.jit(jax.vmap(init_option))(jax.random.split(options_key, self.num_options))
    options = tuple(jax.tree.map(lambda leaf, o=o: leaf[o], stacked)
                    for o in range(self.num_options))
    extensions = {
        'representation': representation,
        'representation_optimizer_state': self.representation_optimizer.init(representation),
        'options': options,
        'option_optimizer_states': tuple(self._optimizer.init(option) for option in options),
        # Each option's updates so far, its target's clock; host-side, never passed to a call.
        'option_updates': np.zeros(self.num_options, np.int64),
    }
    dimension = self.representation_dimension
    if self.objective.name == 'allo':
      extensions['representation_duals'] = jnp.zeros((dimension, dimension), jnp.float32)
    if self.option_alignment != 'none':
      # R, the states and aligned values of the last fit, and the fits so far (host-side).
      extensions['option_rotation'] = jnp.eye(dimension, dtype=jnp.float32)
      extensions['alignment_anchor'] = np.zeros(
          (self.alignment_states, *sample_observations.shape[1:]), sample_observations.dtype)
      extensions['alignment_values'] = np.zeros((self.alignment_states, dimension), np.float32)
      extensions['alignment_fits'] = np.zeros((), np.int64)
    if self.option_reward_period:
      # The options' reward's copy of phi and of R (host-side copies, retaken between calls).
      extensions['reward_representation'] = representation
      extensions['reward_rotation'] = jnp.eye(dimension, dtype=jnp.float32)
    if self.option_reward_averaging:
      # The options' reward's phi, an average over time moved towards phi in every call.
      extensions['reward_representation'] = representation
    if self.normalize_option_reward:
      # The running mean square of each (turned) function, and the updates it has seen.
      extensions['reward_mean_square'] = jnp.ones(dimension, jnp.float32)
      extensions['reward_mean_square_updates'] = jnp.zeros((), jnp.int32)
    return extensions, {'options': options}

  def extensions_passed(self, policy, updating):
    extensions = self.state.extensions
    # At policy 0 no option acts, and any option's parameters stand in, unread.
    passed = {'acting_option': extensions['options'][max(policy - 1, 0)]}
    if not updating:
      return passed, None
    option = int(self._rng.integers(self.num_options))
    passed.update(representation=extensions['representation'],
                  representation_optimizer_state=extensions['representation_optimizer_state'],
                  trained_option=np.int32(option), option=extensions['options'][option],
                  option_optimizer_state=extensions['option_optimizer_states'][option])
    for name in ('representation_duals', 'option_rotation', 'reward_representation',
                 'reward_rotation', 'reward_mean_square', 'reward_mean_square_updates'):
      if name in extensions:
        passed[name] = extensions[name]
    return passed, {'option': self.state.extension_targets['options'][option]}

  def extensions_returned(self, passed, updated):
    option = int(passed['trained_option'])
    extensions = self.state.extensions
    targets = self.state.extension_targets['options']

    def replaced(options, new):
      return options[:option] + (new,) + options[option + 1:]

    # The reference's clock: an option's target takes its parameters after the option's first
    # update and then after every `target_update_period`-th of its own updates.
    option_updates = np.array(extensions['option_updates'], np.int64)  # a copy, host-side
    if option_updates[option] % self.target_update_period == 0:
      targets = replaced(targets, updated['option'])
    option_updates[option] += 1
    returned = {
        'representation': updated['representation'],
        'representation_optimizer_state': updated['representation_optimizer_state'],
        'options': replaced(extensions['options'], updated['option']),
        'option_optimizer_states': replaced(extensions['option_optimizer_states'],
                                            updated['option_optimizer_state']),
        'option_updates': option_updates,
    }
    learned = ('representation_duals', 'reward_mean_square', 'reward_mean_square_updates') + (
        ('reward_representation',) if self.option_reward_averaging else ())
    for name in learned:
      if name in updated:  # learned in the call
        returned[name] = updated[name]
    for name in ('option_rotation', 'alignment_anchor', 'alignment_values', 'alignment_fits',
                 'reward_representation', 'reward_rotation'):
      if name in extensions and name not in returned:  # fitted or copied on the host
        returned[name] = extensions[name]
    return returned, {'options': targets}

  def representation_batch(self, count: int) -> Dict[str, np.ndarray]:
    """`count` replayed transitions drawn as phi's objective draws its own: each state the replay
    holds alike (`uniform_visited`), or as the replay draws."""
    if self.visited_sampler is None:
      return self.replay.sample(count, self._rng)
    return self.replay.gather(self.visited_sampler.draw_starts(self.replay, count, self._rng))

  def representation_pairs(self, batch: Dict[str, np.ndarray]):
    """(states, later states) of phi's positive pairs from `batch`'s transitions: each state and
    the one `representation_pair_horizon` moves on, or the n-step next state."""
    return batch['observation'], (
        self.replay.later_stacks(batch['indices'], self.representation_pair_horizon)
        if self.representation_pair_horizon else batch['next_observation'])

  def extension_batch(self, batch):
    own_batch = self.visited_sampler is not None or self.representation_pairs_batch_size
    if own_batch or self.representation_pair_horizon:
      if own_batch:  # else the main batch's states, paired at phi's own horizon
        batch = self.representation_batch(self.representation_pairs_batch_size or self.batch_size)
      states, later = self.representation_pairs(batch)
      return {'representation_observation': states, 'representation_next_observation': later}
    if self.visits is None:
      return {}
    # A final observation is never stored as a transition's start: it counts as visited once.
    return {name: np.maximum(self.visits.counts(batch[observations]), 1).astype(np.float32)
            for name, observations in (('state_visits', 'observation'),
                                       ('next_state_visits', 'next_observation'))}

  def extension_update(self, extensions, state, batch, key):
    pairs_key, loss_key = jax.random.split(key)
    prefix = 'representation_' if 'representation_observation' in batch else ''
    pooled = jnp.concatenate([batch[prefix + 'observation'], batch[prefix + 'next_observation']])
    negatives_shape = (2, self.representation_batch_size)
    if self.visits is None:
      positive_weights = None

      def draw_negatives(step_key):
        return jax.random.randint(step_key, negatives_shape, 0, len(pooled))
    else:
      # Each visited state alike: importance weights 1 / (P(i) n(s)) (the module docstring).
      sampling = batch.get('sampling_probability', jnp.ones_like(batch['reward']))
      positive_weights = 1.0 / (sampling * batch['state_visits'])
      pooled_weights = jnp.concatenate([positive_weights,
                                        1.0 / (sampling * batch['next_state_visits'])])

      def draw_negatives(step_key):
        return jax.random.choice(step_key, len(pooled), negatives_shape,
                                 p=pooled_weights / jnp.sum(pooled_weights))

    def representation_step(carry, step_key):
      params, optimizer_state, duals = carry
      picks = draw_negatives(step_key)

      def representation_loss(params):
        # u and v are states of the batch itself, so their phi is gathered from the batch's one
        # forward pass: the same values and gradients as passing them through the network again,
        # at half the representation's cost.
        phi_pooled = self.representation.apply(params, pooled)
        phi_state, phi_next = jnp.split(phi_pooled, 2)
        loss, _, constraints = self.objective.loss(
            phi_state, phi_next, phi_pooled[picks[0]], phi_pooled[picks[1]], duals,
            positive_weights)
        return loss, ((phi_state, phi_next), constraints)

      params, optimizer_state, duals, loss, phis = self.objective.step(
          representation_loss, self.representation_optimizer, params, optimizer_state, duals)
      return (params, optimizer_state, duals), (loss, phis)

    # `representation_steps` Adam steps on the same positive pairs, each with its own negative
    # pairs. The options' reward is phi before the first of them, as with one step.
    start = (extensions['representation'], extensions['representation_optimizer_state'],
             extensions.get('representation_duals'))
    if self.representation_steps == 1:  # the reference's: its key and numbers, no scan
      (representation, representation_optimizer_state, duals), (representation_loss_value, (
          phi_state, phi_next)) = representation_step(start, pairs_key)
    else:
      (representation, representation_optimizer_state, duals), (losses, (
          phi_states, phi_nexts)) = jax.lax.scan(
              representation_step, start, jax.random.split(pairs_key, self.representation_steps))
      representation_loss_value, phi_state, phi_next = losses[0], phi_states[0], phi_nexts[0]

    rotation = extensions.get('reward_rotation', extensions.get('option_rotation'))
    # The options' reward is the main batch's, under phi before this update's steps, or under
    # its copy or average (`option_reward_period`, `option_reward_averaging`); either times R
    # under option_alignment. Normalised, by that function's mean square over the states phi's own
    # objective weighs (its pooled states, with their weights under inverse_visits).
    reward_params = extensions.get('reward_representation')
    measured = jnp.concatenate([phi_state, phi_next])  # phi before the steps, on its pooled
    if prefix or reward_params is not None:  # not the pairs phi just stepped on
      phi_state, phi_next = jnp.split(self.representation.apply(
          extensions['representation'] if reward_params is None else reward_params,
          jnp.concatenate([batch['observation'], batch['next_observation']])), 2)
      if reward_params is not None:
        measured = (jnp.concatenate([phi_state, phi_next]) if not prefix
                    else self.representation.apply(reward_params, pooled))
    new_extensions = {}
    if self.normalize_option_reward:
      updates = extensions['reward_mean_square_updates']
      new_extensions['reward_mean_square'] = eigenoptions.running_mean_square(
          extensions['reward_mean_square'], updates,
          measured if rotation is None else measured @ rotation,
          None if positive_weights is None else pooled_weights, self.option_reward_decay)
      new_extensions['reward_mean_square_updates'] = updates + 1
    if self.option_reward_averaging:
      new_extensions['reward_representation'] = optax.incremental_update(
          representation, reward_params, self.option_reward_averaging)
    eigenfunction = jnp.asarray(self.option_eigenfunctions)[extensions['trained_option']]
    scale = self.intrinsic_reward_scale
    if -1 in self.option_signs:  # all +1 (the reference) leaves the scale a constant
      scale = scale * jnp.asarray(self.option_signs, jnp.float32)[extensions['trained_option']]
    option_batch = dict(batch, reward=eigenoptions.intrinsic_reward(
        phi_state, phi_next, eigenfunction, scale, rotation,
        new_extensions.get('reward_mean_square')))

    weights = dqn.replay_weights(batch, self.importance_exponent)

    def option_loss(params):
      per_transition, _ = self._per_transition_loss(params, state.extension_targets['option'],
                                                    option_batch, loss_key)
      return jnp.mean(weights * per_transition)

    option_loss_value, option_gradients = jax.value_and_grad(option_loss)(extensions['option'])
    option_updates, option_optimizer_state = self._optimizer.update(
        option_gradients, extensions['option_optimizer_state'], extensions['option'])
    extensions = dict(
        extensions, representation=representation,
        representation_optimizer_state=representation_optimizer_state,
        option=optax.apply_updates(extensions['option'], option_updates),
        option_optimizer_state=option_optimizer_state, **new_extensions)
    statistics = {'representation_loss': representation_loss_value,
                  'option_loss': option_loss_value}
    if duals is not None:
      extensions['representation_duals'] = duals
    if self.normalize_option_reward:  # the trained option's function's RMS, the reward's divisor
      statistics['option_function_rms'] = jnp.sqrt(new_extensions['reward_mean_square'][
          eigenfunction])
    return extensions, statistics

  def policy_action(self, state, observation, key, deterministic, policy):
    def main_action():
      return super(DCEOAgent, self).policy_action(state, observation, key, deterministic, policy)

    def option_action():
      def greedy(params):
        return jnp.argmax(self._q_values(params, observation[None], key, deterministic)[0])

      if 'trained_option' not in state.extensions:
        return greedy(state.extensions['acting_option'])
      # In an update's call the acting option may be the one just trained: it acts as updated.
      return jax.lax.cond(state.extensions['trained_option'] == policy - 1,
                          lambda: greedy(state.extensions['option']),
                          lambda: greedy(state.extensions['acting_option']))

    # One network's forward pass per action, not both: cond runs only the branch taken.
    return jax.lax.cond(policy == 0, main_action, option_action)

  def choose_policy(self) -> int:
    return self.option_runs.choose(self._rng, self.epsilon, self._episode_first_step,
                                   self.training_steps >= self.option_warmup_steps)

  def explores(self) -> bool:
    if self.eval_mode or self.option_runs.current is not None:
      return super().explores()  # epsilon-greedy: the main policy in evaluation, or the option
    return self.option_runs.random_action

  def _align_options(self):
    """Re-fits R (`option_alignment`, the module docstring) and draws the next fit's states."""
    extensions = self.state.extensions
    params = extensions['representation']
    rotation = np.asarray(extensions['option_rotation'], np.float64)
    fitted = extensions['alignment_fits'] > 0
    anchor_now = (self.representation_values(np.asarray(extensions['alignment_anchor']), params)
                  if fitted else None)
    if self.option_alignment == 'ritz':
      states, later = self.representation_pairs(self.representation_batch(self.alignment_states))
      rotation = eigenoptions.ritz_turn(self.representation_values(states, params),
                                        self.representation_values(later, params))
      if fitted:  # each column of phi @ R following the function it followed at the last fit
        order, signs = eigenoptions.matched_columns(extensions['alignment_values'],
                                                    anchor_now @ rotation)
        rotation = rotation[:, order] * signs
    else:
      if fitted:
        rotation = eigenoptions.procrustes_rotation(anchor_now, extensions['alignment_values'])
      states = self.replay.stacks(self._rng.integers(0, len(self.replay), self.alignment_states))
    self.state = self.state._replace(extensions={
        **extensions, 'option_rotation': jnp.asarray(rotation, jnp.float32),
        'alignment_anchor': states,
        'alignment_values': (self.representation_values(states, params) @ rotation).astype(
            np.float32),
        'alignment_fits': np.asarray(extensions['alignment_fits'] + 1, np.int64)})

  def _copy_reward_representation(self):
    """The options' reward takes phi (and R) as they are now (`option_reward_period`)."""
    extensions = self.state.extensions
    self.state = self.state._replace(extensions={
        **extensions, 'reward_representation': extensions['representation'],
        'reward_rotation': extensions.get('option_rotation', extensions['reward_rotation'])})

  def _train_step(self, observation, policy):
    if (self.option_alignment != 'none' and len(self.replay)
        and self.training_steps % self.alignment_period == 0):
      self._align_options()
    if self.option_reward_period and self.training_steps % self.option_reward_period == 0:
      self._copy_reward_representation()
    refresh_period = getattr(self.representation, 'refresh_period', 0)
    if refresh_period and self.training_steps % refresh_period == 0 and len(self.replay):
      # A representation fitted on the host (an oracle) refits to every observation in replay.
      extensions = self.state.extensions
      representation = self.representation.refreshed(
          extensions['representation'], self.replay.stacks(np.arange(len(self.replay))))
      self.state = self.state._replace(extensions={**extensions,
                                                   'representation': representation})
    return super()._train_step(observation, policy)

  def _store(self, reward, terminated):
    if self.visits is not None:
      self.visits.add(self._observation)
    super()._store(reward, terminated)

  def iteration_statistics(self) -> Dict[str, float]:
    statistics = {**super().iteration_statistics(), **self.option_runs.statistics()}
    if self.visits is not None:
      statistics['visited_keys'] = float(len(self.visits))
    if self.visited_sampler is not None:
      statistics['visited_keys'] = float(len(self.visited_sampler))
    if self.grid is not None:
      cell_values = self.representation_values(self.grid.cell_observations)
      rotation = self.state.extensions.get('option_rotation', np.eye(self.representation_dimension))
      replayed = self.replay.stacks(np.arange(len(self.replay))) if len(self.replay) else None
      statistics.update(self.grid.statistics(cell_values, replayed, self.followed_functions(
          cell_values @ np.asarray(rotation))))
    return statistics

  # -- what a researcher watches ------------------------------------------------------------------

  def followed_functions(self, turned_values: np.ndarray) -> np.ndarray:
    """(states, num_options): the function each option climbs, its eigenfunction's column of
    phi's values (turned by R where options are aligned) times its sign."""
    return turned_values[:, list(self.option_eigenfunctions)] * np.asarray(self.option_signs)

  def representation_values(self, observations: np.ndarray, params=None) -> np.ndarray:
    """phi of a batch of observations, (batch, representation_dimension) float64 (under `params`,
    the representation's parameters, or the agent's own)."""
    params = self.state.extensions['representation'] if params is None else params
    return np.concatenate([
        np.asarray(self._phi(params, observations[start:start + DESCRIBED_BATCH]), np.float64)
        for start in range(0, len(observations), DESCRIBED_BATCH)])

  def option_action(self, observation: np.ndarray, option: int) -> int:
    """The greedy action of option `option` (0..num_options - 1) for one observation, without
    exploration: what the option does there."""
    if not 0 <= option < self.num_options:
      raise errors.InvalidSettingError(f'DCEOAgent has options 0..{self.num_options - 1}, not '
                                       f'{option}')
    return int(self._act_fn(self._acting_state(option + 1), observation, self._base_key,
                            self.action_count, True, option + 1)) + self._first_action

  def describe_states(self, observations: np.ndarray) -> Dict[str, np.ndarray]:
    """The eigenfunctions the options follow, over `observations`."""
    values = self.representation_values(observations)
    return {f'eigenfunction {index}': values[:, index] for index in self.option_eigenfunctions}

  def write_summaries(self, iteration: int) -> None:
    super().write_summaries(iteration)
    if self.summary_writer is None or self.grid is None or self.plotted_eigenfunctions < 1:
      return
    logdir = getattr(self.summary_writer, 'logdir', None)
    figure = self.grid.figure(self.representation_values(self.grid.cell_observations),
                              self.plotted_eigenfunctions)
    metrics.write_figure(self.summary_writer, 'agent/eigenfunctions', figure, iteration,
                         os.path.join(logdir, EIGENFUNCTIONS_FILE) if logdir else None)

  def _replay_state(self) -> Dict[str, Any]:
    return {**super()._replay_state(),
            **self.option_runs.state_dict(),
            **({} if self.visits is None else {'visits': self.visits.state_dict()}),
            **({} if self.visited_sampler is None
               else {'visited_rows': self.visited_sampler.state_dict()})}

  def _load_replay_state(self, bundle: Dict[str, Any]) -> None:
    super()._load_replay_state(bundle)
    self.option_runs.load_state_dict(bundle)
    # The host tables of a weighting other than the reference's; a run that weighed states
    # otherwise saved none.
    for table, name, what in ((self.visits, 'visits', 'visit counts'),
                              (self.visited_sampler, 'visited_rows', 'visited-state index')):
      if table is None:
        continue
      if name not in bundle:
        raise errors.BadInputError(
            f'DCEOAgent: the checkpoint has no {what} (its run weighed states otherwise); this '
            f'agent\'s state_weighting {self.state_weighting!r} needs them')
      table.load_state_dict(bundle[name])
