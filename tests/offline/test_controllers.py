"""The scripted data sources of offline/controllers.py: the BFS path by hand, the waypoint expert's
success on PointMaze (flat and dict observations, moving goals), the SFP room controller's goals
and directions, the Meta-world reach expert, and determinism for a seed."""

import gymnasium
import numpy as np
import pytest

from continuous_domains.metaworld import create_metaworld_environment
from continuous_domains.point_maze import create_point_maze_environment
from continuous_domains.sfp_maze import create_sfp_maze_environment
from offline.controllers import (MetaWorldReachController, Policy, PointMazeWaypointController,
                                 SFPRoomGoalController, UniformRandomPolicy, shortest_path)


def run_episode(env, policy, seed, rng, max_steps=None):
  """(actions, last info, terminated) of one episode of `policy` driven as the collector does."""
  observation, info = env.reset(seed=seed)
  policy.reset(env, observation, info, rng)
  actions, terminated, steps = [], False, 0
  while max_steps is None or steps < max_steps:
    action = policy(observation, info)
    actions.append(action)
    observation, _, terminated, truncated, info = env.step(action)
    steps += 1
    if terminated or truncated:
      break
  return np.array(actions), info, terminated


def test_every_source_is_a_policy():
  for policy in (UniformRandomPolicy(), PointMazeWaypointController(), SFPRoomGoalController(),
                 MetaWorldReachController()):
    assert isinstance(policy, Policy)


# ---------------------------------------------------------------------------------------------
# shortest_path

TINY_MAP = [[1, 1, 1, 1, 1],
            [1, 0, 0, 0, 1],
            [1, 1, 1, 0, 1],
            [1, 'g', 0, 'r', 1],
            [1, 1, 1, 1, 1]]


def test_shortest_path_by_hand():
  # Around the U: right along the top, down the right side, left along the bottom.
  assert shortest_path(TINY_MAP, (1, 1), (3, 1)) == [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2),
                                                     (3, 1)]
  assert shortest_path(TINY_MAP, (3, 3), (3, 3)) == [(3, 3)]
  # Two equally short paths around a pillar: up is tried before right, so the upper one.
  pillar = [[0, 0, 0],
            [0, 1, 0],
            [0, 0, 0]]
  assert shortest_path(pillar, (1, 0), (1, 2)) == [(1, 0), (0, 0), (0, 1), (0, 2), (1, 2)]


def test_shortest_path_refuses_walls_and_unreachable_goals():
  with pytest.raises(ValueError, match='free'):
    shortest_path(TINY_MAP, (0, 0), (1, 1))
  with pytest.raises(ValueError, match='no path'):
    shortest_path([[0, 1, 0]], (0, 0), (0, 2))


# ---------------------------------------------------------------------------------------------
# PointMazeWaypointController


@pytest.mark.parametrize('maze, episodes', [('UMaze', 20), ('Medium', 10)])
def test_waypoint_controller_reaches_random_goals(maze, episodes):
  # Episodic: reaching the goal (within 0.45) terminates; the time limit is the registered one.
  env = create_point_maze_environment(maze, continuing_task=False)
  controller = PointMazeWaypointController()
  rng = np.random.default_rng(0)
  reached = [run_episode(env, controller, seed, rng)[2] for seed in range(episodes)]
  assert np.mean(reached) >= 0.9


def test_waypoint_controller_takes_the_dict_observation_alike():
  flat_env = create_point_maze_environment('UMaze')
  dict_env = create_point_maze_environment('UMaze', flatten_observation=False)
  flat_actions, _, _ = run_episode(flat_env, PointMazeWaypointController(), 3,
                                   np.random.default_rng(0), max_steps=60)
  dict_actions, _, _ = run_episode(dict_env, PointMazeWaypointController(), 3,
                                   np.random.default_rng(0), max_steps=60)
  # The flat observation is float32, the dict one float64: the same actions up to that rounding.
  np.testing.assert_allclose(flat_actions, dict_actions, atol=1e-4)
  assert flat_env.action_space.contains(flat_actions[0])


