# The targets people and CI use. `make test` is the test command CI runs (.ci/run).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
# What `make install` puts in the venv: editable with test tools here, `.` in the Dockerfile.
PIP_SPEC ?= -e '.[test]'

.PHONY: install run test lint typecheck unit bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_SPEC)
	touch $@

# Quick start: the service with its bundled policies and SQLite database.
run: install
	$(BIN)/cds-service serve --host $(HOST) --port $(PORT)

test: install lint typecheck unit

lint:
	$(BIN)/ruff check cds_service tests bench

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
