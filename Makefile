# The two commands of the README: `make demo` (JupyterLab on working copies of the tutorials,
# sample data in the embedded local database, stopped again when JupyterLab exits) and
# `make test` (lint + type check + the whole test suite). Both set up their own virtual
# environment in .venv, so they work on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint docs bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[local,s3,jupyter,service]"
	touch $@

# Browser tests need Debian's Chromium; install it when we may (root), else say so.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@command -v chromium >/dev/null 2>&1 || echo "warning: chromium is missing: apt-get install -y chromium (browser tests will fail)"

test: lint docs chromium
	$(BIN)/python -m pytest

# Day-one changes: lint, type check and the unit tests (pure modules, widgets with fakes);
# no servers, under two minutes. `make test` stays the full suite and CI's command.
test-fast: lint
	$(BIN)/python -m pytest tests/unit -q

# The API reference from the numpydoc docstrings (docs/api), warnings as errors.
docs: $(VENV)/.installed-test
	rm -rf docs/api/generated
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs/api build/docs
	@echo "API reference: build/docs/index.html"

# ruff everywhere; mypy over jwstnb/ (strict on the pure modules: pyproject's [tool.mypy])
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

demo: $(VENV)/.installed-demo
	$(BIN)/jwstnb demo $(DEMO_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/fits_io.py
	$(BIN)/python benchmarks/widgets.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-output
