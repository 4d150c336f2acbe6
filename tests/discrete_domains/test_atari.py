"""Atari preprocessing of `create_atari_environment`, checked against ale-py itself.

Each test runs the same game through a bare `ale_py.ALEInterface` and redoes the preprocessing by
hand (frame skip with max-pooling over the last two frames, grayscale, `cv2.INTER_AREA` resize,
zero-padded stacking of 4 frames, rewards summed over the skipped frames), then compares with the
environment exactly: observations and rewards step by step, the no-ops at reset, sticky actions
(seeded as gymnasium's `AtariEnv` seeds ALE), the life-loss episodes of `terminal_on_life_loss`
(the game goes on), the episode cap and the frame counter, PSDRL's 64x64 scaled single frames, and
the error for an unknown game.
"""

import ale_py
import cv2
import numpy as np
import pytest

from discrete_domains.atari import create_atari_environment
from runner import errors

ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)


# Hand replication with ale-py.


def ale_seeds(seed):
  """The seeds that `AtariEnv.reset(seed=seed)` gives its numpy generator and ALE."""
  np_seed, ale_seed = np.random.SeedSequence(seed).generate_state(n_words=2)
  return int(np_seed), np.int32(ale_seed)


def make_raw_ale(rom, seed, sticky_action_probability=0.0):
  """A bare ALE for `rom` ('pong', ...) as `env.reset(seed=seed)` leaves it before its no-ops."""
  ale = ale_py.ALEInterface()
  ale.setFloat('repeat_action_probability', sticky_action_probability)
  ale.setInt('random_seed', ale_seeds(seed)[1])
  ale.loadROM(ale_py.roms.get_rom_path(rom))
  ale.reset_game()
  return ale


def raw_agent_step(ale, action, frame_skip=4):
  """Plays `action` for `frame_skip` frames: the last two grayscale screens, the summed reward."""
  screens, reward = [], 0
  for _ in range(frame_skip):
    reward += ale.act(action)
    screens.append(ale.getScreenGrayscale())
  return screens[-2:], reward


def hand_frame(screens, screen_size=84):
  """The max over `screens` (one at reset, two after a step), resized as Dopamine does."""
  return cv2.resize(np.maximum.reduce(screens), (screen_size, screen_size),
                    interpolation=cv2.INTER_AREA)


def zero_padded_stacks(frames, stack_size=4):
  """The stack after each of `frames` (the first at reset): the last `stack_size`, zeros before."""
  padded = [np.zeros_like(frames[0])] * (stack_size - 1) + list(frames)
  return [np.stack(padded[i:i + stack_size]) for i in range(len(frames))]


def hand_run(rom, seed, actions, sticky_action_probability=0.0, screen_size=84):
  """Frames (reset first) and rewards of playing minimal-set `actions` on a bare ALE, no no-ops."""
  ale = make_raw_ale(rom, seed, sticky_action_probability)
  action_set = ale.getMinimalActionSet()
  frames, rewards = [hand_frame([ale.getScreenGrayscale()], screen_size)], []
  for action in actions:
    screens, reward = raw_agent_step(ale, action_set[action])
    frames.append(hand_frame(screens, screen_size))
    rewards.append(reward)
  return frames, rewards


def env_run(env, seed, actions):
  """Observations (reset first) and rewards of playing `actions` in `env` after `reset(seed)`."""
  observation, _ = env.reset(seed=seed)
  observations, rewards = [observation], []
  for action in actions:
    observation, reward, terminated, truncated, _ = env.step(action)
    assert not (terminated or truncated)
    observations.append(observation)
    rewards.append(reward)
  return observations, rewards


def random_actions(num_actions, length, seed=0):
  return np.random.default_rng(seed).integers(0, num_actions, size=length).tolist()


def assert_all_equal(actual, expected):
  assert len(actual) == len(expected)
  for step, (a, e) in enumerate(zip(actual, expected)):
    assert a.dtype == e.dtype and np.array_equal(a, e), f'differs at step {step}'


# Pong's first point falls at frame 256 (agent step 64) when the agent loses it.
PONG_STEPS = 70


