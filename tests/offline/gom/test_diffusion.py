"""GOM's diffusion machinery against closed forms: the VP schedule's endpoints, the forward
noising, the epsilon loss of an oracle denoiser, DDIM with oracle denoisers of point-mass and
Gaussian data (exact recovery, determinism, guidance direction), and the FiLM denoiser's wiring."""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline.gom import diffusion

SCHEDULE = diffusion.vp_schedule(1000, 0.1, 20.0)


def _point_mass_denoiser(schedule):
  """The exact epsilon for data equal to the condition c: x_t = sqrt(ab) c + sqrt(1 - ab) eps."""
  def denoiser(x, t, condition):
    return ((x - schedule.sqrt_alphas_bar[t][:, None] * condition)
            / schedule.sqrt_one_minus_alphas_bar[t][:, None])
  return denoiser


def _gaussian_denoiser(schedule):
  """The exact E[eps | x_t] for data N(c, I): x_t - sqrt(ab) c ~ N(0, I), so
  E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) c)."""
  def denoiser(x, t, condition):
    sqrt_alpha_bar = schedule.sqrt_alphas_bar[t][:, None]
    return schedule.sqrt_one_minus_alphas_bar[t][:, None] * (x - sqrt_alpha_bar * condition)
  return denoiser


def _noise(seed, shape=(64, 3), scale=1.0):
  """Host noise: drawing it with jax outside jit would compile a kernel per call."""
  return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def test_schedule_is_linear_in_beta_and_alpha_bar_decreases_to_exp_minus_10():
  betas = np.asarray(SCHEDULE.betas)
  alphas_bar = np.asarray(SCHEDULE.alphas_bar)
  assert SCHEDULE.num_steps == 1000
  np.testing.assert_allclose(betas[[0, -1]], [1e-4, 0.02], rtol=1e-6)
  np.testing.assert_allclose(np.diff(betas), (0.02 - 1e-4) / 999, rtol=1e-3)
  assert np.all(np.diff(alphas_bar) < 0)
  np.testing.assert_allclose(alphas_bar[0], 1 - 1e-4, rtol=1e-7)
  # exp(-sum beta) = exp(-10.05), less the second-order terms sum beta^2 / 2 ~ 0.067.
  assert -10.05 - 0.1 < np.log(alphas_bar[-1]) < -10.05
  np.testing.assert_allclose(SCHEDULE.one_minus_alphas_bar, 1 - alphas_bar, atol=1e-7)
  np.testing.assert_allclose(
      SCHEDULE.sqrt_alphas_bar ** 2 + SCHEDULE.sqrt_one_minus_alphas_bar ** 2, 1.0, atol=1e-6)


def test_add_noise():
  x0 = np.random.default_rng(0).uniform(-1, 1, size=(64, 3)).astype(np.float32)
  noise = _noise(1)
  add_noise = jax.jit(functools.partial(diffusion.add_noise, SCHEDULE))
  at_zero = add_noise(x0, np.zeros(64, np.int32), noise)
  np.testing.assert_allclose(at_zero, x0, atol=0.05)  # the noise's scale is sqrt(1e-4) = 0.01
  t = np.arange(64) * 15
  alphas_bar = np.asarray(SCHEDULE.alphas_bar, np.float64)[t][:, None]
  expected = np.sqrt(alphas_bar) * x0 + np.sqrt(1 - alphas_bar) * noise
  np.testing.assert_allclose(add_noise(x0, t, noise), expected, atol=1e-5)


def test_epsilon_loss_of_an_oracle_is_zero_and_of_zero_is_one():
  """For x0 = 0 the noise is x_t / sqrt(1 - alpha_bar_t): that oracle's loss is 0; predicting 0
  costs E[eps^2] = 1."""
  oracle = lambda x, t, c: x / SCHEDULE.sqrt_one_minus_alphas_bar[t][:, None]
  zero = lambda x, t, c: jnp.zeros_like(x)

  @jax.jit
  def losses(key):
    x0, condition = jnp.zeros((4096, 2)), jnp.zeros((4096, 1))
    return [diffusion.epsilon_loss(denoiser, SCHEDULE, x0, condition, key)
            for denoiser in (oracle, zero)]

  oracle_loss, zero_loss = losses(jax.random.PRNGKey(0))
  assert oracle_loss < 1e-10
  np.testing.assert_allclose(zero_loss, 1.0, atol=0.05)


