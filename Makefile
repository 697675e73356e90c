# Quantify Notify — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run test soak test-postgres install install-dev system-deps system-deps-run lint bench clean

run: install system-deps-run ## Start web, worker, beat (and a private Redis if needed) with demo data.
	$(PY) run.py all

test: install-dev system-deps ## Install what the tests need, then run them (two processes).
	$(PY) -m pytest -n 2

soak: install-dev system-deps ## The slow fault, scale and scheduling tests (minutes; docs/RELIABILITY.md).
	$(PY) -m pytest -m soak -rs
	BAD_INPUT_EXAMPLES=500 BAD_INPUT_RANDOM=1 $(PY) -m pytest tests/test_bad_input.py tests/test_query_fuzz.py
	USAGE_EXACT_EXAMPLES=1000 $(PY) -m pytest tests/test_usage_exact.py

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## Runtime dependencies in .venv.

install-dev: $(VENV)/.installed-dev ## Runtime and test dependencies in .venv.

system-deps-run: ## A Redis server for `make run` (skipped when one is already on PATH).
	@scripts/install_system_deps.sh redis

system-deps: ## Redis and Chromium for the tests (Debian packages; Playwright's browser elsewhere).
	@scripts/install_system_deps.sh redis chromium

test-postgres: install-dev system-deps ## The same tests on a throwaway local PostgreSQL.
	scripts/test_postgres.sh

lint: install-dev ## Static checks: ruff, then the import layers (.importlinter).
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

bench: install-dev ## Benchmarks (not part of make test); see bench/RESULTS.md.
	$(PY) -m bench all

clean:
	rm -rf $(VENV) instance/*.db* .pytest_cache
