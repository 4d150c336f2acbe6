"""`DSMAgent`: acting with delta-models trained offline (offline/dsm/), zero-shot.

Each delta-model describes one policy (the data policy of its offline run, `DeltaModel.policy`)
and predicts that policy's return distribution for any reward function of states. The agent:

  - at every episode's start state, predicts each model's return distribution for the selection
    reward `reward_fn` and acts for the whole episode with the policy whose distribution scores
    best under the risk measure (`risk_measure`: 'mean', or 'cvar', the mean of the worst
    `cvar_level` fraction of the atoms): choosing among policies for a new reward with no
    retraining;
  - for each reward function of `logged_reward_fns` (and the selection reward), logs the chosen
    model's predicted distribution against the return realised in the episode, sum_k gamma^k r(s_k)
    over the visited observations (s_0 included, as the delta-model's occupancy includes it): the
    predicted mean and spread, the realised return, and the realised return's quantile among the
    atoms, which is uniform on [0, 1] (mean 0.5) when the predictions are calibrated.

Delta-models arrive through gin, one or several (`DSMAgent.delta_models =
[@left/load_component(), @right/load_component()]`), reward functions by name
(`DSMAgent.reward_fn = @pendulum_upright`, offline/dsm/rewards.py). The agent learns nothing:
its checkpoint is its random generator, from which each episode reseeds the chosen policy, so a
resumed run acts exactly as an uninterrupted one.
"""

import math
import types
from typing import Any, Callable, Dict, Mapping, Optional

import gin
import gymnasium
import numpy as np

from agents import base
from offline.dsm.rewards import reward_name, rewards_of
from runner import errors

RISK_MEASURES = ('mean', 'cvar')


def risk_score(returns: np.ndarray, measure: str = 'mean', cvar_level: float = 0.1) -> float:
  """A return distribution's score, given as equally weighted atoms: their mean, or their
  conditional value at risk at `cvar_level`, the mean of the lowest ceil(level x atoms) atoms (the
  expected return in the worst cases)."""
  returns = np.sort(np.asarray(returns, np.float64).reshape(-1))
  if measure == 'mean':
    return float(returns.mean())
  if measure == 'cvar':
    return float(returns[:max(1, math.ceil(cvar_level * len(returns)))].mean())
  raise errors.InvalidSettingError(f'unknown risk measure {measure!r}; choose one of '
                                   f'{RISK_MEASURES}')


def realised_quantile(predicted: np.ndarray, realised: float) -> float:
  """The fraction of predicted atoms below the realised return (ties count half): a sample of
  the probability integral transform, uniform on [0, 1] for calibrated predictions."""
  predicted = np.asarray(predicted, np.float64)
  return float(np.mean(predicted < realised) + 0.5 * np.mean(predicted == realised))