def test_waypoint_controller_follows_a_moving_goal():
  # A continuing task drawing a new goal on each arrival: the controller must replan each time.
  env = create_point_maze_environment('UMaze', continuing_task=True, reset_target=True,
                                      max_episode_steps=1000)
  controller = PointMazeWaypointController()
  observation, info = env.reset(seed=1)
  controller.reset(env, observation, info, np.random.default_rng(0))
  arrivals = 0
  for _ in range(1000):
    observation, _, _, _, info = env.step(controller(observation, info))
    arrivals += info['success']
  assert arrivals >= 8  # about 64 steps a goal on UMaze


def test_waypoint_controller_plans_a_shortest_path_to_the_goal_cell():
  env = create_point_maze_environment('UMaze')
  controller = PointMazeWaypointController()
  # UMaze's cells: start at the bottom left, goal at the top left: the path goes round the U.
  observation, info = env.reset(seed=0, options={'reset_cell': (3, 1), 'goal_cell': (1, 1)})
  controller.reset(env, observation, info, np.random.default_rng(0))
  controller(observation, info)
  assert controller.path == [(3, 1), (3, 2), (3, 3), (2, 3), (1, 3), (1, 2), (1, 1)]


# ---------------------------------------------------------------------------------------------
# UniformRandomPolicy


def test_uniform_random_policy_is_uniform_over_a_box_from_the_rng():
  env = create_point_maze_environment('UMaze')
  policy = UniformRandomPolicy()
  observation, info = env.reset(seed=0)
  policy.reset(env, observation, info, np.random.default_rng(5))
  actions = np.array([policy(observation, info) for _ in range(4000)])
  assert actions.dtype == np.float32 and np.all(np.abs(actions) <= 1)
  np.testing.assert_allclose(actions.mean(axis=0), 0, atol=0.05)
  np.testing.assert_allclose(actions.var(axis=0), 1 / 3, atol=0.03)
  expected = np.random.default_rng(5).uniform(-1, 1, size=(4000, 2)).astype(np.float32)
  np.testing.assert_array_equal(actions, expected)


def test_uniform_random_policy_on_discrete_actions():
  env = gymnasium.make('CartPole-v1')
  policy = UniformRandomPolicy()
  observation, info = env.reset(seed=0)
  policy.reset(env, observation, info, np.random.default_rng(0))
  actions = [policy(observation, info) for _ in range(1000)]
  assert set(actions) == {0, 1} and abs(np.mean(actions) - 0.5) < 0.06


# ---------------------------------------------------------------------------------------------
# Determinism


@pytest.mark.parametrize('make_env, make_policy', [
    (lambda: create_point_maze_environment('UMaze'), UniformRandomPolicy),
    (lambda: create_point_maze_environment('UMaze'),
     lambda: PointMazeWaypointController(noise_std=0.2)),
    (lambda: create_sfp_maze_environment('room'), SFPRoomGoalController),
])
def test_same_rng_seed_gives_the_same_actions(make_env, make_policy):
  env = make_env()
  first, _, _ = run_episode(env, make_policy(), 4, np.random.default_rng(11), max_steps=150)
  again, _, _ = run_episode(env, make_policy(), 4, np.random.default_rng(11), max_steps=150)
  other, _, _ = run_episode(env, make_policy(), 4, np.random.default_rng(12), max_steps=150)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)


# ---------------------------------------------------------------------------------------------
# SFPRoomGoalController


def room_controller(**kwargs):
  env = create_sfp_maze_environment('room')
  controller = SFPRoomGoalController(**kwargs)
  observation, info = env.reset(seed=0)
  controller.reset(env, observation, info, np.random.default_rng(0))
  return env, controller


