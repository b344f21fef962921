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

# Quick start: the service with its bundled policies and SQLite database, authentication on,
# trusting the development client (key and trust file made once under var/dev-client;
# `.venv/bin/cds-service token --service crd-order-sign` prints a JWT for curl).
DEV_CLIENT ?= var/dev-client
run: install
	$(BIN)/cds-service dev-client init --dir $(DEV_CLIENT)
	CDS_TRUSTED_CLIENTS=$(DEV_CLIENT)/trusted-clients.json \
	  $(BIN)/cds-service serve --host $(HOST) --port $(PORT)

test: install lint typecheck unit

lint:
	$(BIN)/ruff check cds_service tests bench

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest

# The performance benchmark; installs the load tool (Debian's wrk) when missing.
# SOAK=600 adds the 10-minute memory soak.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py $(if $(SOAK),--soak $(SOAK))

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
