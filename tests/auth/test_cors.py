"""CORS for browser-based CDS Clients (CDS Hooks 2.0 §Cross-Origin Resource Sharing): the sandbox
runs in a browser, its preflight carries no JWT, and only listed origins get CORS headers."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.errors import ConfigurationError
from cds_service.main import create_app
from cds_service.runtime import Runtime
from tests.auth.ehr import EHR, example, serve, settings_for

SANDBOX = "https://sandbox.cds-hooks.org"
SIGN = "/cds-services/crd-order-sign"
PREFLIGHT = {"Origin": SANDBOX, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


def test_a_preflight_from_a_listed_origin_passes_without_a_jwt(tmp_path: Path,
                                                               trust_file: Path) -> None:
    with serve(settings_for(tmp_path, trust_file, cors_origins=[SANDBOX])) as service:
        response = service.options(SIGN, headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SANDBOX
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


def test_a_preflight_from_another_origin_gets_no_cors_grant(tmp_path: Path,
                                                           trust_file: Path) -> None:
    with serve(settings_for(tmp_path, trust_file, cors_origins=[SANDBOX])) as service:
        response = service.options(SIGN, headers=PREFLIGHT | {"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_the_browser_can_read_answers_and_refusals(tmp_path: Path, trust_file: Path,
                                                  ehr: EHR) -> None:
    with serve(settings_for(tmp_path, trust_file, cors_origins=[SANDBOX + "/"])) as service:
        ok = service.post(SIGN, json=example(), headers=ehr.auth() | {"Origin": SANDBOX})
        refused = service.post(SIGN, json=example(), headers={"Origin": SANDBOX})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == SANDBOX
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == SANDBOX


def test_without_cors_origins_no_cors_headers_are_sent(service: TestClient) -> None:
    response = service.get("/healthz", headers={"Origin": SANDBOX})
    assert "access-control-allow-origin" not in response.headers


def test_any_origin_is_refused_in_production(tmp_path: Path, trust_file: Path) -> None:
    settings = settings_for(tmp_path, trust_file, cors_origins=["*"])
    with pytest.raises(ConfigurationError) as raised:
        create_app(settings, Runtime.build(settings))
    assert "'*'" in str(raised.value) and "refused outside development" in str(raised.value)


def test_any_origin_is_allowed_in_development_without_credentials(tmp_path: Path,
                                                                  trust_file: Path) -> None:
    settings = settings_for(tmp_path, trust_file, cors_origins=["*"], environment="development")
    with serve(settings) as service:
        response = service.options(SIGN, headers=PREFLIGHT | {"Origin": "http://localhost:3000"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("origin", ["sandbox.cds-hooks.org", "https://sandbox.cds-hooks.org/x",
                                    "http://ehr.example.org"])
def test_bad_origins_are_refused_in_production(tmp_path: Path, trust_file: Path,
                                               origin: str) -> None:
    settings = settings_for(tmp_path, trust_file, cors_origins=[origin])
    with pytest.raises(ConfigurationError) as raised:
        create_app(settings, Runtime.build(settings))
    assert "CDS_CORS_ORIGINS[0]" in str(raised.value)


# --- a refused preflight leaves one log line ---------------------------------------------------

def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cds_service.cors"]


@pytest.mark.parametrize("listed", [["http://127.0.0.1:3000"], []], ids=["other", "none"])
def test_a_refused_preflight_is_one_line_naming_the_origins_host_and_the_setting(
        tmp_path: Path, trust_file: Path, caplog: pytest.LogCaptureFixture,
        listed: list[str]) -> None:
    """The sandbox on localhost while 127.0.0.1 is listed (or nothing is): the browser says only
    "CORS error"; the log says which origin and which setting."""
    settings = settings_for(tmp_path, trust_file, cors_origins=listed, environment="development")
    origin = "http://localhost:3000"
    with serve(settings) as service, caplog.at_level(logging.INFO, "cds_service"):
        response = service.options(SIGN, headers=PREFLIGHT | {"Origin": origin})
    assert response.status_code == 400
    [line] = refusals(caplog)
    assert line.getMessage() == "CORS preflight refused: origin not in CDS_CORS_ORIGINS"
    assert line.origin_host == "localhost"  # type: ignore[attr-defined]
    digest = hashlib.sha256(origin.encode()).hexdigest()
    assert line.origin_sha256 == digest  # type: ignore[attr-defined]


def test_a_refused_preflight_logs_no_text_of_the_callers_but_a_plain_host(
        tmp_path: Path, trust_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    origin = "https://sandbox.cds-hooks.org Jane Doe 1970-01-01"
    with serve(settings_for(tmp_path, trust_file, cors_origins=[SANDBOX])) as service, \
            caplog.at_level(logging.INFO, "cds_service"):
        service.options(SIGN, headers=PREFLIGHT | {"Origin": origin,
                                                   "Access-Control-Request-Method": "PUT"})
    [line] = refusals(caplog)
    assert line.getMessage() == ("CORS preflight refused: origin not in CDS_CORS_ORIGINS; "
                                 "method other than GET, POST, OPTIONS")
    assert line.origin_host is None  # type: ignore[attr-defined]
    assert "Jane" not in str(line.__dict__)


def test_a_granted_preflight_logs_nothing(tmp_path: Path, trust_file: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with serve(settings_for(tmp_path, trust_file, cors_origins=[SANDBOX])) as service, \
            caplog.at_level(logging.INFO, "cds_service"):
        assert service.options(SIGN, headers=PREFLIGHT).status_code == 200
    assert refusals(caplog) == []