def test_room_controller_heads_for_its_goal_with_unit_steps():
  env, controller = room_controller()
  position = np.array([0.0, 0.0])
  controller.goal = np.array([3.0, 4.0])
  observation = np.concatenate([position, env.unwrapped.goal]).astype(np.float32)
  actions = []
  for _ in range(50):  # under the timeout, far from the goal: always the same goal
    actions.append(controller(observation, {}))
  np.testing.assert_array_equal(controller.goal, [3.0, 4.0])
  actions = np.array(actions)
  # Mean direction: the unit vector to the goal; the spread: N(0, 0.05^2) per coordinate.
  np.testing.assert_allclose(actions.mean(axis=0), [0.6, 0.8], atol=0.03)
  np.testing.assert_allclose(actions.std(axis=0), [0.05, 0.05], atol=0.02)
  _, noiseless = room_controller(noise_std=0.0)
  noiseless.goal = np.array([-5.0, 1.0])
  action = noiseless(observation, {})
  np.testing.assert_allclose(np.linalg.norm(action), 1.0, rtol=1e-6)
  np.testing.assert_allclose(action, np.array([-5.0, 1.0]) / np.sqrt(26), rtol=1e-6)


def test_room_controller_draws_goals_in_the_room_on_arrival_and_after_the_timeout():
  env, controller = room_controller(goal_timeout=60, arrival_radius=0.5)
  room = env.unwrapped
  far = np.array([0.0, 0.0, 0.0, 0.0], dtype=np.float32)
  controller.goal = np.array([10.0, 10.0])
  for _ in range(60):
    controller(far, {})
  np.testing.assert_array_equal(controller.goal, [10.0, 10.0])  # 60 steps on one goal
  controller(far, {})
  assert not np.array_equal(controller.goal, [10.0, 10.0])  # the 61st starts a new one
  # Arrival (within 0.5): a new goal at once.
  controller.goal = np.array([2.0, -3.0])
  controller(np.array([2.3, -3.3, 0, 0], np.float32), {})
  assert not np.array_equal(controller.goal, [2.0, -3.0])
  goals = []
  for _ in range(200):
    controller.goal = np.array([1.0, 1.0])
    controller(np.array([1.0, 1.0, 0, 0], np.float32), {})
    goals.append(controller.goal)
  goals = np.array(goals)
  assert np.all(goals >= room.position_low) and np.all(goals <= room.position_high)
  # Uniform over [-13.5, 13.5]^2: the whole room is covered.
  assert goals.min() < -10 and goals.max() > 10


def test_room_controller_moves_the_point_around_the_room():
  env = create_sfp_maze_environment('room')
  controller = SFPRoomGoalController()
  observation, info = env.reset(seed=2)
  controller.reset(env, observation, info, np.random.default_rng(2))
  goals, positions = {tuple(controller.goal)}, []
  for _ in range(500):
    action = controller(observation, info)
    assert env.action_space.contains(action)
    observation, _, _, truncated, info = env.step(action)
    goals.add(tuple(controller.goal))
    positions.append(observation[:2])
  assert truncated
  assert len(goals) >= 500 // 60  # at least one goal per timeout
  assert np.ptp(np.array(positions), axis=0).min() > 15


# ---------------------------------------------------------------------------------------------
# MetaWorldReachController


def test_metaworld_reach_controller_reaches_the_goal():
  env = create_metaworld_environment('reach-v3', resample_goal=True, max_episode_steps=150,
                                     terminate_on_success=True)
  controller = MetaWorldReachController()
  rng = np.random.default_rng(0)
  successes = []
  for seed in range(5):
    actions, info, _ = run_episode(env, controller, seed, rng)
    successes.append(info['success'])
    assert np.all(np.abs(actions) <= 1)
  assert np.mean(successes) >= 0.8


def test_metaworld_reach_controller_own_goals_and_gripper():
  env = create_metaworld_environment('reach-v3', max_episode_steps=200)
  controller = MetaWorldReachController(own_goals=True, gripper=0.0, noise_std=0.0)
  observation, info = env.reset(seed=0)
  controller.reset(env, observation, info, np.random.default_rng(0))
  goals = [controller.goal.copy()]
  for _ in range(200):
    action = controller(observation, info)
    assert action[3] == 0.0
    observation, _, _, _, info = env.step(action)
    if not np.array_equal(controller.goal, goals[-1]):
      goals.append(controller.goal.copy())
  assert len(goals) >= 3  # its own goals, drawn anew on arrival
  hidden = create_metaworld_environment('reach-v3', goal_observable=False)
  observation, info = hidden.reset(seed=0)
  with pytest.raises(ValueError, match='goal_observable'):
    MetaWorldReachController().reset(hidden, observation, info, np.random.default_rng(0))
