# bayeskit: `make test` and `make reproduce` are the two commands a fresh clone needs.
# Installs come from uv.lock, exactly (`uv sync --locked`); `make lock` records a change of
# pyproject.toml in it and keeps every other pin, `make lock-upgrade` moves every pin to the newest
# versions pyproject's ranges allow, and `make test-latest` runs the suite on those without the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# One compute thread per process: the pytest workers (and the notebook kernels they start) already
# fill the cores. jaxlib sizes its CPU thread pool from PJRT_NPROC (default: one thread per core),
# and XLA's CPU LAPACK calls (Cholesky, triangular solves) run in scipy's OpenBLAS, whose idle
# threads spin: with its default of one thread per core in every process, a gp_pde test that
# takes 22 s alone took 51 s beside one other test process, 28 s with OPENBLAS_NUM_THREADS=1.
TEST_ENV := PJRT_NPROC=1 OPENBLAS_NUM_THREADS=1
# uv itself, pinned, in a small venv of its own (python3 -m venv + pip: nothing installed by hand).
UV_VERSION := 0.13.9
UV_DIR := .uv
UV := $(UV_DIR)/bin/uv
LATEST := .venv-latest
# Never let uv fetch an interpreter: the machine's python3 is the one to use.
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup lock lock-upgrade test test-latest key-sweep lint unit docs-check multidevice distributed reproduce bench docs clean

$(UV):
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --all-extras --python $(PYTHON)
	touch $(STAMP)

setup: $(STAMP)

lock: | $(UV)
	$(UV) lock --python $(PYTHON)

lock-upgrade: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(TEST_ENV) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=15 -m "not multidevice and not docs and not distributed"

# The docs site, strict, after `unit`: it renders the notebooks that `unit` executed into
# build/notebooks/ (tools/nbrun.py) instead of executing them again.
docs-check: setup
	$(BIN)/python -m pytest -m docs -p no:cacheprovider

multidevice: setup
	$(TEST_ENV) XLA_FLAGS=--xla_force_host_platform_device_count=4 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m multidevice -p no:cacheprovider

# Two jax.distributed processes of two CPU devices each on loopback (the test starts them itself).
distributed: setup
	$(BIN)/python -m pytest -m distributed -p no:cacheprovider

test: lint unit docs-check multidevice distributed

# The newest releases the ranges allow, resolved afresh (not in CI): drift shows here first.
test-latest: | $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --refresh --python $(LATEST)/bin/python -e '.[dev,bench,docs]'
	touch $(LATEST)/.installed
	$(MAKE) unit docs-check multidevice distributed VENV=$(LATEST)

# Every statistical test on five keys besides its own (tests/statkeys.py); run once per change
# of a statistical test, not in CI.
KEY_SHIFTS ?= 1000 2000 3000 4000 5000
key-sweep: setup
	fail=0; for s in $(KEY_SHIFTS); do \
	  BAYESKIT_TEST_KEY_SHIFT=$$s $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q -p no:cacheprovider \
	    -m "statistical and not multidevice" || fail=1; \
	done; exit $$fail

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

reproduce: setup
	$(BIN)/bayeskit reproduce --out reports

bench: setup
	$(BIN)/bayeskit bench $(NAME) --json

clean:
	rm -rf site reports build .pytest_cache
