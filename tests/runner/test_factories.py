"""runner/factories.with_bindings_now: a function bound by reference keeps the bindings in force
when it was held, after the configuration that made them is gone."""

import gin
import pytest

from runner import factories


@gin.configurable('factories_test_domain')
def make_domain(size=1, wind=0.0):
  return size, wind


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def test_a_held_function_keeps_its_bindings_after_the_config_is_cleared():
  gin.bind_parameter('factories_test_domain.size', 10)
  held = factories.with_bindings_now(make_domain)
  gin.clear_config()
  assert make_domain() == (1, 0.0)  # the bare reference has lost them
  assert held() == (10, 0.0)
  assert held(wind=0.5) == (10, 0.5)
  # Another configuration later does not override what was held.
  gin.bind_parameter('factories_test_domain.size', 3)
  assert held() == (10, 0.0)


def test_functions_without_bindings_or_outside_gin_are_returned_as_they_are():
  assert factories.with_bindings_now(make_domain) is make_domain
  plain = lambda: None  # noqa: E731
  assert factories.with_bindings_now(plain) is plain