def test_ddim_timesteps():
  np.testing.assert_array_equal(diffusion.ddim_timesteps(1000, 50), np.arange(999, 0, -20))
  np.testing.assert_array_equal(diffusion.ddim_timesteps(1000, 1000), np.arange(999, -1, -1))
  np.testing.assert_array_equal(diffusion.ddim_timesteps(10, 3), [9, 6, 2])
  for bad in (0, 1001):
    with pytest.raises(ValueError):
      diffusion.ddim_timesteps(1000, bad)


def test_ddim_returns_a_point_mass_from_any_noise():
  condition = np.random.default_rng(2).uniform(-0.9, 0.9, size=(64, 3)).astype(np.float32)
  sample = functools.partial(diffusion.ddim_sample, _point_mass_denoiser(SCHEDULE), SCHEDULE,
                             condition)

  @jax.jit
  def samples(gentle, loud, key):
    return sample(gentle), sample(loud), sample(gentle, eta=1.0, key=key)

  for result in samples(_noise(0), _noise(1, scale=3.0), jax.random.PRNGKey(3)):
    np.testing.assert_allclose(result, condition, atol=1e-4)


def test_ddim_without_eta_is_a_function_of_its_noise_and_with_eta_of_its_key():
  denoiser = _gaussian_denoiser(SCHEDULE)
  condition = np.full((64, 3), 0.2, np.float32)

  @functools.partial(jax.jit, static_argnames='eta')
  def sample(noise, key, eta):
    return diffusion.ddim_sample(denoiser, SCHEDULE, condition, noise, eta=eta, key=key)

  key = jax.random.PRNGKey(5)
  deterministic = np.asarray(sample(_noise(0), key, 0.0))
  np.testing.assert_array_equal(deterministic, sample(_noise(0), key, 0.0))
  np.testing.assert_array_equal(deterministic, sample(_noise(0), jax.random.PRNGKey(6), 0.0))
  assert not np.allclose(deterministic, sample(_noise(1), key, 0.0))
  assert np.all(np.abs(deterministic) <= 1.0)  # clipped to the data's range

  stochastic = np.asarray(sample(_noise(0), key, 1.0))
  np.testing.assert_array_equal(stochastic, sample(_noise(0), key, 1.0))
  assert not np.allclose(stochastic, sample(_noise(0), jax.random.PRNGKey(6), 1.0))
  assert not np.allclose(stochastic, deterministic)
  with pytest.raises(ValueError):
    diffusion.ddim_sample(denoiser, SCHEDULE, condition, _noise(0), eta=1.0)


def test_guidance_moves_samples_toward_larger_g_dot_x():
  """For N(0, I) data and no clipping DDIM is affine in its noise with the same linear part with
  and without guidance, so guidance shifts every sample by the same vector: a positive multiple
  of g. With clipping the shift holds on average."""
  denoiser = _gaussian_denoiser(SCHEDULE)
  condition = np.zeros((256, 2), np.float32)
  g = np.array([1.0, 0.5], np.float32)

  @jax.jit
  def samples(noise):
    sample = functools.partial(diffusion.ddim_sample, denoiser, SCHEDULE, condition, noise)
    return {'unclipped': sample(clip=False), 'guided_unclipped': sample(guidance=g, clip=False),
            'clipped': sample(), 'guided': sample(guidance=g),
            'guided_per_row': sample(guidance=np.broadcast_to(g, (256, 2)))}

  results = jax.tree_util.tree_map(np.asarray, samples(_noise(0, (256, 2))))
  shift = results['guided_unclipped'] - results['unclipped']
  np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), rtol=1e-3, atol=1e-3)
  multiple = shift[0] @ g / (g @ g)
  assert multiple > 0.1
  np.testing.assert_allclose(shift[0], multiple * g, rtol=1e-3)
  clipped_shift = (results['guided'] - results['clipped']) @ g
  assert np.mean(clipped_shift) > 0.1 and np.all(clipped_shift >= -1e-6)
  # Per-row guidance [N, D] broadcasts the same way.
  np.testing.assert_allclose(results['guided_per_row'], results['guided'], atol=1e-6)


def test_sinusoidal_embedding():
  embedding = np.asarray(jax.jit(diffusion.sinusoidal_embedding, static_argnums=1)(
      np.array([0, 7]), 8))
  np.testing.assert_array_equal(embedding[0], [0, 0, 0, 0, 1, 1, 1, 1])
  frequencies = 10000.0 ** (-np.arange(4) / 3)
  np.testing.assert_allclose(embedding[1, :4], np.sin(7 * frequencies), atol=1e-6)
  embed = functools.partial(diffusion.sinusoidal_embedding, dim=9)
  assert jax.eval_shape(embed, jnp.array([3])).shape == (1, 9)


