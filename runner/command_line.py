"""What every gin-configured command shares: its --gin_files / --gin_bindings flags and their parsing.

`runner.train`, `runner.sweep` and `offline.make_dataset` each define their flags in their own
`main` (`define_gin_flags` here for the two every command has), so importing any module of the zoo
defines no flags, and no command needs another command's module to get them.

Gin resolves `include 'gin_configs/dqn/x.gin'` through the gin_configs package (each folder has an
__init__.py for that), so includes work from any working directory. A gin file registers the
modules whose configurables it uses with its own `import` lines (`import agents.dqn`); only a
driver's own configurables (create_runner, Runner, create_environment, create_agent, collect)
need none.
"""

import importlib.util  # noqa: F401  gin needs it loaded to report a missing `include` properly
from typing import List, Sequence

import gin
from absl import flags

import gin_configs
from runner import errors


def define_gin_flags(files_help: str = 'Gin files, applied in order.',
                     bindings_help: str = 'Gin bindings applied after the files.') -> None:
  """Defines --gin_files and --gin_bindings (call it from a command's main, once)."""
  flags.DEFINE_multi_string('gin_files', [], f'{files_help} A path that does not exist is also '
                            'looked up in the installed gin_configs package.')
  flags.DEFINE_multi_string('gin_bindings', [], f'{bindings_help} e.g. '
                            '"Runner.num_iterations=5" or "import agents.dqn".')


def resolve_gin_files(gin_files: Sequence[str]) -> List[str]:
  """Each file as given if it exists, else from the installed gin_configs package; else a
  BadInputError naming it."""
  with errors.bad_input_from((FileNotFoundError,)):
    return [gin_configs.resolve(path) for path in gin_files]


def parse_gin(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
  """Parses the files, then the bindings; a file, import, configurable or parameter gin cannot
  resolve is bad input (gin's messages name it, with the file and line it came from)."""
  gin_files = resolve_gin_files(gin_files)
  with errors.bad_input_from((ValueError, OSError, ImportError, SyntaxError, AttributeError),
                             'invalid gin configuration'):
    gin.parse_config_files_and_bindings(gin_files, gin_bindings, finalize_config=False)
