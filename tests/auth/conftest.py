"""Fixtures for the trust tests: one EHR with an ES384 key, trusted by a trust file, and the
service running on it with authentication on and production rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.auth.ehr import EHR, serve, settings_for, write_trust


@pytest.fixture
def ehr() -> EHR:
    return EHR()


@pytest.fixture
def trust_file(tmp_path: Path, ehr: EHR) -> Path:
    return write_trust(tmp_path / "trusted-clients.json", ehr.entry())


@pytest.fixture
def service(tmp_path: Path, trust_file: Path) -> Iterator[TestClient]:
    with serve(settings_for(tmp_path, trust_file)) as client:
        yield client
