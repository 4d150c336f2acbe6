"""MinAtar domain: observation layout, seeding that reproduces episodes, the time limit, and a clear
error for an unknown game."""

import numpy as np
import pytest

from discrete_domains import minatar


def play(env, seed, steps=40):
  observation, _ = env.reset(seed=seed)
  frames, rewards = [observation], []
  for t in range(steps):
    observation, reward, terminated, truncated, _ = env.step(t % env.action_space.n)
    frames.append(observation)
    rewards.append(reward)
    if terminated or truncated:
      break
  return np.array(frames), rewards, truncated


@pytest.mark.parametrize('game', minatar.GAMES)
def test_every_game_gives_binary_channels_last_frames(game):
  env = minatar.create_minatar_environment(game)
  observation, _ = env.reset(seed=0)
  assert observation.shape[:2] == (10, 10) and observation.dtype == bool
  assert env.observation_space.shape == observation.shape


def test_the_same_seed_replays_the_same_episode_and_another_seed_differs():
  first = play(minatar.create_minatar_environment('space_invaders'), seed=3, steps=200)
  again = play(minatar.create_minatar_environment('space_invaders'), seed=3, steps=200)
  other = play(minatar.create_minatar_environment('space_invaders'), seed=4, steps=200)
  np.testing.assert_array_equal(first[0], again[0])
  assert first[1] == again[1]
  assert len(first[0]) != len(other[0]) or not np.array_equal(first[0], other[0])


def test_time_limit_truncates():
  _, rewards, truncated = play(minatar.create_minatar_environment('freeway', max_episode_steps=7),
                               seed=0)
  assert truncated and len(rewards) == 7


def test_unknown_game_is_named():
  with pytest.raises(ValueError, match="'pong'"):
    minatar.create_minatar_environment('pong')
