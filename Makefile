# `make train` and `make test` each build .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/dqn_cartpole
# The suite's processes (pytest-xdist), each with whole test files (--dist loadfile: a file's
# module fixtures, such as test_gin_configs.py's offline runs, are built once). 2 fits CI's 2 cores.
# --durations lists the slowest tests and fixtures, to keep an eye on the suite's time in CI.
TEST_WORKERS ?= 2

.PHONY: train test clean

$(VENV)/.core-installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: setup.py Makefile $(VENV)/.core-installed
	$(PY) -m pip install --quiet -e '.[dev,atari,minatar,mujoco,metaworld,offline,sweep]'
	touch $@

train: $(VENV)/.core-installed
	$(PY) -um runner.train --base_dir $(RUN_DIR) --gin_files gin_configs/dqn/cartpole.gin
	@echo "TensorBoard logs are in $(RUN_DIR): $(VENV)/bin/tensorboard --logdir $(RUN_DIR)"

test: $(VENV)/.dev-installed
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests

clean:
	rm -rf $(VENV) build *.egg-info
