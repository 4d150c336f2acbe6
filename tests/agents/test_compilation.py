"""agents/compilation.py: the XLA:CPU options the agents' hot paths compile with."""

import logging

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import compilation


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def conv_then_dot(images, kernel, weights):
  features = jax.lax.conv_general_dilated(images, kernel, (2, 2), 'VALID',
                                          dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return jax.nn.relu(features).reshape((images.shape[0], -1)) @ weights


def example_inputs():
  # A convolution jaxlib 0.10 hands to YNNPACK by default (it keeps smaller ones, such as 16
  # filters on 3 channels, for itself).
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(8, 12, 12, 4)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 4, 4, 32)), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(5 * 5 * 32, 7)), jnp.float32)
  return images, kernel, weights


def compiled_text(function, *inputs) -> str:
  return function.lower(*inputs).compile().as_text()


def test_on_cpu_convolutions_leave_ynnpack_and_dot_products_stay():
  options = compilation.compiler_options()
  if jax.default_backend() != 'cpu' or not options:
    pytest.skip('only XLA:CPU with the YNNPACK fusion option')
  assert options == {'xla_cpu_experimental_ynn_fusion_type':
                     'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE'}
  inputs = example_inputs()
  text = compiled_text(compilation.jit(conv_then_dot), *inputs)
  entry = text.split('ENTRY')[1]
  # XLA's own convolution, and the dot product inside a YNNPACK fusion.
  assert ' convolution(' in entry
  assert '__ynn_fusion' in entry
  assert ' dot(' not in entry


def test_same_numbers_as_plain_jit():
  inputs = example_inputs()
  np.testing.assert_allclose(compilation.jit(conv_then_dot)(*inputs),
                             jax.jit(conv_then_dot)(*inputs), rtol=1e-5, atol=1e-4)


def test_none_keeps_jaxlib_defaults():
  gin.parse_config('compiler_options.cpu_library_fusions = None')
  assert compilation.compiler_options() == {}


def test_an_option_this_jaxlib_rejects_falls_back_to_its_defaults_with_a_warning(caplog):
  with caplog.at_level(logging.WARNING):
    assert compilation.compiler_options(cpu_library_fusions=('NOT_A_KIND',)) == {}
  if jax.default_backend() == 'cpu':
    assert 'LIBRARY_FUSION_TYPE_NOT_A_KIND' in caplog.text
  # And jit still compiles and runs.
  gin.parse_config("compiler_options.cpu_library_fusions = ('NOT_A_KIND',)")
  assert float(compilation.jit(lambda x: x * 2)(jnp.ones(()))) == 2.0
