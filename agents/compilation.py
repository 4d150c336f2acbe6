"""How the agents' hot paths are compiled: `jit` is `jax.jit` with the XLA:CPU options that
measured fastest here.

jaxlib 0.10 hands convolutions, dot products and reductions on a CPU to its YNNPACK library by
default. On the machines this zoo is benchmarked on (2-core AMD EPYC; benchmarks/RESULTS.md)
YNNPACK's convolutions run slower than XLA's own: Rainbow's update on Pong took 52 ms with them
and 42 ms without, its noisy action 2.0 ms against 1.6, DQN's update 36 ms against 28, with the
same numbers to float rounding. So `jit` keeps YNNPACK for dot products and reductions and leaves
convolutions to XLA; networks without convolutions compile exactly as before.

The option is XLA's `xla_cpu_experimental_ynn_fusion_type`. On another backend, or a jaxlib that
does not know the option, `jit` is plain `jax.jit`; `compiler_options.cpu_library_fusions = None`
(gin) restores jaxlib's default everywhere.
"""

import functools
import logging
from typing import Any, Callable, Dict, Optional, Sequence

import gin
import jax
import jax.numpy as jnp

_FUSION_OPTION = 'xla_cpu_experimental_ynn_fusion_type'


@gin.configurable
def compiler_options(cpu_library_fusions: Optional[Sequence[str]] = ('INDIVIDUAL_DOT', 'REDUCE')
                     ) -> Dict[str, str]:
  """XLA compiler options for the agents' jitted functions: on a CPU, the kinds of operation
  handed to YNNPACK (XLA's LibraryFusionType names without their prefix, e.g. 'INDIVIDUAL_DOT',
  'INDIVIDUAL_CONVOLUTION', 'REDUCE'); None keeps jaxlib's default. Empty where not applicable."""
  if cpu_library_fusions is None or jax.default_backend() != 'cpu':
    return {}
  value = ','.join(f'LIBRARY_FUSION_TYPE_{kind.upper()}' for kind in cpu_library_fusions)
  return {_FUSION_OPTION: value} if _compiles_with(_FUSION_OPTION, value) else {}


@functools.lru_cache(maxsize=None)
def _compiles_with(option: str, value: str) -> bool:
  """Whether this jaxlib accepts `option=value` (it rejects unknown options and values)."""
  try:
    jax.jit(lambda x: x + 1, compiler_options={option: value})(jnp.zeros(1))
    return True
  except jax.errors.JaxRuntimeError as error:
    logging.warning('XLA option %s=%s not available in this jaxlib (%s); compiling with its '
                    'defaults.', option, value, str(error).splitlines()[0])
    return False


def jit(function: Callable[..., Any], **jit_arguments) -> Callable[..., Any]:
  """`jax.jit(function, **jit_arguments)` with `compiler_options()`."""
  return jax.jit(function, compiler_options=compiler_options(), **jit_arguments)
