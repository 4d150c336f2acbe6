"""SFP (Bagatella et al., 2022, "SFP: State-free Priors for Exploration in Off-Policy Reinforcement
Learning"): SAC mixed with an action prior p(a_t | a_{t-1}) trained offline (offline/sfp/),
through a learned, state-dependent mixing weight lambda(s).

Built on SAC's extension points (agents/sac.py), with no copy of its update:
- acting (`policy_action`): with probability lambda(s) a prior sample conditioned on the previous
  action, else the policy's sample; evaluation acts with the policy's mean alone;
- the critic target's next action (`next_action`): a prior sample (conditioned on the action taken
  just before s', drawn once per update by `prepare_batch` and shared with lambda's loss) with
  probability lambda(s'), else pi(s'); the entropy term stays the policy's, log pi(a'_pi | s');
- the actor loss (`actor_q_weight`): alpha log pi - (1 - lambda(s)) min Q(s, a_pi);
- lambda's own loss (`extension_update`):
  E[-epsilon lambda(s') (beta + Q(s', a_prior) - Q(s', a_pi))], whose gradient raises lambda
  where the prior's actions are worth more than the policy's; epsilon = 1e-9 under Adam acts as
  a step-size reduction, as in the reference;
- the warm-up (`warmup_action`): prior samples instead of uniform actions.

The prior comes through gin, `SFPAgent.prior = @load_component()` with `load_component.base_dir`
naming the prior's offline run; any object with offline/sfp/prior.py's ActionPrior interface works
(`action_dim`, `params`, `initial_actions`, a pure `sample(params, previous_actions, key)`). Its
parameters ride in the train state's extensions, so each jitted call takes them as an argument. An
episode's first prior sample is conditioned on an action drawn from `prior.initial_actions` (actions
of the prior's dataset), as the reference conditions on a dataset action. Without a prior the agent
is SAC exactly. `agent/lambda` (the mean of lambda(s') over each iteration's batches) and
`agent/prior_advantage` (mean Q(s', a_prior) - Q(s', a_pi)) go to metrics.jsonl.
"""

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import flax.linen as nn
import gin
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents import compilation
from agents import sac
from runner import errors


class MixingWeight(nn.Module):
  """lambda(s) in (0, 1): a ReLU MLP with one sigmoid output whose bias starts at logit(initial),
  so every state starts with the prior acting `initial` of the time."""
  hidden_sizes: Sequence[int] = (128, 128)
  initial: float = 0.95

  @nn.compact
  def __call__(self, observations: jnp.ndarray) -> jnp.ndarray:
    x = observations.astype(jnp.float32)
    for size in self.hidden_sizes:
      x = nn.relu(nn.Dense(size)(x))
    logit = float(np.log(self.initial / (1.0 - self.initial)))
    output = nn.Dense(1, bias_init=nn.initializers.constant(logit))(x)
    return jax.nn.sigmoid(output[..., 0])


def lambda_loss(weights: jnp.ndarray, prior_q: jnp.ndarray, policy_q: jnp.ndarray, beta: float,
                epsilon: float) -> jnp.ndarray:
  """E[-epsilon lambda (beta + Q_prior - Q_pi)]: d/d lambda = -epsilon (beta + Q_prior - Q_pi) / B,
  so a descent step raises lambda where the prior's action is worth more (METHODS.md's check)."""
  advantage = jax.lax.stop_gradient(beta + prior_q - policy_q)
  return jnp.mean(-epsilon * weights * advantage)


def mix(use_prior: jnp.ndarray, prior_actions: jnp.ndarray,
        policy_actions: jnp.ndarray) -> jnp.ndarray:
  """Per sample, the prior's action where `use_prior`, else the policy's."""
  return jnp.where(use_prior[..., None], prior_actions, policy_actions)


