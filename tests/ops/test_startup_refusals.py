"""``cds-service serve`` refuses unsafe production settings before it serves anything: exit status
2 and a message on stderr naming the setting, or the file and the field. The same settings are
accepted in development. (The refusals themselves are tested where they live: tests/auth/ for
authentication, the trust file and CORS.)"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from cds_service.cli import main
from tests.auth.ehr import EHR, write_trust

HTTP_FHIR = "http://127.0.0.1:8081/fhir"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment, trusting one EHR, without records; uvicorn never starts."""
    for name in [n for n in os.environ if n.startswith("CDS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CDS_RECORD_DECISIONS", "false")
    monkeypatch.setenv("CDS_TRUSTED_CLIENTS", str(write_trust(tmp_path / "trust.json",
                                                              EHR().entry())))
    monkeypatch.setattr("cds_service.logs.configure", lambda *args: None)  # keep pytest's logging

    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("serve started despite unsafe settings")

    monkeypatch.setattr("cds_service.server.supervisor.serve", no_server)
    # The address is tried for real elsewhere (tests/test_setting_mistakes.py); here a busy
    # port 8080 on a shared machine must not decide the outcome.
    monkeypatch.setattr("cds_service.server.address.check_listen", lambda host, port: None)
    return monkeypatch


def http_fhir_trust_file(tmp_path: Path) -> str:
    entry = EHR().entry(fhir_servers=["https://ehr.example.org/fhir", HTTP_FHIR])
    return str(write_trust(tmp_path / "dev-trust.json", entry))


@pytest.mark.parametrize(("name", "unsafe", "message"), [
    ("auth off", {"CDS_AUTH_ENABLED": "false"},
     ["CDS_AUTH_ENABLED=false", "only with CDS_ENVIRONMENT=development"]),
    ("any origin", {"CDS_CORS_ORIGINS": json.dumps(["*"])},
     ["CDS_CORS_ORIGINS[0]: '*'", "refused outside development"]),
    ("http FHIR server", {"CDS_TRUSTED_CLIENTS": http_fhir_trust_file},
     ["dev-trust.json", f"clients.0.fhir_servers.1: '{HTTP_FHIR}' must be https"]),
])
def test_serve_refuses_unsafe_production_settings(
        env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        name: str, unsafe: dict[str, Any], message: list[str]) -> None:
    for variable, value in unsafe.items():
        env.setenv(variable, value(tmp_path) if callable(value) else value)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error in ")
    assert all(part in err for part in message), err


def test_serve_accepts_the_same_settings_in_development(
        env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    served: list[int] = []
    env.setattr("cds_service.server.supervisor.serve",
                lambda **kwargs: served.append(kwargs["workers"]) or 0)
    env.setattr(signal, "signal", lambda *args: None)  # serve's SIGTERM handler: not here
    env.setenv("CDS_ENVIRONMENT", "development")
    env.setenv("CDS_CORS_ORIGINS", json.dumps(["*"]))
    env.setenv("CDS_TRUSTED_CLIENTS", http_fhir_trust_file(tmp_path))
    assert main(["serve"]) == 0
    env.setenv("CDS_AUTH_ENABLED", "false")
    assert main(["serve"]) == 0
    assert served == [1, 1]
