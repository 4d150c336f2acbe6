"""PSDRL's model networks and pure functions: shapes at the reference sizes (init and shapes only),
the GRU rollout against a loop of the cell, a sampled last layer against features @ W, value
targets worked by hand on a model whose outputs are known, the random tie-break, and jit.

The functions run jitted with their modules as static arguments (how the agent will call them,
and faster here than op by op); test_acting_jits compares jit with eager."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import bayesian_last_layer as bll
from agents import psdrl_model as pm
from agents.networks import xavier_uniform
from runner import errors

# Tiny sizes: latent 3, GRU 4, 3 actions, features 6.
LATENT, HIDDEN, ACTIONS = 3, 4, 3
TRANSITION = pm.TransitionModel(num_actions=ACTIONS, latent_size=LATENT, hidden_size=HIDDEN,
                                mlp_sizes=(5, 6))

# The modules are static: flax modules hash.
episode_features = jax.jit(pm.episode_features, static_argnums=0)
recurrent_states = jax.jit(pm.recurrent_states, static_argnums=0)
predict_next = jax.jit(pm.predict_next, static_argnums=0)
transition_loss = jax.jit(pm.transition_loss, static_argnums=0)
lookahead_values = jax.jit(pm.lookahead_values, static_argnums=0)
value_targets = jax.jit(pm.value_targets, static_argnums=0)
greedy_action = jax.jit(pm.greedy_action)


def _init_transition(transition, key, batch=2):
  inputs = (jnp.zeros((batch, transition.hidden_size)), jnp.zeros((batch, transition.latent_size)),
            jnp.zeros((batch,), jnp.int32))
  return jax.jit(transition.init)(key, *inputs)


def _steps(rng, shape, latent=LATENT, actions=ACTIONS):
  """Random latents shape + (latent,) and actions of `shape`."""
  return (rng.normal(size=shape + (latent,)).astype(np.float32),
          rng.integers(actions, size=shape).astype(np.int32))


@pytest.fixture(scope='module')
def transition_params():
  return _init_transition(TRANSITION, jax.random.key(0))


_apply_transition = jax.jit(TRANSITION.apply)


def _loop(params, latents, actions, firsts, hidden=None):
  """The cell step by step in Python: (features, hidden after each step)."""
  h = np.zeros((1, HIDDEN), np.float32) if hidden is None else hidden[None]
  features, states = [], []
  for latent, action, first in zip(latents, actions, firsts):
    if first:
      h = np.zeros_like(h)
    h, feature = _apply_transition(params, h, latent[None], action[None])
    features.append(feature[0])
    states.append(h[0])
  return np.stack(features), np.stack(states)


# ------------------------------------------------------------------------ autoencoders, shapes


def test_conv_autoencoder_maps_64x64_frames_to_1536_and_back():
  # Shapes only (jax.eval_shape): XLA:CPU takes seconds to compile these convolutions.
  autoencoder = pm.ConvAutoencoder()
  frames = jax.ShapeDtypeStruct((2, 64, 64), jnp.uint8)
  params = jax.eval_shape(autoencoder.init, jax.random.key(0), frames)
  kernels = [params['params'][f'encoder_{i}']['kernel'].shape for i in range(4)]
  assert kernels == [(4, 4, 1, 48), (4, 4, 48, 96), (4, 4, 96, 192), (4, 4, 192, 384)]
  latents = jax.eval_shape(functools.partial(autoencoder.apply, method=autoencoder.encode),
                           params, frames)
  assert autoencoder.latent_size == 1536 and latents.shape == (2, 1536)
  decoded = jax.eval_shape(functools.partial(autoencoder.apply, method=autoencoder.decode),
                           params, latents)
  assert decoded.shape == (2, 64, 64) and decoded.dtype == jnp.float32


def test_conv_autoencoder_scales_frames_and_mirrors_any_image_size():
  # 13 -> 6 -> 2 and 10 -> 4 -> 1 with 3x3 stride 2: the floors are padded back on decoding.
  autoencoder = pm.ConvAutoencoder(image_shape=(13, 10), channels=(2, 3), kernel_size=3)
  frames = np.random.default_rng(0).integers(256, size=(2, 5, 13, 10)).astype(np.uint8)
  params = autoencoder.init(jax.random.key(0), frames)  # any leading axes
  latents = autoencoder.apply(params, frames, method=autoencoder.encode)
  assert autoencoder.latent_size == 2 * 1 * 3 and latents.shape == (2, 5, 6)
  assert jnp.all(latents >= 0)  # ReLU on the latent, as the reference
  decoded = autoencoder.apply(params, latents, method=autoencoder.decode)
  assert decoded.shape == (2, 5, 13, 10)
  # The scaling happens inside: uint8 frames equal frames / 255 with no scale.
  unscaled = autoencoder.clone(input_scale=1.0)
  np.testing.assert_allclose(unscaled.apply(params, frames / 255.0, method=unscaled.encode),
                             latents, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(pm.reconstruction_loss(autoencoder, params, frames),
                             np.mean((decoded - frames / 255.0) ** 2), rtol=1e-5)


def test_convolutions_that_do_not_fit_the_image_are_an_invalid_setting():
  with pytest.raises(errors.InvalidSettingError, match='do not fit'):
    pm.ConvAutoencoder(image_shape=(8, 8)).latent_size  # 8 -> 3 -> 0


def assert_same_tree(tree, expected):
  assert jax.tree.structure(tree) == jax.tree.structure(expected)
  for leaf, expected_leaf in zip(jax.tree.leaves(tree), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(leaf, expected_leaf)


@pytest.mark.parametrize('kernel_size, stride, padding', [
    (4, 2, ((3, 3), (3, 3))), (4, 2, ((3, 4), (3, 3))), (6, 3, ((5, 6), (5, 7))),
    (3, 2, ((2, 2), (2, 3))), (4, 2, ((1, 1), (1, 1)))])
def test_sub_pixel_transposed_convolution_is_flaxs(kernel_size, stride, padding):
  """Same parameters from the same key, same outputs (the phase path where the kernel is a
  multiple of the stride and the padding is K - 1 plus extra, lax.conv_transpose elsewhere)."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 5, 6, 3)), jnp.float32)
  reference = nn.ConvTranspose(4, (kernel_size,) * 2, (stride,) * 2, padding=padding,
                               kernel_init=xavier_uniform())
  ours = pm.SubPixelConvTranspose(4, kernel_size, stride, padding)
  params = ours.init(jax.random.PRNGKey(1), x)
  assert_same_tree(params, reference.init(jax.random.PRNGKey(1), x))
  params = jax.tree.map(lambda p: p + jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)