def test_frame_skip_max_pooling_resize_stacking_and_reward_match_raw_ale():
  env = create_atari_environment('Pong', sticky_action_probability=0.0, noop_max=0)
  actions = random_actions(env.action_space.n, PONG_STEPS)
  observations, rewards = env_run(env, seed=3, actions=actions)
  frames, hand_rewards = hand_run('pong', seed=3, actions=actions)
  assert env.observation_space.shape == (4, 84, 84)
  assert_all_equal(observations, zero_padded_stacks(frames))
  assert not observations[0][:3].any() and observations[0][3].any()  # the reset stack is padded
  assert rewards == hand_rewards and any(rewards)
  # The max-pooling is seen: the last screen of a step alone would give other frames.
  ale = make_raw_ale('pong', seed=3)
  action_set = ale.getMinimalActionSet()
  unpooled = [hand_frame(raw_agent_step(ale, action_set[a])[0][-1:]) for a in actions]
  assert any(not np.array_equal(u, f) for u, f in zip(unpooled, frames[1:]))


def test_reset_plays_between_1_and_noop_max_noops_drawn_from_the_env_generator():
  # Freeway's screen changes at every one of its first frames, so the frame tells the no-op count.
  env = create_atari_environment('Freeway', sticky_action_probability=0.0, noop_max=30)
  noop_counts = []
  for seed in range(4):
    observation, _ = env.reset(seed=seed)
    ale = make_raw_ale('freeway', seed)
    noop_frames = [hand_frame([ale.getScreenGrayscale()])]
    for _ in range(30):
      ale.act(ale_py.Action.NOOP)
      noop_frames.append(hand_frame([ale.getScreenGrayscale()]))
    matches = [k for k, frame in enumerate(noop_frames) if np.array_equal(observation[3], frame)]
    assert len(matches) == 1 and 1 <= matches[0] <= 30
    noops = matches[0]
    # As AtariPreprocessing draws it, from the generator AtariEnv seeds with `seed`.
    assert noops == np.random.Generator(np.random.PCG64(ale_seeds(seed)[0])).integers(1, 31)
    assert env.unwrapped.ale.getEpisodeFrameNumber() == noops
    assert not observation[:3].any()
    noop_counts.append(noops)
  assert len(set(noop_counts)) >= 2


def test_sticky_action_probability_reaches_ale():
  env = create_atari_environment('Pong')
  assert env.unwrapped.ale.getFloat('repeat_action_probability') == 0.25
  env = create_atari_environment('Pong', sticky_action_probability=0.0)
  assert env.unwrapped.ale.getFloat('repeat_action_probability') == 0.0


def test_sticky_actions_match_raw_ale_seeded_as_atari_env():
  env = create_atari_environment('Pong', sticky_action_probability=0.25, noop_max=0)
  actions = random_actions(env.action_space.n, 40)
  observations, rewards = env_run(env, seed=5, actions=actions)
  sticky_frames, sticky_rewards = hand_run('pong', 5, actions, sticky_action_probability=0.25)
  assert_all_equal(observations, zero_padded_stacks(sticky_frames))
  assert rewards == sticky_rewards
  plain_frames, _ = hand_run('pong', 5, actions, sticky_action_probability=0.0)
  assert any(not np.array_equal(s, p) for s, p in zip(sticky_frames, plain_frames))


BREAKOUT_FIRE, BREAKOUT_NOOP = 1, 0


def play_until_a_life_is_lost(env, max_steps=500):
  """FIRE, then NOOP until ALE's lives drop (Breakout misses the ball): the last step's outcome."""
  ale = env.unwrapped.ale
  lives = ale.lives()
  action = BREAKOUT_FIRE
  for _ in range(max_steps):
    outcome = env.step(action)
    action = BREAKOUT_NOOP
    if ale.lives() < lives or outcome[2] or outcome[3]:
      return outcome
  raise AssertionError(f'no life lost in {max_steps} steps')


