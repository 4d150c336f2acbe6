"""Gin configuration files, one folder per method and one file per experiment.

Shipped as package data so that an installed zoo can resolve `dqn/cartpole.gin` without a checkout.
"""

import pathlib

CONFIG_DIR = pathlib.Path(__file__).resolve().parent