@pytest.mark.parametrize('size, kernel_size, stride', [(12, 4, 2), (13, 4, 2), (9, 3, 2),
                                                       (11, 6, 3)])
def test_space_to_depth_convolution_is_flaxs(size, kernel_size, stride):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, size, size + 1, 3)), jnp.float32)
  reference = nn.Conv(4, (kernel_size,) * 2, (stride,) * 2, padding='VALID',
                      kernel_init=xavier_uniform())
  ours = pm.SpaceToDepthConv(4, kernel_size, stride)
  params = ours.init(jax.random.PRNGKey(1), x)
  assert_same_tree(params, reference.init(jax.random.PRNGKey(1), x))
  params = jax.tree.map(lambda p: p + jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)


def test_mlp_autoencoder_has_the_same_interface():
  autoencoder = pm.MLPAutoencoder(observation_shape=(3, 4), hidden_sizes=(8,), latent_size=5,
                                  input_scale=0.5)
  observations = np.random.default_rng(1).normal(size=(6, 3, 4)).astype(np.float32)
  params = jax.jit(autoencoder.init)(jax.random.key(0), observations)
  assert autoencoder.apply(params, observations, method=autoencoder.encode).shape == (6, 5)
  reconstruction = autoencoder.apply(params, observations)
  assert reconstruction.shape == (6, 3, 4)
  np.testing.assert_allclose(pm.reconstruction_loss(autoencoder, params, observations),
                             np.mean((reconstruction - 0.5 * observations) ** 2), rtol=1e-6)
  with pytest.raises(errors.MissingBindingError, match='observation_shape'):
    pm.MLPAutoencoder().init(jax.random.key(0), observations)


