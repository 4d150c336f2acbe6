"""DeepSea against bsuite 0.3.6's rules, as hand-checked expectations (bsuite is not needed): the
action mapping's draw, positions, rewards and ends of hand-written episodes, the move cost, the
stochastic variant's draws and statistics, observations of each type, seeding, check_env, and
clear errors for bad settings. The literal numbers below were read from the real bsuite."""

import gymnasium
import numpy as np
import pytest

from discrete_domains import deep_sea
from runner import errors
from tests.env_checks import assert_passes_check_env

# bsuite's DeepSea(5, mapping_seed=42)._action_mapping and DeepSea(4, mapping_seed=42)'s.
MAPPING_5_SEED_42 = [[0, 1, 1, 1, 0],
                     [0, 0, 1, 1, 1],
                     [0, 1, 1, 0, 0],
                     [0, 0, 1, 0, 0],
                     [1, 0, 0, 0, 0]]
MAPPING_4_SEED_42 = [[0, 1, 1, 1],
                     [0, 0, 0, 1],
                     [1, 1, 0, 1],
                     [1, 0, 0, 0]]


def make(size=4, **arguments):
  return deep_sea.create_deep_sea_environment(size, **arguments)


def play_moves(env, moves, seed=0):
  """Positions, rewards and terminations of `moves` ('R' right, 'L' left, translated through the
  environment's action mapping) after reset(seed)."""
  mapping = env.unwrapped.action_mapping
  _, info = env.reset(seed=seed)
  positions, rewards, ends = [info['position']], [], []
  for move in moves:
    row, column = info['position']
    right_action = int(mapping[row, column])
    _, reward, terminated, truncated, info = env.step(right_action if move == 'R'
                                                      else 1 - right_action)
    assert not truncated
    positions.append(info['position'])
    rewards.append(reward)
    ends.append(terminated)
  return positions, rewards, ends


def test_action_mapping_is_bsuites_draw():
  np.testing.assert_array_equal(deep_sea.action_mapping(5, 42), MAPPING_5_SEED_42)
  np.testing.assert_array_equal(deep_sea.action_mapping(5, 42),
                                np.random.RandomState(42).binomial(1, 0.5, [5, 5]))
  np.testing.assert_array_equal(make(4).unwrapped.action_mapping, MAPPING_4_SEED_42)
  assert not np.array_equal(deep_sea.action_mapping(10, 0), deep_sea.action_mapping(10, 1))
  # bsuite's debugging variant: action 1 is 'right' everywhere.
  np.testing.assert_array_equal(make(3, randomize_actions=False).unwrapped.action_mapping,
                                np.ones((3, 3)))


def test_all_right_earns_one_minus_the_move_costs():
  positions, rewards, ends = play_moves(make(4), 'RRRR')
  assert positions == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 3)]  # (4, 3): below the grid
  # Each right costs 0.01 / 4; the bottom-right cell's right pays 1 besides.
  np.testing.assert_allclose(rewards, [-0.0025, -0.0025, -0.0025, 1 - 0.0025], atol=1e-15)
  assert ends == [False, False, False, True]
  assert sum(rewards) == pytest.approx(0.99)
  assert make(4).unwrapped.optimal_return == pytest.approx(0.99)


def test_any_left_move_leaves_only_the_costs():
  for code in range(2 ** 4 - 1):  # every sequence but all-right
    moves = ''.join('R' if code >> step & 1 else 'L' for step in range(4))
    _, rewards, ends = play_moves(make(4), moves)
    assert sum(rewards) == pytest.approx(-0.0025 * moves.count('R')), moves
    assert ends == [False, False, False, True], moves


def test_moves_are_clipped_at_the_edges():
  assert play_moves(make(4), 'LRRL')[0] == [(0, 0), (1, 0), (2, 1), (3, 2), (4, 1)]
  assert play_moves(make(3), 'LLL')[0] == [(0, 0), (1, 0), (2, 0), (3, 0)]
  # The only reachable cells have column <= row: the corner only by moving right each time.
  assert play_moves(make(3), 'RLR')[0] == [(0, 0), (1, 1), (2, 0), (3, 1)]


