"""The files of a run directory besides metrics and checkpoints: `config.gin`, the operative gin
config, and `run.json`, what the run trains.

    <base_dir>/config.gin     the operative config (written by runner.train)
    <base_dir>/run.json       {'schedule', 'trains' ('agent' or 'learner'), 'class', 'seed',
                               'observation_space', 'action_space'}: what `load_component` needs
                               to rebuild the trained object before it restores a checkpoint
    <base_dir>/checkpoints/   runner/checkpoints.py
    <base_dir>/metrics.jsonl  runner/metrics.py

Spaces are written as JSON (Box: low, high, shape, dtype; Discrete: n, start; MultiDiscrete,
MultiBinary), so reading them needs nothing but gymnasium. This module is part of the run-directory
format: every layer may import it, and it imports nothing else from the zoo but runner/errors.py.
"""

import json
import os
from typing import Any, Dict

import gymnasium
import numpy as np

from runner import errors

CONFIG_FILE = 'config.gin'
RUN_FILE = 'run.json'
CHECKPOINTS_DIR = 'checkpoints'


def space_to_json(space: gymnasium.Space) -> Dict[str, Any]:
  """A JSON-serialisable description of an array space, exact for float32/64 bounds."""
  if isinstance(space, gymnasium.spaces.Box):
    return {'type': 'Box', 'low': space.low.tolist(), 'high': space.high.tolist(),
            'shape': list(space.shape), 'dtype': np.dtype(space.dtype).str}
  if isinstance(space, gymnasium.spaces.Discrete):
    return {'type': 'Discrete', 'n': int(space.n), 'start': int(space.start)}
  if isinstance(space, gymnasium.spaces.MultiDiscrete):
    return {'type': 'MultiDiscrete', 'nvec': space.nvec.tolist(),
            'dtype': np.dtype(space.dtype).str}
  if isinstance(space, gymnasium.spaces.MultiBinary):
    return {'type': 'MultiBinary', 'n': np.asarray(space.n).tolist()}
  # Recorded by name only: the run trains as usual, but cannot be loaded as a component.
  return {'type': 'unsupported', 'repr': repr(space)}


def space_from_json(description: Dict[str, Any]) -> gymnasium.Space:
  """Inverse of space_to_json."""
  kind = description['type']
  if kind == 'Box':
    dtype = np.dtype(description['dtype'])
    shape = tuple(description['shape'])
    low = np.asarray(description['low'], dtype).reshape(shape)
    high = np.asarray(description['high'], dtype).reshape(shape)
    return gymnasium.spaces.Box(low, high, shape, dtype)
  if kind == 'Discrete':
    return gymnasium.spaces.Discrete(description['n'], start=description['start'])
  if kind == 'MultiDiscrete':
    return gymnasium.spaces.MultiDiscrete(description['nvec'],
                                          dtype=np.dtype(description['dtype']))
  if kind == 'MultiBinary':
    return gymnasium.spaces.MultiBinary(description['n'])
  if kind == 'unsupported':
    raise errors.BadInputError(f'the run recorded the space {description["repr"]}, which cannot '
                               'be rebuilt from run.json (Box, Discrete, MultiDiscrete and '
                               'MultiBinary can)')
  raise ValueError(f'unknown space type {kind!r}')


def write_run_description(base_dir: str, schedule: str, trains: str, trained: Any, seed: int,
                          observation_space: gymnasium.Space,
                          action_space: gymnasium.Space) -> None:
  """Writes run.json (atomically; the same content on every resume of the same run)."""
  description = {'schedule': schedule, 'trains': trains,
                 'class': f'{type(trained).__module__}.{type(trained).__qualname__}',
                 'seed': int(seed), 'observation_space': space_to_json(observation_space),
                 'action_space': space_to_json(action_space)}
  path = os.path.join(base_dir, RUN_FILE)
  temporary = path + '.tmp'
  with open(temporary, 'w') as file:
    json.dump(description, file, indent=1, sort_keys=True)
  os.replace(temporary, path)


def read_run_description(base_dir: str) -> Dict[str, Any]:
  """run.json of a run directory, its spaces rebuilt; BadInputError naming what is missing."""
  if not os.path.isdir(base_dir):
    raise errors.BadInputError(f'{base_dir} is not a run directory: it does not exist')
  path = os.path.join(base_dir, RUN_FILE)
  if not os.path.isfile(path):
    raise errors.BadInputError(
        f'{base_dir} is not a run directory of this zoo (or one written before runs recorded '
        f'{RUN_FILE}): it has no {RUN_FILE}; train it with `python -um runner.train --base_dir '
        f'{base_dir} ...`')
  try:
    with open(path) as file:
      description = json.load(file)
    description['observation_space'] = space_from_json(description['observation_space'])
    # (a BadInputError for an unsupported space passes through with its own message)
    description['action_space'] = space_from_json(description['action_space'])
    for key in ('schedule', 'trains', 'class', 'seed'):
      description[key]  # pylint: disable=pointless-statement
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise errors.BadInputError(f'{path} is unreadable or incomplete ({error!r})') from error
  return description


def read_config(base_dir: str) -> str:
  """The operative gin config a run recorded; BadInputError when it has none."""
  path = os.path.join(base_dir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise errors.BadInputError(f'{base_dir} has no {CONFIG_FILE}: it is not a finished or '
                               'started run of runner.train')
  with open(path) as file:
    return file.read()
