# The targets people and CI use. `make test` is the test command CI runs (.ci/run).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
# Two installs into the venv, each exactly as pinned, with hashes: first the installer and the
# build backend (requirements-build.lock), then a lock file's dependencies, then the project
# itself without dependencies, built by that pinned backend (editable here, `.` in the
# Dockerfile). `make install` (and so `make test`, CI) takes the test lock: runtime and test
# tools; `make install-runtime` (and so `make run`, the Dockerfile) the runtime lock only.
BUILD_LOCK   = requirements-build.lock
RUNTIME_LOCK = requirements.lock
TEST_LOCK    = requirements-test.lock
PIP_SPEC    ?= -e .

.PHONY: install install-runtime run test lint typecheck docs unit bench lock clean

install: $(VENV)/.installed-test
install-runtime: $(VENV)/.installed-runtime

define install_lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(BUILD_LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(1)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation $(PIP_SPEC)
	touch $@
endef

$(VENV)/.installed-test: pyproject.toml $(BUILD_LOCK) $(TEST_LOCK)
	$(call install_lock,$(TEST_LOCK))

$(VENV)/.installed-runtime: pyproject.toml $(BUILD_LOCK) $(RUNTIME_LOCK)
	$(call install_lock,$(RUNTIME_LOCK))

# Re-pin every dependency after changing pyproject.toml or requirements-build.in (or to take
# upgrades: UPGRADE=1), for Python 3.11 and later on any platform, with the hashes of every
# published file. The runtime lock is constrained by the test lock, so both pin the same versions.
# uv lives in a venv of its own.
LOCK_TOOLS ?= .venv-lock
UV_COMPILE  = $(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --quiet --universal \
              --python-version 3.11 --generate-hashes $(if $(UPGRADE),--upgrade)
lock:
	test -x $(LOCK_TOOLS)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOLS) \
	  && $(LOCK_TOOLS)/bin/pip install --quiet uv)
	$(UV_COMPILE) --extra test -o requirements-test.lock
	$(UV_COMPILE) -c requirements-test.lock -o requirements.lock
	$(LOCK_TOOLS)/bin/uv pip compile requirements-build.in --quiet --universal \
	  --python-version 3.11 --generate-hashes -o $(BUILD_LOCK)

# Quick start: the service with its bundled policies and SQLite database, authentication on,
# trusting the development client (key and trust file made once under var/dev-client;
# `.venv/bin/cds-service token --service crd-order-sign` prints a JWT for curl).
DEV_CLIENT ?= var/dev-client
run: install-runtime
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
