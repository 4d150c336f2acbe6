"""Classic-control domain factory."""

import gymnasium
import pytest

from discrete_domains import classic


@pytest.mark.parametrize('name, observation_size, num_actions, time_limit', [
    ('CartPole-v1', 4, 2, 500), ('Acrobot-v1', 6, 3, 500), ('MountainCar-v0', 2, 3, 200)])
def test_environments_have_the_expected_spaces_and_time_limits(name, observation_size,
                                                               num_actions, time_limit):
  env = classic.create_classic_environment(name)
  assert env.observation_space.shape == (observation_size,)
  assert env.action_space == gymnasium.spaces.Discrete(num_actions)
  assert env.spec.max_episode_steps == time_limit


def test_time_limit_is_reported_as_truncation():
  env = classic.create_classic_environment('MountainCar-v0', max_episode_steps=3)
  env.reset(seed=0)
  outcomes = [env.step(0)[2:4] for _ in range(3)]
  assert outcomes == [(False, False), (False, False), (False, True)]


def test_unknown_environment_is_named():
  with pytest.raises(gymnasium.error.Error, match='NoSuchGame'):
    classic.create_classic_environment('NoSuchGame-v0')