def test_raw_actions_follow_the_mapping():
  env = make(4)
  env.reset(seed=0)
  # MAPPING_4_SEED_42 has 0 on its diagonal: action 0 is right at (0, 0), (1, 1) and (2, 2), and
  # action 1 is left at (3, 3), losing the reward.
  steps = [env.step(action) for action in (0, 0, 0, 1)]
  assert [info['position'] for *_, info in steps] == [(1, 1), (2, 2), (3, 3), (4, 2)]
  assert [reward for _, reward, *_ in steps] == pytest.approx([-0.0025] * 3 + [0.0])
  env = make(3, randomize_actions=False)
  env.reset(seed=0)
  assert [env.step(action)[4]['position'] for action in (1, 0, 1)] == [(1, 1), (2, 0), (3, 1)]


def test_unscaled_move_cost():
  _, rewards, _ = play_moves(make(5, unscaled_move_cost=0.1), 'RRRRR')
  np.testing.assert_allclose(rewards, [-0.02] * 4 + [0.98], atol=1e-15)
  assert make(5, unscaled_move_cost=0.1).unwrapped.optimal_return == pytest.approx(0.9)
  _, rewards, _ = play_moves(make(5, unscaled_move_cost=0.0), 'RRRRL')
  assert rewards == [0.0] * 5


def test_size_one_is_one_step():
  assert play_moves(make(1), 'R')[1:] == ([pytest.approx(0.99)], [True])
  assert play_moves(make(1), 'L')[1:] == ([0.0], [True])


def test_observations_of_each_type():
  pixels, vector = make(3, observation_type='pixels'), make(3, observation_type='vector')
  assert pixels.observation_space == gymnasium.spaces.Box(0.0, 1.0, (3, 3), np.float32)
  assert vector.observation_space == gymnasium.spaces.Box(0.0, 1.0, (9,), np.float32)
  image, _ = pixels.reset(seed=0)
  np.testing.assert_array_equal(image, [[1, 0, 0], [0, 0, 0], [0, 0, 0]])
  assert image.dtype == np.float32
  mapping = pixels.unwrapped.action_mapping
  for action in (int(mapping[0, 0]), 1 - int(mapping[1, 1])):  # right, then left
    image = pixels.step(action)[0]
  np.testing.assert_array_equal(image, [[0, 0, 0], [0, 0, 0], [1, 0, 0]])
  # The last step takes the agent below the grid: an all-zero observation, as bsuite's.
  np.testing.assert_array_equal(pixels.step(0)[0], np.zeros((3, 3)))
  # The vector is the image flattened, row by row.
  vector.reset(seed=0)
  images, vectors = [pixels.reset(seed=0)[0]], [vector.reset(seed=0)[0]]
  for action in (1, 0, 1):
    images.append(pixels.step(action)[0])
    vectors.append(vector.step(action)[0])
  for image, flat in zip(images, vectors):
    assert flat.dtype == np.float32
    np.testing.assert_array_equal(flat, image.reshape(-1))


def test_stochastic_draws_are_bsuites_for_the_seed():
  # bsuite's DeepSea(3, deterministic=False, seed=0, mapping_seed=42), always right, four episodes
  # back to back: a noise draw on reaching the corner, and a failed right in the fourth.
  env = make(3, deterministic=False)
  expected = [
      ([-1 / 300, -1 / 300, 1.975404650772406], (3, 2)),
      ([-1 / 300, -1 / 300, 3.2375598658681244], (3, 2)),
      ([-1 / 300, -1 / 300, 1.1407102378275447], (3, 2)),
      ([-1 / 300, -1 / 300, -1 / 300], (3, 1)),
  ]
  for episode, (rewards, end) in enumerate(expected):
    positions, played, ends = play_moves(env, 'RRR', seed=0 if episode == 0 else None)
    np.testing.assert_allclose(played, rewards, rtol=1e-12, atol=1e-15)
    assert positions[-1] == end and ends == [False, False, True]
  assert deep_sea.optimal_return(10, deterministic=False) == pytest.approx(0.37742048900)


def test_stochastic_noise_is_only_in_the_bottom_rows_end_cells():
  # bsuite's values for seed 0: the bottom row's first column draws noise too (a left-only
  # episode's last reward is RandomState(0)'s first normal), a middle column draws none.
  env = make(4, deterministic=False)
  assert play_moves(env, 'LLLL', seed=0)[1] == [0.0, 0.0, 0.0, pytest.approx(1.764052345967664)]
  assert np.random.RandomState(0).randn() == pytest.approx(1.764052345967664)
  positions, rewards, _ = play_moves(env, 'RRLL', seed=0)
  assert positions[3] == (3, 1)
  assert rewards == pytest.approx([-0.0025, -0.0025, 0.0, 0.0])


