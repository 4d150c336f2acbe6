"""Full Rainbow as Dopamine's `full_rainbow` (Hessel et al., 2018): C51 distributional returns,
n-step targets, double DQN, dueling heads, prioritized replay and noisy networks as switches.

The agent is DQN's shell (clock, replay, checkpoints: agents/dqn.py) with three things changed: the
network returns logits over `num_atoms` return atoms per action, the loss is the cross-entropy to
the projected n-step target distribution, and with noisy networks exploration comes from the
weight noise (a fresh draw per action and per update, none in evaluation) instead of epsilon.
Its histograms are DQN's: `agent/q_values` (the means of the replayed actions' distributions),
`agent/td_loss` (the cross-entropies) and `agent/priorities`. Methods built on Rainbow (DCEO) add
their own networks, losses and policies through the shell's extension hooks (agents/dqn.py).
"""

from typing import Any, Callable, Dict, Optional, Tuple

import gin
import gymnasium
import jax
import jax.numpy as jnp

from agents import dqn
from agents import losses
from agents import networks


def rainbow_loss(network, support: jnp.ndarray, double_dqn: bool, params, target_params,
                 batch: Dict[str, jnp.ndarray],
                 key: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Per-transition C51 loss: cross-entropy between the online distribution of the taken action
  and the target distribution, the target network's distribution at the next observation for
  action a*, shifted to reward + discount * z and projected onto the support. Also returns the
  taken action's Q-value, the mean of that online distribution (for the agent's histograms).

  a* = argmax of the online network's Q-values (double DQN) or the target network's. One noise
  draw serves both next-observation passes, another the online pass (as Dopamine).
  """
  target_key, online_key = jax.random.split(key)
  target_logits = network.apply(target_params, batch['next_observation'],
                                rngs={'noise': target_key})
  # Gradients never flow through the argmax; stopping them at the parameters lets XLA drop the
  # selector pass from the backward graph outright.
  selector_logits = (network.apply(jax.lax.stop_gradient(params), batch['next_observation'],
                                   rngs={'noise': target_key})
                     if double_dqn else target_logits)
  next_action = jnp.argmax(expected_values(selector_logits, support), axis=-1)
  next_probabilities = jax.nn.softmax(
      jnp.take_along_axis(target_logits, next_action[:, None, None], axis=1)[:, 0], axis=-1)
  shifted_atoms = batch['reward'][:, None] + batch['discount'][:, None] * support[None, :]
  target = losses.categorical_projection(shifted_atoms, next_probabilities, support)

  logits = network.apply(params, batch['observation'], rngs={'noise': online_key})
  chosen_logits = jnp.take_along_axis(logits, batch['action'][:, None, None], axis=1)[:, 0]
  return (losses.softmax_cross_entropy(target, chosen_logits),
          expected_values(chosen_logits, support))


def expected_values(logits: jnp.ndarray, support: jnp.ndarray) -> jnp.ndarray:
  """Q-values: the mean of each action's return distribution, (..., actions, atoms) ->
  (..., actions)."""
  return jnp.sum(jax.nn.softmax(logits, axis=-1) * support, axis=-1)


@gin.configurable
class RainbowAgent(dqn.DQNAgent):
  """Dopamine's JaxFullRainbowAgent. Arguments not listed here (gamma, update_horizon, replay
  capacity, optimizer, ...) are DQNAgent's, and gin files set them as `DQNAgent.*`, as Dopamine's
  `full_rainbow.gin` sets `JaxDQNAgent.*`."""

  def __init__(self,
               observation_space: gymnasium.Space,
               action_space: gymnasium.Space,
               seed: int = 0,
               summary_writer: Optional[Any] = None,
               network: Callable[..., Any] = networks.RainbowNetwork,
               num_atoms: int = 51,
               vmax: float = 10.0,
               vmin: Optional[float] = None,
               noisy: bool = True,
               dueling: bool = True,
               double_dqn: bool = True,
               replay_scheme: str = 'prioritized',
               **dqn_arguments):
    if num_atoms < 2:
      raise ValueError(f'RainbowAgent needs at least 2 atoms, got num_atoms={num_atoms}')
    vmin = -float(vmax) if vmin is None else float(vmin)
    if not vmin < vmax:
      raise ValueError(f'RainbowAgent needs vmin < vmax, got [{vmin}, {vmax}]')
    self.support = jnp.linspace(vmin, float(vmax), num_atoms)
    self.num_atoms = num_atoms
    self.noisy = noisy
    self.dueling = dueling
    self.double_dqn = double_dqn
    if noisy:
      # Noisy networks explore; Dopamine's full Rainbow then ignores epsilon_train.
      dqn_arguments['epsilon_fn'] = losses.zero_epsilon
    super().__init__(observation_space, action_space, seed, summary_writer, network=network,
                     replay_scheme=replay_scheme, **dqn_arguments)

  @classmethod
  def dopamine_baseline_names(cls, binding: Callable[[str, str], Any]) -> tuple[str, ...]:
    """Dopamine's compact Rainbow (C51, n-step, prioritized replay), the nearest it published."""
    del binding
    return ('Rainbow',)

  def _make_network(self, network: Callable[..., Any]):
    return network(num_actions=self.num_actions, num_atoms=self.num_atoms, noisy=self.noisy,
                   dueling=self.dueling)

  def _per_transition_loss(self, params, target_params, batch,
                           key) -> Tuple[jnp.ndarray, jnp.ndarray]:
    return rainbow_loss(self.network, self.support, self.double_dqn, params, target_params,
                        batch, key)

  def _q_values(self, params, observations, key, deterministic) -> jnp.ndarray:
    logits = self.network.apply(params, observations, deterministic, rngs={'noise': key})
    return expected_values(logits, self.support)
