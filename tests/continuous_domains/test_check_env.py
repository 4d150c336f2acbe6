"""Every continuous domain factory passes gymnasium's check_env (tests/env_checks.py), on more
tasks than the suite trains on: MuJoCo locomotion and Pendulum, the three PointMazes (flattened
and as dicts), SFP's room, corridor and maze, two Meta-world tasks."""

import functools

import pytest

from continuous_domains import metaworld
from continuous_domains import mujoco
from continuous_domains import point_maze
from continuous_domains import sfp_maze
from tests.env_checks import assert_passes_check_env

FACTORIES = [
    *[(mujoco.create_mujoco_environment, dict(environment_name=name))
      for name in ('Hopper', 'HalfCheetah', 'Pendulum-v1')],
    *[(point_maze.create_point_maze_environment, dict(maze=maze))
      for maze in ('UMaze', 'Medium', 'Large')],
    (point_maze.create_point_maze_environment, dict(maze='UMaze', flatten_observation=False,
                                                    reward_type='dense')),
    *[(sfp_maze.create_sfp_maze_environment, dict(layout=layout))
      for layout in ('room', 'corridor', 'maze')],
    (metaworld.create_metaworld_environment, dict(task_name='reach-v3')),
    (metaworld.create_metaworld_environment, dict(task_name='push-v3', resample_goal=True)),
]


@pytest.mark.parametrize('factory,arguments', FACTORIES, ids=[
    f'{factory.__name__}({",".join(f"{k}={v}" for k, v in arguments.items())})'
    for factory, arguments in FACTORIES])
def test_factory_passes_check_env(factory, arguments):
  assert_passes_check_env(functools.partial(factory, **arguments))
