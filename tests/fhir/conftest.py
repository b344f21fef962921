"""Fixtures for the EHR FHIR server tests: the service trusts one EHR whose FHIR server is
allowlisted, and every outbound request goes to a fake server given as a plain function."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auth.ehr import EHR, write_trust


@pytest.fixture
def ehr() -> EHR:
    return EHR()


@pytest.fixture
def trust_file(tmp_path: Path, ehr: EHR) -> Path:
    return write_trust(tmp_path / "trusted-clients.json", ehr.entry())
