# Every target installs what it needs into .venv first (from pyproject.toml).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=
SWEEP  ?= multirun

.PHONY: install train test lint tensorboard report clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray,tracking]'
	touch $(STAMP)

train: install  ## train the default experiment (digits, cnn_small, adam); ARGS="optimizer=sgd lr=0.1"
	$(PY) train.py $(ARGS)

test: install  ## the whole test suite (CPU, offline)
	$(PY) -m pytest -q $(ARGS)

lint: install
	$(VENV)/bin/ruff check .

tensorboard: install
	$(VENV)/bin/tensorboard --logdir outputs

report: install  ## make report SWEEP=multirun/2026-11-22/10-00-00
	$(PY) -m optarena.report $(SWEEP)

clean:
	rm -rf outputs multirun lightning_logs .pytest_cache .ruff_cache
