"""Continuous-control environment factories (MuJoCo, point mazes, Meta-world), each returning a gymnasium.Env.

The simulators are optional extras: every module here imports them inside its factory, so that
importing the factories (as runner/train.py does before parsing gin) works on a core install, and
only building an environment asks for the extra. What the factories share is below.
"""

import importlib
from types import ModuleType

import gymnasium
import numpy as np


def import_extra(module_name: str, extra: str) -> ModuleType:
  """`module_name`, or an ImportError that says which extra of the zoo installs it."""
  try:
    return importlib.import_module(module_name)
  except ImportError as error:
    raise ImportError(f'{module_name} is not installed: it comes with the {extra!r} extra, '
                      f"`pip install -e '.[{extra}]'` ({error})") from error


def float32_observations(env: gymnasium.Env) -> gymnasium.Env:
  """`env` with its Box observations, and the Box's bounds, cast to float32 (the dtype the zoo's
  agents take; the simulators hand out float64). Bounds and values round the same way, so an
  observation inside the float64 Box stays inside the float32 one."""
  space = env.observation_space
  if space.dtype == np.float32:
    return env
  # Built here rather than by gymnasium's DtypeObservation, which warns at every construction that
  # the bounds lose precision.
  float32_space = gymnasium.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32),
                                       dtype=np.float32)
  return gymnasium.wrappers.TransformObservation(
      env, lambda observation: np.asarray(observation, dtype=np.float32), float32_space)