def test_terminal_on_life_loss_ends_the_episode_but_not_the_game():
  env = create_atari_environment('Breakout', sticky_action_probability=0.0, noop_max=0,
                                 terminal_on_life_loss=True)
  ale = env.unwrapped.ale
  first_observation, _ = env.reset(seed=0)
  assert ale.lives() == 5
  observation, _, terminated, truncated, _ = play_until_a_life_is_lost(env)
  assert terminated and not truncated
  assert ale.lives() == 4 and not ale.game_over()
  frame_number = ale.getEpisodeFrameNumber()

  # Reset without a seed: the same game goes on from where it was.
  new_observation, info = env.reset()
  assert info['life_loss_reset']
  assert ale.lives() == 4 and ale.getEpisodeFrameNumber() == frame_number
  assert not new_observation[:3].any() and np.array_equal(new_observation[3], observation[3])
  env.step(BREAKOUT_NOOP)
  assert ale.getEpisodeFrameNumber() == frame_number + 4
  _, _, terminated, truncated, _ = play_until_a_life_is_lost(env)
  assert terminated and not truncated and ale.lives() == 3 and not ale.game_over()

  # Reset with a seed: a new game.
  observation, _ = env.reset(seed=0)
  assert ale.lives() == 5 and ale.getEpisodeFrameNumber() == 0
  assert np.array_equal(observation, first_observation)


def test_without_terminal_on_life_loss_a_lost_life_does_not_end_the_episode():
  env = create_atari_environment('Breakout', sticky_action_probability=0.0, noop_max=0)
  env.reset(seed=0)
  _, _, terminated, truncated, _ = play_until_a_life_is_lost(env)
  assert env.unwrapped.ale.lives() == 4
  assert not terminated and not truncated


def test_episode_cap_truncates_at_the_last_agent_step_of_four_frames():
  env = create_atari_environment('Pong', sticky_action_probability=0.0, noop_max=0,
                                 max_episode_steps=10)
  env.reset(seed=0)
  ale = env.unwrapped.ale
  assert ale.getEpisodeFrameNumber() == 0
  outcomes, frame_numbers = [], []
  for _ in range(10):
    outcomes.append(env.step(0)[2:4])
    frame_numbers.append(ale.getEpisodeFrameNumber())
  assert outcomes == [(False, False)] * 9 + [(False, True)]
  assert frame_numbers == list(range(4, 44, 4))


def test_psdrl_variant_gives_scaled_64x64_single_frames():
  env = create_atari_environment('Pong', sticky_action_probability=0.0, noop_max=0,
                                 screen_size=64, stack_size=1, scale_observations=True)
  assert env.observation_space.shape == (64, 64) and env.observation_space.dtype == np.float32
  actions = random_actions(env.action_space.n, 12)
  observations, _ = env_run(env, seed=0, actions=actions)
  frames, _ = hand_run('pong', 0, actions, screen_size=64)
  assert_all_equal(observations, [frame.astype(np.float32) / 255.0 for frame in frames])
  assert all(0.0 <= o.min() and o.max() <= 1.0 for o in observations)


def test_unknown_game_is_named():
  with pytest.raises(ValueError, match='NoSuchGame'):
    create_atari_environment('NoSuchGame')


def test_a_missing_game_name_is_a_missing_binding():
  with pytest.raises(errors.MissingBindingError, match='create_atari_environment.game_name'):
    create_atari_environment()


def test_ram_position_reports_the_chosen_ram_bytes_after_resets_and_steps():
  env = create_atari_environment('MontezumaRevenge', noop_max=0, terminal_on_life_loss=True,
                                 ram_position=(3, 42, 43))
  ale = env.unwrapped.ale
  _, info = env.reset(seed=0)
  assert info['position'] == (1, 77, 235)  # the first room (1), where the man starts
  positions = {info['position']}
  rng = np.random.default_rng(0)
  for _ in range(300):
    _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
    ram = ale.getRAM()
    assert info['position'] == (int(ram[3]), int(ram[42]), int(ram[43]))
    positions.add(info['position'])
    if terminated or truncated:
      _, info = env.reset()  # a lost life: the game goes on, and the position is reported
      assert info['position'] == tuple(int(ale.getRAM()[a]) for a in (3, 42, 43))
  assert len(positions) > 10


@pytest.mark.parametrize('addresses', [(3, 128), (-1,), ()])
def test_ram_positions_outside_the_ram_are_refused(addresses):
  with pytest.raises(errors.InvalidSettingError, match='ram_position'):
    create_atari_environment('MontezumaRevenge', ram_position=addresses)
