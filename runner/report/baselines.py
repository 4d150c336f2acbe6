"""Dopamine's published baseline curves, drawn against the groups that ran its protocol.

A group gets Dopamine's mean curve over its seeds when its domain factory declares a Dopamine
baseline file (`TaskDeclaration.dopamine_file`: Atari `<game>.json`, MuJoCo `mj_<task>.json`) and
its agent class declares Dopamine's names for it (`Agent.dopamine_baseline_names`: DQNAgent 'DQN',
or 'DQN (Adam + MSE in JAX)' with the MSE loss; RainbowAgent 'Rainbow'; SACAgent 'SAC'); see
declarations.py. The curve's points are at the agent steps that end each Dopamine iteration
(`TaskDeclaration.dopamine_steps_per_iteration`: 250,000 on Atari, 1,000 on MuJoCo). Those curves
are training-episode returns; a missing file or agent is a note in the report.

The files the report uses ship with this package (`dopamine_baselines/`, the default
`--baselines_dir`); any directory of files in Dopamine's format can be given instead.
"""

import dataclasses
import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from runner.errors import BadInputError
from runner.report import declarations as declarations_lib
from runner.report.gin_text import find_binding, format_value

DEFAULT_BASELINES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     'dopamine_baselines')
MSE_DQN = 'DQN (Adam + MSE in JAX)'
# What Dopamine's agents are, for the report: they are not this zoo's configurations.
BASELINE_REMARKS = {
    'DQN': "Dopamine's \"DQN\" curve is its original DQN (RMSProp, Huber loss).",
    MSE_DQN: "Dopamine's \"DQN (Adam + MSE in JAX)\" curve is its JAX DQN with the MSE loss.",
    'Rainbow': "Dopamine's \"Rainbow\" is its compact Rainbow (C51, 3-step returns, prioritized "
               "replay; no double DQN, dueling or noisy nets), not full Rainbow.",
}


@dataclasses.dataclass
class Baseline:
  """Dopamine's mean curve for one agent and task: value at the agent step ending each iteration."""
  agent: str
  path: str
  steps: np.ndarray
  mean: np.ndarray
  seeds: int

  @property
  def description(self) -> str:
    return f"Dopamine {self.agent} ({os.path.basename(self.path)}, {self.seeds} seeds)"

  def at(self, steps: float) -> Optional[float]:
    """The curve at `steps`, linearly interpolated; None outside the curve."""
    if not len(self.steps) or not self.steps[0] <= steps <= self.steps[-1]:
      return None
    return float(np.interp(steps, self.steps, self.mean))


def baseline_file_name(pattern: str, task: str) -> str:
  """`pattern` formatted with the task in lower case, without a version suffix or punctuation:
  ('mj_{}.json', 'HalfCheetah-v5') -> mj_halfcheetah.json."""
  return pattern.format(re.sub(r'[^a-z0-9]', '', re.sub(r'-v\d+$', '', task.lower())))


def _read_curve(path: str, candidates: List[str], steps_per_iteration: int
                ) -> Tuple[Optional[Baseline], str]:
  """The first of `candidates` the file has (else the last), averaged over its seeds."""
  try:
    with open(path) as file:
      records = json.load(file)
    agents = {record['Agent'] for record in records}
    agent = next((name for name in candidates if name in agents), candidates[-1])
    by_iteration: Dict[float, List[float]] = {}
    for record in records:
      if record['Agent'] == agent:
        by_iteration.setdefault(float(record['Iteration']), []).append(float(record['Value']))
  except (ValueError, KeyError, TypeError) as error:
    raise BadInputError(f'{path}: not a Dopamine baseline file ({error!r})') from error
  if not by_iteration:
    return None, f'{path} has no agent {agent!r} (it has {", ".join(sorted(map(str, agents)))})'
  iterations = np.array(sorted(by_iteration))
  # Dopamine's iteration i ends after i + 1 iterations' steps.
  return Baseline(agent, path, (iterations + 1) * steps_per_iteration,
                  np.array([np.mean(by_iteration[i]) for i in iterations]),
                  max(len(values) for values in by_iteration.values())), ''


def load_baseline(bindings: Dict[str, Any], baselines_dir: str,
                  declarations: Optional[declarations_lib.Declarations] = None
                  ) -> Tuple[Optional[Baseline], str]:
  """Dopamine's curve for a run's task and agent class, or (None, why not; '' when the run is not
  on a task Dopamine published). `declarations`: what the zoo declares, found when not given."""
  declarations = declarations or declarations_lib.find_declarations()
  for task, declaration in declarations.dopamine_tasks(bindings):
    candidates = list(declarations.baseline_names(bindings))
    if not candidates:
      agent_class = find_binding(bindings, 'create_agent', 'agent_class')
      return None, f'no Dopamine baseline for agent {format_value(agent_class)} on {task}'
    path = os.path.join(baselines_dir, baseline_file_name(declaration.dopamine_file, task))
    if not os.path.isfile(path):
      return None, f'no Dopamine baseline file for {task}: {path} does not exist'
    return _read_curve(path, candidates, declaration.dopamine_steps_per_iteration)
  return None, ''