def test_reference_sizes_of_the_transition_terminal_and_value_networks():
  # Shapes only (jax.eval_shape): no 30M-parameter init in a unit test.
  transition = pm.TransitionModel(num_actions=18)
  hidden, latents = jnp.zeros((2, 756)), jnp.zeros((2, 1536))
  actions = jnp.zeros((2,), jnp.int32)
  params = jax.eval_shape(transition.init, jax.random.key(0), hidden, latents, actions)
  layer = params['params']['last_layer']
  assert layer['kernel'].shape == (2292, 1537) and layer['bias'].shape == (1537,)
  # [h', z, one-hot a] in, four layers of 2292.
  assert params['params']['layers_0']['kernel'].shape == (756 + 1536 + 18, 2292)
  new_hidden, features = jax.eval_shape(transition.apply, params, hidden, latents, actions)
  assert new_hidden.shape == (2, 756) and features.shape == (2, 2292)
  prediction = jax.eval_shape(
      lambda p: pm.predict_next(transition, p, pm.trained_last_layer(p), hidden, latents,
                                actions), params)
  assert prediction.next_latents.shape == (2, 1536) and prediction.rewards.shape == (2,)

  terminal = jax.eval_shape(pm.TerminalNetwork().init, jax.random.key(0), latents)
  assert [terminal['params']['mlp'][f'Dense_{i}']['kernel'].shape for i in range(4)] == [
      (1536, 1536)] * 3 + [(1536, 1)]
  value = jax.eval_shape(pm.ValueNetwork().init, jax.random.key(0), latents, hidden)
  assert [value['params']['mlp'][f'Dense_{i}']['kernel'].shape for i in range(5)] == [
      (2292, 2292)] * 4 + [(2292, 1)]


# ------------------------------------------------------------------- GRU rollout and features