@gin.configurable
class DSMAgent(base.ActingAgent):
  """Zero-shot policy selection and return prediction with delta-models (see the module
  docstring). `num_samples`: samples per atom in each read-out."""

  def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               seed: int = 0, summary_writer: Optional[Any] = None,
               delta_models: Any = None,
               reward_fn: Optional[Callable[[Any], Any]] = None,
               risk_measure: str = 'mean',
               cvar_level: float = 0.1,
               logged_reward_fns: Optional[Mapping[str, Callable[[Any], Any]]] = None,
               num_samples: int = 1024):
    super().__init__(observation_space, action_space, seed, summary_writer)
    name = type(self).__name__
    errors.require_binding(delta_models, f'{name}.delta_models',
                           'one or several delta-models, e.g. @load_component()')
    models = list(delta_models) if isinstance(delta_models, (list, tuple)) else [delta_models]
    if not models:
      raise errors.InvalidSettingError(f'{name}.delta_models is empty')
    for index, model in enumerate(models):
      missing = [part for part in ('return_distributions', 'policy', 'gamma', 'observation_space')
                 if not hasattr(model, part)]
      if missing:
        raise errors.BadInputError(f'{name}.delta_models[{index}] = {model!r} is not a '
                                   f'delta-model: it has no {", ".join(missing)}')
      if model.policy is None:
        raise errors.BadInputError(
            f'{name}.delta_models[{index}] describes no policy to act with: bind '
            '`DeltaModelLearner.policy` (the data policy, e.g. @AgentPolicy()) in its offline run')
      if model.observation_space != observation_space:
        raise base.IncompatibleSpaceError(
            f'{name} cannot use delta_models[{index}], trained for observations '
            f'{model.observation_space!r}, in the observation space {observation_space!r}')
    if reward_fn is None and len(models) > 1:
      raise errors.MissingBindingError(f'{name}.reward_fn is unbound: choosing among '
                                       f'{len(models)} policies needs the reward to choose for')
    if risk_measure not in RISK_MEASURES:
      raise errors.InvalidSettingError(f'{name}.risk_measure = {risk_measure!r}; choose one of '
                                       f'{RISK_MEASURES}')
    if not 0.0 < cvar_level <= 1.0:
      raise errors.InvalidSettingError(f'{name}.cvar_level must be in (0, 1], got {cvar_level}')
    if isinstance(num_samples, bool) or int(num_samples) < 1:
      raise errors.InvalidSettingError(f'{name}.num_samples must be at least 1, got '
                                       f'{num_samples!r}')
    self.delta_models = models
    self.reward_fn = reward_fn
    self.risk_measure, self.cvar_level = risk_measure, float(cvar_level)
    self.logged_reward_fns: Dict[str, Callable[[Any], Any]] = dict(logged_reward_fns or {})
    if reward_fn is not None:
      self.logged_reward_fns.setdefault(reward_name(reward_fn), reward_fn)
    self.num_samples = int(num_samples)
    # What a collection policy's reset reads from an environment: its spaces.
    self._spaces = types.SimpleNamespace(observation_space=observation_space,
                                         action_space=action_space)
    self.chosen: Optional[int] = None
    self._predictions: Dict[str, np.ndarray] = {}
    self._observations = []
    self._episodes = []  # per finished episode: chosen model and per-reward records
    self._histograms: Dict[str, list] = {}

  # -- acting --------------------------------------------------------------------------------------

  def choose(self, observation: np.ndarray) -> int:
    """The index of the model whose predicted return distribution for `reward_fn` from
    `observation` scores best under the risk measure (the only model when there is one and no
    reward)."""
    if self.reward_fn is None:
      return 0
    scores = [risk_score(model.return_distribution(observation, self.reward_fn,
                                                   self.num_samples),
                         self.risk_measure, self.cvar_level)
              for model in self.delta_models]
    return int(np.argmax(scores))

  def begin_episode(self, observation: np.ndarray) -> Any:
    self.chosen = self.choose(observation)
    model = self.delta_models[self.chosen]
    self._predictions = {name: model.return_distribution(observation, reward, self.num_samples)
                         for name, reward in self.logged_reward_fns.items()}
    self._observations = [np.asarray(observation)]
    model.policy.reset(self._spaces, observation, {}, self._rng)
    return model.policy(observation, {})

  def step(self, reward: float, observation: np.ndarray) -> Any:
    del reward
    self._observations.append(np.asarray(observation))
    return self.delta_models[self.chosen].policy(observation, {})

  def end_episode(self, reward: float, terminated: bool,
                  observation: Optional[np.ndarray] = None) -> None:
    del reward
    if observation is not None:
      self._observations.append(np.asarray(observation))
    if self.chosen is None:
      return
    gamma = self.delta_models[self.chosen].gamma
    visited = np.stack(self._observations)
    if terminated:
      # The terminal state is absorbing: the occupancy stays on it for the infinite horizon.
      tail = gamma ** len(visited) / (1.0 - gamma)
    else:
      tail = 0.0  # truncated: the rest of the infinite-horizon return is unobserved
    discounts = gamma ** np.arange(len(visited))
    records = {}
    for name, reward_fn in self.logged_reward_fns.items():
      rewards = rewards_of(reward_fn, visited.reshape(len(visited), -1), name)
      realised = float(discounts @ rewards + tail * rewards[-1])
      predicted = self._predictions[name]
      records[name] = dict(predicted_mean=float(predicted.mean()),
                           predicted_std=float(predicted.std()), realised_return=realised,
                           realised_quantile=realised_quantile(predicted, realised))
      self._histograms.setdefault(f'agent/{name}/predicted_returns', []).append(predicted)
      self._histograms.setdefault(f'agent/{name}/realised_returns', []).append([realised])
    self._episodes.append((self.chosen, records))
    self.chosen = None

  # -- what is logged ------------------------------------------------------------------------------

  def iteration_statistics(self) -> Dict[str, float]:
    """Per reward: the means over the iteration's episodes of the predicted mean and spread, the
    realised return and its quantile among the atoms; per model, the fraction of episodes it was
    chosen for. (The Runner logs them as agent/<name>.)"""
    if not self._episodes:
      return {}
    statistics = {f'chosen_fraction_{index}':
                  float(np.mean([chosen == index for chosen, _ in self._episodes]))
                  for index in range(len(self.delta_models))}
    for name in self.logged_reward_fns:
      for field in ('predicted_mean', 'predicted_std', 'realised_return', 'realised_quantile'):
        statistics[f'{name}/{field}'] = float(np.mean(
            [records[name][field] for _, records in self._episodes]))
    self._episodes = []
    return statistics

  def iteration_histograms(self) -> Dict[str, np.ndarray]:
    histograms = {tag: np.concatenate([np.ravel(values) for values in parts])
                  for tag, parts in self._histograms.items()}
    self._histograms = {}
    return histograms
