"""Gin configuration files, one folder per method and one file per experiment.

Shipped as package data so that an installed zoo can resolve `dqn/cartpole.gin` without a checkout.
"""

import pathlib

CONFIG_DIR = pathlib.Path(__file__).resolve().parent


def resolve(path: str) -> str:
  """The gin file `path` as given if it exists, else the same path inside the installed
  gin_configs package (`dqn/cartpole.gin` or `gin_configs/dqn/cartpole.gin`); FileNotFoundError
  naming it otherwise."""
  for candidate in (path, CONFIG_DIR / path, CONFIG_DIR.parent / path):
    if pathlib.Path(candidate).is_file():
      return str(candidate)
  raise FileNotFoundError(f'gin file not found: {path}')
