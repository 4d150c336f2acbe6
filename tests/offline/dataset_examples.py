"""Example episodes and helpers shared by the offline dataset tests: episodes whose every value
says where it comes from (so that a view's output can be checked by eye), random episodes for
round trips, and a child Python process for the tests that need a second writer or a kill."""

import os
import subprocess
import sys
import textwrap

import gymnasium
import numpy as np

from offline import datasets

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTOR = gymnasium.spaces.Box(-np.inf, np.inf, (3,), np.float32)
DISCRETE = gymnasium.spaces.Discrete(4, start=1)
SCALAR = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)


def numbered_episodes(lengths):
  """Episode e of T steps: observation t is 10*e + t, action t is 100*e + t (scalar spaces)."""
  episodes = []
  for e, length in enumerate(lengths):
    t = np.arange(length)
    episodes.append(dict(
        observations=(10 * e + np.arange(length + 1)).astype(np.float32)[:, None],
        actions=(100 * e + t).astype(np.float32)[:, None],
        rewards=(1000 * e + t).astype(np.float64),
        terminations=t == length - 1 if e % 2 == 0 else np.zeros(length, bool),
        truncations=np.zeros(length, bool) if e % 2 == 0 else t == length - 1))
  return episodes


NUMBERED_OBSERVATIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)
NUMBERED_ACTIONS = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float32)


def write_numbered(path, lengths):
  datasets.write_dataset(path, numbered_episodes(lengths), NUMBERED_OBSERVATIONS, NUMBERED_ACTIONS)
  return datasets.load_dataset(path)


def random_episodes(rng, observation_space, action_space, lengths):
  episodes = []
  for length in lengths:
    if isinstance(observation_space, gymnasium.spaces.Box) and observation_space.dtype == np.uint8:
      observations = rng.integers(0, 256, (length + 1,) + observation_space.shape, dtype=np.uint8)
    else:
      observations = rng.normal(size=(length + 1,) + observation_space.shape).astype(np.float32)
    if isinstance(action_space, gymnasium.spaces.Discrete):
      actions = rng.integers(action_space.start, action_space.start + action_space.n, length)
    else:
      actions = rng.uniform(-1, 1, (length,) + action_space.shape).astype(np.float32)
    episodes.append(dict(observations=observations, actions=actions, rewards=rng.normal(size=length),
                         terminations=np.arange(length) == length - 1,
                         truncations=np.zeros(length, bool)))
  return episodes


def assert_episodes_equal(loaded, expected):
  assert len(loaded) == len(expected)
  for got, want in zip(loaded, expected):
    for key in ('observations', 'actions', 'rewards', 'terminations', 'truncations'):
      value = getattr(got, key)
      np.testing.assert_array_equal(value, want[key])
      assert value.dtype == np.asarray(want[key]).dtype or key == 'terminations', key


IMAGES = gymnasium.spaces.Box(0, 255, (32, 32, 3), np.uint8)  # what Minari would JPEG-encode


def run_python(code, **kwargs):
  return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
