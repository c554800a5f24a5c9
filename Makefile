# bayeskit: `make test` and `make reproduce` are the two commands a fresh clone needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: setup test lint unit multidevice reproduce bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,docs]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=15 -m "not multidevice"

multidevice: setup
	XLA_FLAGS=--xla_force_host_platform_device_count=4 $(BIN)/python -m pytest -m multidevice -p no:cacheprovider

test: lint unit multidevice

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

reproduce: setup
	$(BIN)/bayeskit reproduce --out reports

bench: setup
	$(BIN)/bayeskit bench $(NAME) --json

clean:
	rm -rf site reports .pytest_cache
