# statetrail: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: help demo test lint typecheck layers unit soak bench clean

help:
	@echo "make demo   run the demonstration (sets up $(VENV) first)"
	@echo "make test   lint, type-check, check the layers and run every test"
	@echo "make bench  run the benchmarks against the peer libraries"
	@echo "make soak   run the tests at soak sizes (STATETRAIL_SCALE=10)"

$(STAMP): pyproject.toml hatch_build.py src/statetrail/frozen/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

demo: $(STAMP)
	$(PY) -m statetrail demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

layers: $(STAMP)
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(PY) -m pytest --cov --cov-report=term --durations=25

test: lint typecheck layers unit

soak: $(STAMP)
	STATETRAIL_SCALE=10 $(PY) -m pytest

bench: $(BENCH_STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov build dist
