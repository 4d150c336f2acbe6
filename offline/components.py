"""Trained components: what a run trained, rebuilt from its own run directory alone.

DSM delta-models, GOM outcome models, SFP priors and BC policies are trained by `runner.train`
with the offline schedule, and handed to agents through gin:

    PolicyAgent.policy = @load_component()
    load_component.base_dir = 'runs/bc_umaze'

or, several in one config, through gin scopes:

    DSMAgent.delta_models = [@left/load_component(), @right/load_component()]
    left/load_component.base_dir = 'runs/dsm_left'

A component is rebuilt from its run's own `config.gin` and `run.json` (runner/run_directory.py),
parsed in a gin configuration of its own: whatever the caller's gin config binds (the same MLP
configured differently in the agent that loads it, say) does not reach it, and nothing of the
component's configuration leaks into the caller's (its operative config included). Then the
newest complete checkpoint is restored with the zoo's one restore loop
(checkpoints.Checkpointer.restore_newest), leaving someone else's corrupt checkpoints in place.

`load_component` returns `learner.export()` of an offline run; `restore_trained(base_dir,
'agent')` rebuilds the agent of an online run the same way (offline/collection.py's AgentPolicy).
A missing, unfinished or corrupt run directory, or a run of the wrong kind, is a BadInputError
naming it.
"""

import contextlib
import os
from typing import Any, Iterator, Optional

import gin

from offline import base
from runner import checkpoints
from runner import errors
from runner import factories
from runner import run_directory

# The drivers' configurables, in every run's config.gin: a component never calls them, and the
# learning code that loads it does not import the drivers that register them.
DRIVER_CONFIGURABLES = ('Runner', 'TrainRunner', 'EvalRunner', 'OfflineRunner', 'create_runner')


@contextlib.contextmanager
def isolated_gin_config() -> Iterator[None]:
  """Inside the block gin's configuration is empty (no bindings, imports, operative record or
  active scope); after it, the caller's is back exactly as it was.

  gin keeps one global configuration and has no public way to nest another, so this saves the
  module state that gin.clear_config clears (bindings, imports, the operative record, singletons,
  the lock) and puts it back.
  """
  state = gin.config
  saved_bindings = {key: dict(values) for key, values in state._CONFIG.items()}  # pylint: disable=protected-access
  saved_imports = set(state._IMPORTS)  # pylint: disable=protected-access
  with state._OPERATIVE_CONFIG_LOCK:  # pylint: disable=protected-access
    saved_operative = {key: dict(values) for key, values in state._OPERATIVE_CONFIG.items()}  # pylint: disable=protected-access
  saved_singletons = dict(state._SINGLETONS)  # pylint: disable=protected-access
  locked = gin.config_is_locked()
  try:
    with gin.config_scope(None):
      gin.clear_config()
      yield
  finally:
    gin.clear_config()
    state._CONFIG.update(saved_bindings)  # pylint: disable=protected-access
    state._IMPORTS.update(saved_imports)  # pylint: disable=protected-access
    with state._OPERATIVE_CONFIG_LOCK:  # pylint: disable=protected-access
      state._OPERATIVE_CONFIG.update(saved_operative)  # pylint: disable=protected-access
    state._SINGLETONS.update(saved_singletons)  # pylint: disable=protected-access
    state._set_config_is_locked(locked)  # pylint: disable=protected-access


def restore_trained(base_dir: str, trains: str, seed: Optional[int] = None) -> Any:
  """The agent ('agent') or learner ('learner') that the run in `base_dir` trained, rebuilt from
  its own config and restored from its newest complete checkpoint; `seed` replaces the run's own
  (an agent's acting stream; the restored state is the checkpoint's either way)."""
  description = run_directory.read_run_description(base_dir)
  if description['trains'] != trains:
    article = lambda noun: ('an ' if noun[0] in 'aeiou' else 'a ') + noun  # noqa: E731
    raise errors.BadInputError(
        f'{base_dir} is a {description["schedule"]!r} run of {description["class"]}, which trains '
        f'{article(description["trains"])}, not {article(trains)}'
        + (': load_component loads offline runs (create_runner.schedule = \'offline\')'
           if trains == 'learner' else ''))
  config = run_directory.read_config(base_dir)
  checkpointer = checkpoints.Checkpointer(os.path.join(base_dir, run_directory.CHECKPOINTS_DIR))
  if not checkpointer.iterations():
    raise errors.BadInputError(f'{base_dir} has no complete checkpoint: the run is unfinished (it '
                               'has not completed an iteration) or its checkpoints were removed')
  seed = description['seed'] if seed is None else seed
  spaces = dict(observation_space=description['observation_space'],
                action_space=description['action_space'])
  with isolated_gin_config():
    with errors.bad_input_from((ValueError, ImportError, SyntaxError, AttributeError, OSError),
                               f'cannot read the config.gin of {base_dir}'):
      gin.parse_config(config, skip_unknown=list(DRIVER_CONFIGURABLES))
    with errors.bad_input_from((ValueError, ImportError),
                               f'cannot rebuild the {trains} of {base_dir}'):
      if trains == 'learner':
        trained = base.create_learner(None, seed, None, **spaces)
      else:
        trained = factories.create_agent(spaces['observation_space'], spaces['action_space'],
                                         seed, None)
  restored = checkpointer.restore_newest(
      trained.unbundle, restorer=f'the {trains} built from its config ({type(trained).__name__})',
      quarantine_corrupt=False)
  if restored is None:  # the checkpoints went away since they were listed
    raise errors.BadInputError(f'{base_dir} has no complete checkpoint')
  return trained


@gin.configurable
def load_component(base_dir: Optional[str] = None) -> Any:
  """What the offline run in `base_dir` exports (`learner.export()`: a policy, a prior, a
  delta-model), rebuilt from that run directory alone; see the module docstring."""
  errors.require_binding(base_dir, 'load_component.base_dir',
                         'the --base_dir of an offline `runner.train` run')
  return restore_trained(os.fspath(base_dir), 'learner').export()