# Two levels of one block keep the compile short; the default wiring is checked by shapes alone.
SMALL = diffusion.FiLMResidualDenoiser(output_dim=3, dims=(8, 16), blocks_per_level=1,
                                       time_embedding_dim=16)


def _inputs(num_rows=4):
  x = _noise(0, (num_rows, 3))
  t = jnp.arange(num_rows, dtype=jnp.int32) * 200
  condition = _noise(1, (num_rows, 5))
  return x, t, condition


@pytest.fixture(scope='module')
def small_params():
  """SMALL's parameters with the structure its init builds, drawn on the host (lecun-normal
  kernels, LayerNorm scales 1, small random biases): compiling flax's initialisers, one random
  draw per layer, would take longer than every other test here."""
  shapes = jax.eval_shape(SMALL.init, jax.random.PRNGKey(0), *_inputs())['params']
  rng = np.random.default_rng(0)

  def draw(path, leaf):
    if path[-1].key == 'kernel':
      return jnp.asarray(rng.normal(size=leaf.shape) / np.sqrt(leaf.shape[0]), jnp.float32)
    if path[-1].key == 'scale':
      return jnp.ones(leaf.shape, jnp.float32)
    return jnp.asarray(0.1 * rng.normal(size=leaf.shape), jnp.float32)

  return jax.tree_util.tree_map_with_path(draw, shapes)


def test_film_denoiser_shapes_and_gradients_reach_every_parameter(small_params):
  x, t, condition = _inputs()
  assert jax.eval_shape(SMALL.apply, {'params': small_params}, x, t, condition).shape == (4, 3)
  # Blocks 0-1 go down, 2 is the middle; block 3 goes up from the middle's width and the last
  # level's output (16 + 16) to 8; the condition MLP is 2 max(16, 5) wide.
  assert small_params['FiLMResidualBlock_3']['skip']['kernel'].shape == (32, 8)
  assert 'FiLMResidualBlock_4' not in small_params
  assert small_params['LinearBlock_0']['Dense_0']['kernel'].shape == (5, 32)

  def loss(params):
    def denoiser(x_t, steps, condition):
      return SMALL.apply({'params': params}, x_t, steps, condition)
    return diffusion.epsilon_loss(denoiser, SCHEDULE, jnp.tanh(x), condition,
                                  jax.random.PRNGKey(2))

  gradients = jax.jit(jax.grad(loss))(small_params)
  flat = flax.traverse_util.flatten_dict(gradients)
  silent = [path for path, gradient in flat.items() if not np.any(np.asarray(gradient) != 0)]
  assert not silent, silent


def test_film_denoiser_time_mlp_option_and_the_reference_sizes():
  x, t, condition = _inputs()
  with_time_mlp = SMALL.clone(time_hidden_sizes=(32,))
  params = jax.eval_shape(with_time_mlp.init, jax.random.PRNGKey(0), x, t, condition)['params']
  assert params['Dense_0']['kernel'].shape == (16, 32)
  assert params['Dense_1']['kernel'].shape == (32, 16)
  # The reference's sizes, traced only: 129 cumulants given a 4-dimensional state.
  default = diffusion.FiLMResidualDenoiser(output_dim=129)
  rows = (jnp.zeros((2, 129)), jnp.zeros(2, jnp.int32), jnp.zeros((2, 4)))
  variables = jax.eval_shape(default.init, jax.random.PRNGKey(0), *rows)
  assert jax.eval_shape(default.apply, variables, *rows).shape == (2, 129)
  blocks = [variables['params'][f'FiLMResidualBlock_{index}']['skip']['kernel'].shape
            for index in range(12)]
  # Two blocks per level down (256, 512, 1024), two in the middle, two per level up (512, 256),
  # the up path's first blocks taking the skips: 1024 + 1024, then 512 + 512.
  widths = [width for _, width in blocks]
  assert widths == [256] * 2 + [512] * 2 + [1024] * 4 + [512] * 2 + [256] * 2
  assert blocks[8][0] == 2048 and blocks[10][0] == 1024
  assert 'FiLMResidualBlock_12' not in variables['params']


def test_ddim_with_the_film_denoiser_compiles_once_and_stays_in_range(small_params):
  x, _, condition = _inputs()

  @jax.jit
  def sample(params, noise):
    denoiser = lambda x_t, steps, c: SMALL.apply({'params': params}, x_t, steps, c)
    return diffusion.ddim_sample(denoiser, SCHEDULE, condition, noise, num_sampling_steps=10)

  samples = sample(small_params, x)
  assert samples.shape == (4, 3) and np.all(np.abs(samples) <= 1.0)
  sample(small_params, 2.0 * x)
  assert sample._cache_size() == 1
