# The targets people and CI use. `make test` is the test command CI runs (.ci/run).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
# What `make install` puts in the venv: every dependency exactly as pinned, with its hashes, in
# the lock file (test tools included here; the Dockerfile takes the runtime lock), then the project
# itself without dependencies: editable here, `.` in the Dockerfile.
LOCK     ?= requirements-test.lock
PIP_SPEC ?= -e .

.PHONY: install run test lint typecheck docs unit bench lock clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps $(PIP_SPEC)
	touch $@

# Re-pin every dependency after changing pyproject.toml (or to take upgrades: UPGRADE=1), for
# Python 3.11 and later on any platform, with the hashes of every published file. The runtime lock
# is constrained by the test lock, so both pin the same versions. uv lives in a venv of its own.
LOCK_TOOLS ?= .venv-lock
UV_COMPILE  = $(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --quiet --universal \
              --python-version 3.11 --generate-hashes $(if $(UPGRADE),--upgrade)
lock:
	test -x $(LOCK_TOOLS)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOLS) \
	  && $(LOCK_TOOLS)/bin/pip install --quiet uv)
	$(UV_COMPILE) --extra test -o requirements-test.lock
	$(UV_COMPILE) -c requirements-test.lock -o requirements.lock

# Quick start: the service with its bundled policies and SQLite database, authentication on,
# trusting the development client (key and trust file made once under var/dev-client;
# `.venv/bin/cds-service token --service crd-order-sign` prints a JWT for curl).
DEV_CLIENT ?= var/dev-client
run: install
	$(BIN)/cds-service dev-client init --dir $(DEV_CLIENT)
	CDS_TRUSTED_CLIENTS=$(DEV_CLIENT)/trusted-clients.json \
	  $(BIN)/cds-service serve --host $(HOST) --port $(PORT)

test: install lint typecheck docs unit

lint:
	$(BIN)/ruff check cds_service tests bench

typecheck:
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml) into site/; a broken link or anchor fails it.
docs:
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

unit:
	$(BIN)/pytest

# The performance benchmark; installs the load tool (Debian's wrk) when missing.
# SOAK=600 adds the 10-minute memory soak.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py $(if $(SOAK),--soak $(SOAK))

clean:
	rm -rf $(VENV) $(LOCK_TOOLS) var site .pytest_cache .mypy_cache .ruff_cache
