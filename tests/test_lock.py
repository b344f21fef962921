"""The lock files pin every dependency, with hashes, and are what gets installed: requirements.lock
(runtime: `make run`, the Dockerfile), requirements-test.lock (runtime and test tools: `make
install`, `make test` and so CI) and requirements-build.lock (pip and the build backend, before
either). `make lock` writes all three."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(lock: Path) -> dict[str, tuple[str, Marker | None, int]]:
    """name -> (version, marker, number of hashes)."""
    found: dict[str, tuple[str, Marker | None, int]] = {}
    name = None
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match[1])
            marker = Marker(match[3]) if match[3] else None
            found[name] = (match[2], marker, 0)
        elif line.strip().startswith("--hash=sha256:") and name is not None:
            pinned, marker, hashes = found[name]
            found[name] = (pinned, marker, hashes + 1)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{lock.name}: unexpected line {line!r}")
    return found


def declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] if extra is None else \
        project["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_every_declared_dependency_is_pinned_with_hashes() -> None:
    runtime, full = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-test.lock")
    assert declared() <= set(runtime)
    assert declared() | declared("test") <= set(full)
    assert all(hashes for _, _, hashes in [*runtime.values(), *full.values()])


def test_both_locks_pin_the_same_versions() -> None:
    runtime, full = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-test.lock")
    assert {n: v for n, (v, _, _) in runtime.items()} == \
        {n: full[n][0] for n in runtime if n in full}
    assert set(runtime) <= set(full)


def test_this_environment_was_installed_from_the_test_lock() -> None:
    # `make install` installs the lock; a venv built before a lock change is reinstalled by it.
    drift = {}
    for name, (pinned, marker, _) in pins(ROOT / "requirements-test.lock").items():
        if marker is not None and not marker.evaluate():
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if installed != pinned:
            drift[name] = (pinned, installed)
    assert not drift, f"run `make install` (pinned, installed): {drift}"


def test_make_install_and_the_dockerfile_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-m pip install --quiet --require-hashes -r $(BUILD_LOCK)" in makefile
    assert "--require-hashes -r $(1)" in makefile
    assert "--no-deps --no-build-isolation $(PIP_SPEC)" in makefile  # the pinned backend builds
    assert "$(VENV)/.installed-test: pyproject.toml $(BUILD_LOCK) $(TEST_LOCK)" in makefile
    assert "$(call install_lock,$(TEST_LOCK))" in makefile
    assert "$(call install_lock,$(RUNTIME_LOCK))" in makefile
    assert "\nrun: install-runtime\n" in makefile  # `make run` takes no test tools
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "make install-runtime VENV=/opt/venv" in dockerfile
    assert "requirements-build.lock requirements.lock ./" in dockerfile


def test_pip_and_the_build_backend_are_pinned_with_hashes() -> None:
    build = pins(ROOT / "requirements-build.lock")
    assert set(build) == {"pip", "setuptools"}
    assert all(hashes for _, _, hashes in build.values())
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert requires == [f"setuptools=={build['setuptools'][0]}"]  # `pip install .` builds alike
    for name in ("pip", "setuptools"):
        assert version(name) == build[name][0], "run `make install`"