def test_episode_features_equal_a_loop_of_the_cell_and_restart_at_episode_starts(
    transition_params):
  rng = np.random.default_rng(2)
  latents, actions = _steps(rng, (7,))  # episode A: steps 0-2, episode B: steps 3-6
  firsts = np.array([1, 0, 0, 1, 0, 0, 0], bool)
  result = episode_features(TRANSITION, transition_params, latents, actions, firsts)
  assert result.features.shape == (7, 6) and result.hidden.shape == (7, HIDDEN)
  loop_features, loop_hidden = _loop(transition_params, latents, actions, firsts)
  np.testing.assert_allclose(result.features, loop_features, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(result.hidden, loop_hidden, rtol=1e-5, atol=1e-6)

  # Episode B alone gives the same features as after episode A; without the reset they differ.
  alone = episode_features(TRANSITION, transition_params, latents[3:], actions[3:], firsts[3:])
  np.testing.assert_allclose(result.features[3:], alone.features, rtol=1e-5, atol=1e-6)
  no_reset = episode_features(TRANSITION, transition_params, latents, actions,
                              np.arange(7) == 0)
  assert not np.allclose(no_reset.features[3:], alone.features, atol=1e-3)

  # A batch of streams (B, T) runs each on its own; a chunk continues from the last hidden.
  batch = episode_features(TRANSITION, transition_params, np.stack([latents[:4], latents[3:]]),
                           np.stack([actions[:4], actions[3:]]), np.zeros((2, 4), bool))
  np.testing.assert_allclose(batch.features[1], alone.features, rtol=1e-5, atol=1e-6)
  head = episode_features(TRANSITION, transition_params, latents[:4], actions[:4], firsts[:4])
  tail = episode_features(TRANSITION, transition_params, latents[4:], actions[4:], firsts[4:],
                          hidden=head.hidden[-1])
  np.testing.assert_allclose(tail.features, result.features[4:], rtol=1e-5, atol=1e-6)


def test_a_sampled_last_layer_predicts_features_times_w(transition_params):
  rng = np.random.default_rng(3)
  latents, actions = _steps(rng, (5,))
  hidden = rng.normal(size=(5, HIDDEN)).astype(np.float32)
  new_hidden, features = TRANSITION.apply(transition_params, hidden, latents, actions)
  features = np.asarray(features, np.float64)
  weights = rng.normal(size=(6, LATENT + 1)).astype(np.float32)
  bias = rng.normal(size=LATENT + 1).astype(np.float32)

  def predicted(last_layer):
    prediction = predict_next(TRANSITION, transition_params, last_layer, hidden, latents, actions)
    np.testing.assert_allclose(prediction.hidden, new_hidden, rtol=1e-6)
    return np.concatenate([prediction.next_latents, prediction.rewards[:, None]], -1)

  np.testing.assert_allclose(predicted(pm.sampled_last_layer(weights)), features @ weights,
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(predicted(pm.sampled_last_layer(weights, bias)),
                             features @ weights + bias, rtol=1e-5, atol=1e-5)
  trained = transition_params['params']['last_layer']
  np.testing.assert_allclose(predicted(pm.trained_last_layer(transition_params)),
                             features @ trained['kernel'] + trained['bias'], rtol=1e-5, atol=1e-5)


def test_the_posterior_of_episode_features_plugs_into_predict_next(transition_params):
  # X from episode_features, Y = X @ W_true: the ridge mean with a vanishing prior fits Y (W_true
  # itself is not identified: 6 features linear in 5 tanh units have rank 5), and predict_next
  # from the state before each step reproduces every stored target.
  rng = np.random.default_rng(4)
  latents, actions = _steps(rng, (40,))
  firsts = np.arange(40) % 10 == 0
  features = episode_features(TRANSITION, transition_params, latents, actions, firsts).features
  true_weights = rng.normal(size=(6, LATENT + 1)).astype(np.float32)
  targets = np.asarray(features, np.float64) @ true_weights
  mean, covariance = bll.ridge_posterior(features, targets.astype(np.float32), 1e-6, 1.0)
  before = recurrent_states(TRANSITION, transition_params, latents, actions, firsts).before
  draw = bll.sample_last_layer(jax.random.key(1), mean, covariance)
  for weights, tolerance in ((mean, 1e-3), (draw, None)):
    prediction = predict_next(TRANSITION, transition_params, pm.sampled_last_layer(weights),
                              before, latents, actions)
    output = np.concatenate([prediction.next_latents, prediction.rewards[:, None]], -1)
    expected = targets if tolerance else np.asarray(features, np.float64) @ np.asarray(draw)
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=tolerance or 1e-5)


def test_transition_loss_windows_carry_h_and_truncate_the_gradient(transition_params):
  rng = np.random.default_rng(5)
  latents, actions = _steps(rng, (2, 9))  # latents[:, t + 1] is step t's next latent
  rewards = np.tanh(rng.normal(size=(2, 8))).astype(np.float32)
  trained = transition_params['params']['last_layer']
  step_errors, final = [], []
  for row in range(2):
    features, hidden = _loop(transition_params, latents[row, :8], actions[row, :8],
                             np.zeros(8, bool))
    predictions = features @ trained['kernel'] + trained['bias']
    targets = np.concatenate([latents[row, 1:], rewards[row, :, None]], -1)
    step_errors.append(np.mean((predictions - targets) ** 2, axis=-1))
    final.append(hidden[-1])
  step_errors = np.stack(step_errors)

  def window(params, hidden, start, mask=None):
    steps = slice(start, start + 4)
    next_steps = slice(start + 1, start + 5)
    return transition_loss(TRANSITION, params, hidden, latents[:, steps], actions[:, steps],
                           latents[:, next_steps], rewards[:, steps], mask)

  loss, hidden = window(transition_params, jnp.zeros((2, HIDDEN)), 0)
  np.testing.assert_allclose(loss, step_errors[:, :4].mean(), rtol=1e-5)
  loss, last = window(transition_params, hidden, 4)  # h carried in from the first window
  np.testing.assert_allclose(loss, step_errors[:, 4:].mean(), rtol=1e-5)
  np.testing.assert_allclose(last, np.stack(final), rtol=1e-5, atol=1e-6)
  mask = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
  np.testing.assert_allclose(window(transition_params, hidden, 4, mask)[0],
                             (step_errors[0, 4:6].sum() + step_errors[1, 4]) / 3, rtol=1e-5)

  # The last step's error of the second window: no gradient into the incoming state, but one
  # into the parameters and back through h to the window's first step (BPTT inside it).
  last_step = np.array([[0, 0, 0, 1]] * 2, np.float32)
  last_step_loss = lambda params, h, z: pm.transition_loss(
      TRANSITION, params, h, z, actions[:, 4:8], latents[:, 5:9], rewards[:, 4:8], last_step)
  update = jax.jit(jax.value_and_grad(last_step_loss, argnums=(0, 1, 2), has_aux=True))
  (loss, last), (parameters, incoming, through_time) = update(transition_params, hidden,
                                                              latents[:, 4:8])
  np.testing.assert_allclose(loss, step_errors[:, 7].mean(), rtol=1e-5)
  np.testing.assert_allclose(last, np.stack(final), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(incoming, 0.0)
  assert float(jnp.abs(parameters['params']['cell']['hr']['kernel']).max()) > 0.0
  assert float(jnp.abs(through_time[:, 0]).max()) > 0.0


# -------------------------------------------------------------- value targets worked by hand

# latent 2, GRU 2, 3 actions, features = one-hot(a), so a last layer's row a is action a's
# prediction [z'_0, z'_1, r]. GRU: only W_in is nonzero, so both gates are sigmoid(0) = 1/2 and
# h' = 1/2 [tanh(c_a), 0] + 1/2 h. Terminal(z') = 1/2 + tanh(z'_1): exactly the 0.5 threshold
# when z'_1 = 0. V(z', h') = tanh(z'_0) + tanh(h'_0).
GRU_INPUT = np.array([0.2, 0.4, 0.6])
SAMPLED = np.array([[2.0, 0.0, 0.2],  # terminal exactly 0.5: not continuing, value 0.2
                    [0.5, 1.0, 0.3],  # terminal 1.26: value 0.3
                    [1.0, -1.0, 0.1]], np.float32)  # terminal -0.26: 0.1 + gamma V
HAND_NETWORKS = pm.Networks(
    pm.TransitionModel(num_actions=3, latent_size=2, hidden_size=2, mlp_sizes=(3,)),
    pm.TerminalNetwork((2,)), pm.ValueNetwork((2,)))


@pytest.fixture(scope='module')
def hand_model():
  key = jax.random.key(7)
  zeros = lambda params: jax.tree.map(lambda x: np.zeros(x.shape, np.float32), params)
  transition = zeros(jax.eval_shape(
      lambda key: _init_transition(HAND_NETWORKS.transition, key), key))
  transition['params']['cell']['in']['kernel'][2:, 0] = GRU_INPUT  # rows of the one-hot action
  transition['params']['layers_0']['kernel'][4:, :] = np.eye(3)  # [h' (2), z (2), one-hot (3)]
  # A trained last layer that must not be used.
  transition['params']['last_layer']['kernel'][:] = 5.0
  terminal = zeros(jax.eval_shape(HAND_NETWORKS.terminal.init, key, jnp.zeros((1, 2))))
  terminal_mlp = terminal['params']['mlp']
  terminal_mlp['Dense_0']['kernel'][1, 0] = 1.0
  terminal_mlp['Dense_1']['kernel'][0, 0] = 1.0
  terminal_mlp['Dense_1']['bias'][0] = 0.5
  value = zeros(jax.eval_shape(HAND_NETWORKS.value.init, key, jnp.zeros((1, 2)),
                               jnp.zeros((1, 2))))
  value_mlp = value['params']['mlp']
  value_mlp['Dense_0']['kernel'][0, 0] = 1.0  # z'_0
  value_mlp['Dense_0']['kernel'][2, 1] = 1.0  # h'_0
  value_mlp['Dense_1']['kernel'][:, 0] = 1.0
  model = pm.SampledModel(transition, terminal, pm.sampled_last_layer(SAMPLED))
  return model, value


def _hand_gru(hidden, action):
  return 0.5 * np.array([np.tanh(GRU_INPUT[action]), 0.0]) + 0.5 * hidden


def _hand_lookahead(hidden, discount):
  values = []
  for action, (z0, z1, reward) in enumerate(SAMPLED.astype(np.float64)):
    continuing = 0.5 + np.tanh(z1) < 0.5
    next_value = np.tanh(z0) + np.tanh(_hand_gru(hidden, action)[0])
    values.append(reward + discount * next_value * continuing)
  return np.array(values)


@pytest.mark.parametrize('discount', [0.99, 0.1])
def test_value_targets_by_hand(hand_model, discount):
  model, value_params = hand_model
  latents = np.random.default_rng(8).normal(size=(2, 2, 2)).astype(np.float32)
  actions = np.array([[2, 0], [1, 1]], np.int32)
  result = value_targets(HAND_NETWORKS, model, value_params, latents, actions, discount=discount)
  for row in range(2):
    hidden = [np.zeros(2)]  # rolled along the recorded actions
    for action in actions[row]:
      hidden.append(_hand_gru(hidden[-1], action))
    np.testing.assert_allclose(result.hidden[row], hidden[:2], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.final_hidden[row], hidden[2], rtol=1e-6)
    for step in range(2):
      expected = _hand_lookahead(hidden[step], discount)
      lookahead = lookahead_values(HAND_NETWORKS, model, value_params,
                                   jnp.asarray(hidden[step], jnp.float32), latents[row, step],
                                   discount)
      np.testing.assert_allclose(lookahead.values, expected, rtol=1e-5)
      np.testing.assert_array_equal(lookahead.terminals[0], 0.5)  # on the threshold: terminal
      np.testing.assert_allclose(result.targets[row, step], expected.max(), rtol=1e-5)
      # The continuing action 2 wins with gamma 0.99; with 0.1, action 1's reward 0.3 does.
      winner = 2 if discount == 0.99 else 1
      assert np.argmax(expected) == winner
  if discount == 0.1:
    np.testing.assert_allclose(result.targets, 0.3, rtol=1e-6)

  # The value network learns V(z_t, h_t) = tanh(z_t0) + tanh(h_t0) against the targets.
  predictions = np.tanh(latents[..., 0]) + np.tanh(np.asarray(result.hidden)[..., 0])
  np.testing.assert_allclose(
      pm.value_loss(HAND_NETWORKS.value, value_params, latents, result.hidden, result.targets),
      np.mean((predictions - result.targets) ** 2), rtol=1e-5)


def test_terminal_loss_by_hand(hand_model):
  model, _ = hand_model
  next_latents = np.array([[0.0, 0.3], [1.0, -2.0], [0.0, 0.0]], np.float32)
  flags = np.array([1.0, 0.0, 1.0], np.float32)
  errors_ = (0.5 + np.tanh(next_latents[:, 1]) - flags) ** 2
  loss = pm.terminal_loss(HAND_NETWORKS.terminal, model.terminal_params, next_latents, flags)
  np.testing.assert_allclose(loss, errors_.mean(), rtol=1e-5)
  masked = pm.terminal_loss(HAND_NETWORKS.terminal, model.terminal_params, next_latents, flags,
                            np.array([1.0, 1.0, 0.0]))
  np.testing.assert_allclose(masked, errors_[:2].mean(), rtol=1e-5)


# ------------------------------------------------------------------------- acting, and jit


def test_greedy_action_breaks_ties_uniformly():
  # 2.999994 is within isclose's tolerance of 3 (3e-5), 2.999 is not.
  values = jnp.broadcast_to(jnp.array([1.0, 3.0, 3.0, 2.999, 2.999994]), (6000, 5))
  counts = np.bincount(greedy_action(jax.random.key(0), values), minlength=5) / 6000
  assert counts[0] == counts[3] == 0.0
  np.testing.assert_allclose(counts[[1, 2, 4]], 1 / 3, atol=0.03)  # 5 standard deviations
  single = greedy_action(jax.random.key(1),
                         jnp.broadcast_to(jnp.array([0.0, 5.0, 1.0]), (100, 3)))
  np.testing.assert_array_equal(single, 1)


def test_acting_jits(hand_model):
  # Eager against jitted: the look-ahead, the tie-break and the chosen action's GRU state (the
  # other tests run every function jitted, a transition update's value and gradient included).
  model, value_params = hand_model

  def act(key, model, value_params, hidden, latent):
    lookahead = pm.lookahead_values(HAND_NETWORKS, model, value_params, hidden, latent)
    action = pm.greedy_action(key, lookahead.values)
    return action, lookahead.next_hidden[action]

  arguments = (jax.random.key(3), model, value_params, jnp.array([0.1, -0.2]),
               jnp.array([0.3, 0.4]))
  eager, jitted = act(*arguments), jax.jit(act)(*arguments)
  assert int(eager[0]) == int(jitted[0]) == 2
  np.testing.assert_allclose(jitted[1], eager[1], rtol=1e-6)
  np.testing.assert_allclose(jitted[1], _hand_gru(np.array([0.1, -0.2]), 2), rtol=1e-6)
