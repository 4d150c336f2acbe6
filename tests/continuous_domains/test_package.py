"""The package's shared pieces, and that its modules import on a core install (runner/train.py
imports them all before parsing gin)."""

import subprocess
import sys

import gymnasium
import numpy as np
import pytest

import continuous_domains


def test_modules_import_without_any_simulator():
  hide_extras = ('import sys\n'
                 "for name in ('mujoco', 'gymnasium_robotics', 'metaworld'):\n"
                 '  sys.modules[name] = None  # `import name` now fails\n'
                 'import continuous_domains.metaworld, continuous_domains.mujoco, '
                 'continuous_domains.point_maze\n'
                 'print(sorted(name for name in sys.modules if name.startswith("mujoco")))\n')
  result = subprocess.run([sys.executable, '-c', hide_extras], capture_output=True, text=True,
                          check=True, timeout=60)
  assert result.stdout.strip() == "['mujoco']"  # only the blocked placeholder


def test_import_extra_names_the_extra(monkeypatch):
  assert continuous_domains.import_extra('numpy', 'core') is np
  monkeypatch.setitem(sys.modules, 'gymnasium_robotics', None)
  with pytest.raises(ImportError, match=r"'mujoco' extra, `pip install -e '\.\[mujoco\]'`"):
    continuous_domains.import_extra('gymnasium_robotics', 'mujoco')


def test_float32_observations_casts_values_and_bounds():
  env = gymnasium.make('MountainCarContinuous-v0')
  env.observation_space = gymnasium.spaces.Box(  # as a simulator's float64 space
      env.observation_space.low.astype(np.float64), env.observation_space.high.astype(np.float64),
      dtype=np.float64)
  cast = continuous_domains.float32_observations(env)
  assert cast.observation_space == gymnasium.spaces.Box(
      np.array([-1.2, -0.07], np.float32), np.array([0.6, 0.07], np.float32), dtype=np.float32)
  observation, _ = cast.reset(seed=0)
  assert observation.dtype == np.float32 and cast.observation_space.contains(observation)
  already = gymnasium.make('Pendulum-v1')
  assert continuous_domains.float32_observations(already) is already