def test_stochastic_statistics_over_seeds():
  size, episodes = 3, 1500
  env = make(size, deterministic=False)
  reached, moved, tried, noise = 0, 0, 0, []
  for seed in range(episodes):
    positions, rewards, _ = play_moves(env, 'R' * size, seed=seed)
    columns = [column for _, column in positions]
    # Rights before the last column either move (1 - 1/N) or fail.
    for before, after in zip(columns[:size - 1], columns[1:size]):
      tried += 1
      moved += after - before
    if columns[size - 1] == size - 1:
      reached += 1
      # In the corner: 1 and the cost besides N(0, 1) noise.
      noise.append(rewards[-1] - 1 + 0.01 / size)
  assert moved / tried == pytest.approx(1 - 1 / size, abs=0.03)
  assert reached / episodes == pytest.approx((1 - 1 / size) ** (size - 1), abs=0.04)
  assert np.mean(noise) == pytest.approx(0.0, abs=0.1)
  assert np.std(noise) == pytest.approx(1.0, abs=0.1)
  # The deterministic variant never fails and has no noise.
  assert play_moves(make(size), 'R' * size, seed=1)[0][-1] == (size, size - 1)


def test_reset_seeds_only_the_stochastic_draws():
  env = make(5, deterministic=False)
  first = play_moves(env, 'RRRRR', seed=7)
  # Unseeded resets continue the seeded stream (as bsuite's episodes share one): they do not
  # replay the seed's episode.
  continued = [play_moves(env, 'RRRRR', seed=None) for _ in range(3)]
  assert continued != [first] * 3
  assert play_moves(env, 'RRRRR', seed=7) == first
  assert [play_moves(env, 'RRRRR', seed=None) for _ in range(3)] == continued
  # The mapping is the task's, whatever the seed.
  np.testing.assert_array_equal(env.unwrapped.action_mapping, deep_sea.action_mapping(5, 42))


def test_step_after_the_end_needs_a_reset():
  env = make(2)
  env.reset(seed=0)
  env.step(0)
  env.step(0)
  with pytest.raises(gymnasium.error.ResetNeeded):
    env.step(0)


def test_registered_with_its_task_declaration():
  env = make(6)
  assert env.spec.id == deep_sea.ENVIRONMENT_ID == 'DeepSea-v0'
  assert env.spec.kwargs['size'] == 6
  assert deep_sea.create_deep_sea_environment.report_task.parameters == ('size',)


@pytest.mark.parametrize('arguments', [dict(), dict(size=5, observation_type='pixels'),
                                       dict(size=6, deterministic=False, mapping_seed=3)])
def test_passes_check_env_and_is_rebuilt_from_its_spec(arguments):
  assert_passes_check_env(lambda: deep_sea.create_deep_sea_environment(**arguments))


@pytest.mark.parametrize('arguments,parameter', [
    (dict(size=0), 'size'),
    (dict(size=-3), 'size'),
    (dict(size=2.5), 'size'),
    (dict(size=True), 'size'),
    (dict(observation_type='rgb'), 'observation_type'),
    (dict(mapping_seed=-1), 'mapping_seed'),
    (dict(mapping_seed=2 ** 32), 'mapping_seed'),
    (dict(mapping_seed=None), 'mapping_seed'),
    (dict(unscaled_move_cost=float('nan')), 'unscaled_move_cost'),
])
def test_bad_settings_are_named(arguments, parameter):
  with pytest.raises(errors.InvalidSettingError, match=parameter):
    deep_sea.create_deep_sea_environment(**arguments)


def test_success_marks_the_step_that_finds_the_treasure():
  env = make(4)
  _, info = env.reset(seed=0)
  assert info['success'] is False
  # MAPPING_4_SEED_42: action 0 is right at (0, 0), (1, 1) and (2, 2), action 1 at (3, 3).
  successes = [bool(env.step(action)[4]['success']) for action in (0, 0, 0, 1)]
  assert successes == [False, False, False, False]
  env.reset(seed=0)
  mapping = env.unwrapped.action_mapping
  successes = [bool(env.step(int(mapping[step, step]))[4]['success']) for step in range(4)]
  assert successes == [False, False, False, True]
