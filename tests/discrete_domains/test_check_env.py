"""Every discrete domain factory passes gymnasium's check_env (tests/env_checks.py), on more tasks
than the suite trains on: classic control, Atari with Dopamine's wrappers (and the optional ones),
all five MinAtar games, grid worlds with each observation type."""

import functools

import pytest

from discrete_domains import atari
from discrete_domains import classic
from discrete_domains import gridworld
from discrete_domains import minatar
from tests.env_checks import assert_passes_check_env

FACTORIES = [
    *[(classic.create_classic_environment, dict(environment_name=name))
      for name in ('CartPole-v1', 'Acrobot-v1', 'MountainCar-v0')],
    (atari.create_atari_environment, dict(game_name='Pong')),
    (atari.create_atari_environment, dict(game_name='Breakout', terminal_on_life_loss=True)),
    # PSDRL's variant: one 64x64 frame scaled to [0, 1], so float observations.
    (atari.create_atari_environment, dict(game_name='Breakout', screen_size=64, stack_size=1,
                                          scale_observations=True)),
    *[(minatar.create_minatar_environment, dict(game_name=game)) for game in minatar.GAMES],
    (minatar.create_minatar_environment, dict(game_name='freeway', max_episode_steps=50)),
    *[(gridworld.create_gridworld_environment, dict(layout=layout, observation_type=observation))
      for layout, observation in (('four_rooms', 'one_hot'), ('maze', 'row_col'),
                                  ('open_5x5', 'pixels'))],
    (gridworld.create_gridworld_environment, dict(layout='#####\n#S..#\n#.#.#\n#..G#\n#####',
                                                  goal_reward=True, random_start=False)),
]


@pytest.mark.parametrize('factory,arguments', FACTORIES, ids=[
    f'{factory.__name__}({",".join(f"{k}={v}" for k, v in arguments.items())})'
    for factory, arguments in FACTORIES])
def test_factory_passes_check_env(factory, arguments):
  assert_passes_check_env(functools.partial(factory, **arguments))
