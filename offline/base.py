"""The Learner contract, the offline twin of agents.base.Agent, and its gin factory.

A learner is what an offline run trains: a model fit to a fixed dataset (behaviour cloning, a DSM
delta-model, a GOM outcome model, an SFP prior). The OfflineRunner (runner/run_experiment.py,
schedule 'offline') drives it through iterations exactly as the Runner drives an agent:

    learner = learner_class(observation_space, action_space, seed=..., summary_writer=...,
                            dataset=dataset)
    statistics = learner.train(num_steps)      # gradient steps; many per jitted call
    statistics = learner.evaluate(iteration)   # after every iteration (may draw figures)
    learner.write_summaries(iteration)         # its own TensorBoard histograms / images
    bundle = learner.bundle_and_checkpoint(directory, iteration)
    learner.unbundle(directory, iteration, bundle)

A learner is built from the dataset's spaces and a seed; the dataset itself is optional, so that
`load_component` (offline/components.py) can rebuild a trained learner from its run directory
without its data. `export()` is what a loaded component hands to whoever loads it (a policy, a
prior, a delta-model), by default the learner itself.

Statistics must be deterministic given the seed (they go to metrics.jsonl) and finite (a NaN stops
the run before it is checkpointed). `train(n)` must give the same result however the runner splits
n into calls (the runner splits an iteration to move the progress bar), so a learner derives its
randomness from its count of steps, not from its count of calls.
"""

import abc
from typing import Any, Callable, Dict, Optional, Tuple

import flax.serialization
import gin
import gymnasium
import jax
import numpy as np

from agents import base as agent_base
from runner import errors
from runner import factories


class Learner(abc.ABC):
  """Base class of every offline learner; see the module docstring for the contract."""

  def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space,
               seed: int = 0, summary_writer: Optional[Any] = None, dataset: Optional[Any] = None):
    self.observation_space = observation_space
    self.action_space = action_space
    self.seed = seed
    self.summary_writer = summary_writer
    self.dataset = dataset
    self.training_steps = 0  # gradient steps taken so far (checkpointed by subclasses' bundles)

  def require_dataset(self) -> Any:
    """The dataset, or a BadInputError saying this learner was built without one (a loaded
    component cannot be trained further)."""
    if self.dataset is None:
      raise errors.BadInputError(f'{type(self).__name__} was built without a dataset: bind '
                                 '`load_dataset.path` to train it')
    return self.dataset

  @abc.abstractmethod
  def train(self, num_steps: int) -> Dict[str, float]:
    """Takes `num_steps` gradient steps; returns their mean statistics (losses...)."""

  def evaluate(self, iteration: int) -> Dict[str, float]:
    """Evaluates the model after `iteration` (held-out loss, returns of its policy...); may write
    figures to `summary_writer`. Deterministic given the seed."""
    del iteration
    return {}

  def write_summaries(self, iteration: int) -> None:
    """Writes the learner's own TensorBoard histograms or images for `iteration`."""
    del iteration

  @abc.abstractmethod
  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    """Everything needed to continue training bit for bit, as a pytree of arrays."""

  @abc.abstractmethod
  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    """Restores what bundle_and_checkpoint returned; False if it cannot."""

  def export(self) -> Any:
    """What `load_component` hands to whoever loads this learner's run (default: itself)."""
    return self


class StateLearner(Learner):
  """A learner whose whole trained state is one pytree, `self.state` (parameters, optimizer
  states, statistics of the data...), plus the device key `self._base_key` its steps fold in and
  its step count: checkpointing is written once, here. Subclasses set both in their constructor."""

  state: Any
  _base_key: Any

  def bundle_and_checkpoint(self, checkpoint_dir: str, iteration: int) -> Dict[str, Any]:
    del checkpoint_dir, iteration  # everything fits in the returned pytree
    return {'state': flax.serialization.to_state_dict(jax.device_get(self.state)),
            'base_key': np.asarray(jax.device_get(self._base_key)),
            'training_steps': np.int64(self.training_steps)}

  def unbundle(self, checkpoint_dir: str, iteration: int, bundle: Dict[str, Any]) -> bool:
    del checkpoint_dir, iteration
    self.state = agent_base.restore_pytree(self.state, bundle['state'], 'state')
    self._base_key = agent_base.restore_pytree(self._base_key, bundle['base_key'], 'base_key')
    self.training_steps = int(bundle['training_steps'])
    return True


def checked_slice(learner_name: str, setting: str, value: Any, size: int) -> Tuple[int, int]:
  """`value` as a (start, stop) pair with 0 <= start < stop <= size, a range of a flat observation
  of `size` entries; InvalidSettingError naming the setting otherwise."""
  try:
    start, stop = (int(bound) for bound in value)
  except (TypeError, ValueError) as error:
    raise errors.InvalidSettingError(f'{learner_name}.{setting} must be a (start, stop) pair, '
                                     f'got {value!r}') from error
  if not 0 <= start < stop <= size:
    raise errors.InvalidSettingError(f'{learner_name}.{setting} = {value!r} is not a range inside '
                                     f'the observation of {size} entries')
  return start, stop


def dataset_spaces(dataset: Any):
  """(observation_space, action_space) of a Dataset."""
  return dataset.observation_space, dataset.action_space


@gin.configurable
def create_learner(dataset: Optional[Any], seed: int, summary_writer: Any,
                   learner_class: Optional[Callable[..., Learner]] = None,
                   observation_space: Optional[gymnasium.Space] = None,
                   action_space: Optional[gymnasium.Space] = None) -> Learner:
  """Builds the learner class bound in gin (`create_learner.learner_class = @BCLearner`) for the
  dataset's spaces (or the given ones, when rebuilding without the dataset)."""
  errors.require_binding(learner_class, 'create_learner.learner_class',
                         'a learner class such as @BCLearner')
  if dataset is not None:
    observation_space, action_space = dataset_spaces(dataset)
  arguments = dict(seed=seed, summary_writer=summary_writer, dataset=dataset)
  factories.check_callable_as(
      learner_class, 'create_learner.learner_class', 'a learner class',
      'learner_class(observation_space, action_space, seed=..., summary_writer=..., dataset=...)',
      observation_space, action_space, **arguments)
  with errors.bad_input_from((ValueError,)):
    learner = learner_class(observation_space, action_space, **arguments)
  if not isinstance(learner, Learner):
    raise errors.BadInputError(f'create_learner.learner_class = {learner_class!r} built a '
                               f'{type(learner).__name__}, not an offline.base.Learner')
  return learner


def mean_statistics(parts: Any, weights: Any) -> Dict[str, float]:
  """The weighted mean of several calls' statistics (a list of dicts), key by key."""
  weights = np.asarray(weights, np.float64)
  keys = sorted({key for part in parts for key in part})
  return {key: float(np.average([part[key] for part in parts if key in part],
                                weights=[w for part, w in zip(parts, weights) if key in part]))
          for key in keys}
