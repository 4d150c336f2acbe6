"""Settings for the whole test session: JAX's persistent compilation cache.

The tests build many small agents, most with the same settings, and each new agent's jitted update
traces to the same XLA program as the last one's; JAX's in-memory cache is keyed by the function
object, so without more each agent compiles it again. With the persistent cache on (a fresh
temporary folder per test process, removed at the end), XLA compiles each distinct program once
per process: four DCEO agent tests took 41 s instead of 143 s in one measurement. The runs that
runner tests start as subprocesses share it through the environment. No number changes: a cached
executable is the one that was compiled. Each pytest-xdist worker has its own folder, so no two
processes write one folder at the same time.
"""

import os
import shutil
import tempfile

import jax

_CACHE_SETTINGS = {  # jax.config name: the environment variable that subprocesses read
    'jax_persistent_cache_min_compile_time_secs': 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS',
    'jax_persistent_cache_min_entry_size_bytes': 'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES',
}


def pytest_configure(config):
  worker = os.environ.get('PYTEST_XDIST_WORKER', 'main')
  folder = tempfile.mkdtemp(prefix=f'zoo-test-jax-cache-{worker}-')
  config.zoo_jax_cache_folder = folder
  jax.config.update('jax_compilation_cache_dir', folder)
  os.environ['JAX_COMPILATION_CACHE_DIR'] = folder
  for name, variable in _CACHE_SETTINGS.items():
    jax.config.update(name, 0)  # every program, however quick to compile or small
    os.environ[variable] = '0'


def pytest_unconfigure(config):
  folder = getattr(config, 'zoo_jax_cache_folder', None)
  if folder:
    shutil.rmtree(folder, ignore_errors=True)