@gin.configurable
class SFPAgent(sac.SACAgent):
  """SAC with a state-free prior (see the module docstring). Arguments not listed are SACAgent's.

  Args:
    prior: the action prior (offline/sfp/prior.py's interface), or None for plain SAC.
    lambda_initial: lambda(s) at initialisation (the reference's 0.95).
    lambda_hidden_sizes: lambda's MLP.
    lambda_learning_rate: Adam's rate for lambda (the reference uses SAC's, 1e-3).
    lambda_epsilon, lambda_beta: the lambda loss's scale and bonus (1e-9 and 0, the reference's).
    prior_warmup: whether the warm-up steps sample the prior (else uniform, as SAC).
    prior_schedule_steps: if positive, lambda is scaled by min(1, step / prior_schedule_steps)
      when acting (the reference's `prior_schedule`; 0, no scaling, is its default).
  """

  # The critic target and lambda's loss condition the prior on the action taken before s'.
  replay_previous_actions = True

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               prior: Optional[Any] = None,
               lambda_initial: float = 0.95,
               lambda_hidden_sizes: Sequence[int] = (128, 128),
               lambda_learning_rate: float = 1e-3,
               lambda_epsilon: float = 1e-9,
               lambda_beta: float = 0.0,
               prior_warmup: bool = True,
               prior_schedule_steps: int = 0,
               **sac_arguments):
    if not 0.0 < lambda_initial < 1.0:
      raise errors.InvalidSettingError(f'SFPAgent: lambda_initial must be in (0, 1), got '
                                       f'{lambda_initial}')
    self.prior = prior
    if prior is not None:
      action_dim = int(np.prod(action_space.shape)) if action_space.shape else None
      if getattr(prior, 'action_dim', None) != action_dim:
        raise errors.BadInputError(
            f'SFPAgent: the prior models {getattr(prior, "action_dim", "?")}-dimensional actions, '
            f'the environment\'s action space {action_space} has {action_dim}')
    self.mixing_weight = MixingWeight(tuple(lambda_hidden_sizes), float(lambda_initial))
    self.lambda_learning_rate = lambda_learning_rate
    self.lambda_epsilon = float(lambda_epsilon)
    self.lambda_beta = float(lambda_beta)
    self.prior_warmup = bool(prior_warmup)
    self.prior_schedule_steps = int(prior_schedule_steps)
    self._previous_action = None  # the last action of this episode, in [-1, 1]; None at its start
    super().__init__(observation_space, action_space, seed, summary_writer, **sac_arguments)
    if prior is not None:
      # Without dataset actions to draw from, an episode starts from "no motion".
      initial = getattr(prior, 'initial_actions', None)
      self._initial_actions = (np.zeros((1, prior.action_dim), np.float32) if initial is None
                               else np.asarray(initial, np.float32).reshape(-1, prior.action_dim))
      self._prior_sample = compilation.jit(self._one_prior_sample)

  # -- the extension points -----------------------------------------------------------------------

  def init_extensions(self, key, sample_observations):
    if self.prior is None:
      return super().init_extensions(key, sample_observations)
    self._lambda_optimizer = self._adam(self.lambda_learning_rate)
    params = jax.jit(self.mixing_weight.init)(key, sample_observations)
    return {'lambda': params, 'lambda_optimizer': self._lambda_optimizer.init(params),
            'prior': self.prior.params}

  def _lambda(self, state, observations):
    return self.mixing_weight.apply(state.extensions['lambda'], observations)

  def _prior_actions(self, state, previous_actions, key):
    return self.prior.sample(state.extensions['prior'], previous_actions, key)

  def prepare_batch(self, state, batch, key):
    if self.prior is None:
      return super().prepare_batch(state, batch, key)
    # One prior sample at s' serves the critic target and lambda's loss: the flow's pass costs
    # about a third of a SAC update, so one pass per update instead of two.
    return {**batch, 'next_prior_action': self._prior_actions(
        state, batch['next_previous_action'], key)}

  def next_action(self, state, batch, key):
    if self.prior is None:
      return super().next_action(state, batch, key)
    policy_key, choice_key = jax.random.split(key)
    policy_action, policy_log_prob = super().next_action(state, batch, policy_key)
    weights = self._lambda(state, batch['next_observation'])
    use_prior = jax.random.uniform(choice_key, weights.shape) < weights
    return mix(use_prior, batch['next_prior_action'], policy_action), policy_log_prob

  def actor_q_weight(self, state, batch):
    if self.prior is None:
      return super().actor_q_weight(state, batch)
    return 1.0 - self._lambda(state, batch['observation'])

  def extension_update(self, state, batch, key):
    if self.prior is None:
      return super().extension_update(state, batch, key)
    next_observation = batch['next_observation']
    policy_action, _ = sac.policy_sample(self._settings, state.actor, next_observation, key,
                                         self._log_action_scale)
    prior_action = batch['next_prior_action']
    critic = lambda action: jnp.min(  # noqa: E731
        self._settings.critic.apply(state.critic, next_observation, action), axis=0)
    policy_q, prior_q = critic(policy_action), critic(prior_action)

    def objective(params):
      weights = self.mixing_weight.apply(params, next_observation)
      return lambda_loss(weights, prior_q, policy_q, self.lambda_beta,
                         self.lambda_epsilon), weights

    (loss, weights), gradients = jax.value_and_grad(objective, has_aux=True)(
        state.extensions['lambda'])
    updates, optimizer_state = self._lambda_optimizer.update(
        gradients, state.extensions['lambda_optimizer'], state.extensions['lambda'])
    extensions = {**state.extensions, 'lambda_optimizer': optimizer_state,
                  'lambda': optax.apply_updates(state.extensions['lambda'], updates)}
    return extensions, {'lambda': jnp.mean(weights), 'lambda_loss': loss,
                        'prior_advantage': jnp.mean(prior_q - policy_q)}

  def policy_action(self, state, observation, context, key, deterministic):
    if self.prior is None or deterministic:
      return super().policy_action(state, observation, None, key, deterministic)
    policy_key, prior_key, choice_key = jax.random.split(key, 3)
    policy_action = super().policy_action(state, observation, None, policy_key, deterministic)
    weight = self._lambda(state, observation[None])[0] * context['prior_weight']
    prior_action = self._prior_actions(state, context['previous_action'][None], prior_key)[0]
    return mix(jax.random.uniform(choice_key) < weight, prior_action, policy_action)

  def acting_context(self) -> Any:
    if self.prior is None:
      return None
    scale = 1.0 if self.prior_schedule_steps <= 0 else min(
        1.0, self.training_steps / self.prior_schedule_steps)
    return {'previous_action': self._episode_previous_action(),
            'prior_weight': np.float32(scale)}

  def warmup_action(self, observation: np.ndarray) -> np.ndarray:
    if self.prior is None or not self.prior_warmup:
      return super().warmup_action(observation)
    return np.asarray(self._prior_sample(self.state.extensions['prior'],
                                         self._episode_previous_action(), self._base_key,
                                         self.action_count))

  # -- the previous action ------------------------------------------------------------------------

  def _one_prior_sample(self, prior_params, previous_action, base_key, counter):
    key = jax.random.fold_in(base_key, counter)
    return self.prior.sample(prior_params, previous_action[None], key)[0]

  def _episode_previous_action(self) -> np.ndarray:
    """The action the prior conditions on now: this episode's last action, or at its start one
    drawn from the prior's dataset actions (drawn once per episode, from the agent's Generator)."""
    if self._previous_action is None:
      self._previous_action = self._initial_actions[self._rng.integers(len(self._initial_actions))]
    return np.asarray(self._previous_action, np.float32)

  def begin_episode(self, observation: np.ndarray) -> Any:
    self._previous_action = None
    return super().begin_episode(observation)

  def _act(self, observation: np.ndarray) -> np.ndarray:
    action = super()._act(observation)
    self._previous_action = self._action  # in [-1, 1], as the replay stores it
    return action

  def _load_replay_state(self, bundle: Dict[str, Any]) -> None:
    super()._load_replay_state(bundle)
    # A checkpoint between two steps of an episode: the next step's previous action is the last.
    self._previous_action = self._action
