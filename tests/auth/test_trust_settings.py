"""The trust file and the trust settings: what loads, what stops start-up (with a message naming
the file and the field), turning authentication off, and the bundled CDS Hooks sandbox keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds_service.auth.client import DevelopmentNoAuth
from cds_service.auth.trust import SANDBOX_ISS, SANDBOX_JKU, load_trust, sandbox_client
from cds_service.auth.verify import JwtAuthenticator, check_trust
from cds_service.cli import main
from cds_service.errors import ConfigurationError
from cds_service.main import create_app
from cds_service.runtime import Runtime
from tests.auth.ehr import EHR, REFERENCE, example, serve, settings_for, write_trust
from tests.support import require_shared


def configuration_error(tmp_path: Path, trust: Path | None, **settings: Any) -> str:
    with pytest.raises(ConfigurationError) as raised:
        Runtime.build(settings_for(tmp_path, trust, **settings))
    return str(raised.value)


def test_a_yaml_trust_file_works_like_json(tmp_path: Path) -> None:
    ehr = EHR()
    trust = tmp_path / "trusted-clients.yaml"
    trust.write_text(yaml.safe_dump({"clients": [ehr.entry()]}))
    with serve(settings_for(tmp_path, trust)) as service:
        response = service.post("/cds-services/crd-order-sign", json=example(),
                                headers=ehr.auth())
        assert response.status_code == 200


@pytest.mark.parametrize(("change", "message"), [
    ({"jwks": None}, "give exactly one of jwks (inline keys) or jwks_url"),
    ({"jwks_url": "https://ehr.example.org/jwks.json"}, "give exactly one of jwks"),
    ({"algorithms": ["HS256"]}, "'HS256' not allowed"),
    ({"algorithms": ["none"]}, "'none' not allowed"),
    ({"algorithms": []}, "at least one algorithm"),
    ({"fhir_servers": ["ehr.example.org/fhir"]}, "must be an absolute http(s) URL"),
    ({"jku": ["https://ehr.example.org/jwks.json?x=1"]}, "must not have a query"),
    ({"iss": ""}, "clients.0.iss"),
    ({"colour": "blue"}, "clients.0.colour"),
    ({"jwks": {"keys": []}}, "non-empty 'keys' array"),
    ({"jwks": {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}},
     "'oct' is not an asymmetric key type"),
    ({"crd_version": "3.1"}, "'3.1' is not a Da Vinci CRD version this service answers"),
])
def test_a_bad_trust_entry_stops_start_up_naming_file_and_field(
        tmp_path: Path, change: dict[str, Any], message: str) -> None:
    entry = {k: v for k, v in (EHR().entry() | change).items() if v is not None}
    trust = write_trust(tmp_path / "trust.json", entry)
    error = configuration_error(tmp_path, trust)
    assert str(trust) in error
    assert message in error


def test_a_private_key_in_the_trust_file_is_refused(tmp_path: Path) -> None:
    ehr = EHR()
    private = ehr.jwk | {"d": "c2VjcmV0"}
    trust = write_trust(tmp_path / "trust.json", ehr.entry(jwks={"keys": [private]}))
    assert "private key material" in configuration_error(tmp_path, trust)


def test_a_key_without_kid_and_duplicate_kids_are_refused(tmp_path: Path) -> None:
    ehr, other = EHR(), EHR(slot=1)
    no_kid = {k: v for k, v in ehr.jwk.items() if k != "kid"}
    trust = write_trust(tmp_path / "a.json", ehr.entry(jwks={"keys": [no_kid]}))
    assert "kid: required" in configuration_error(tmp_path, trust)
    twice = other.jwk | {"kid": ehr.jwk["kid"]}
    trust = write_trust(tmp_path / "b.json", ehr.entry(jwks={"keys": [ehr.jwk, twice]}))
    assert "appears more than once" in configuration_error(tmp_path, trust)


def test_an_issuer_listed_twice_is_refused(tmp_path: Path) -> None:
    ehr = EHR()
    trust = write_trust(tmp_path / "trust.json", ehr.entry(), ehr.entry())
    assert "appears more than once" in configuration_error(tmp_path, trust)


def test_a_missing_or_unreadable_trust_file_is_refused(tmp_path: Path) -> None:
    assert "cannot read" in configuration_error(tmp_path, tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[]")
    assert "expected a mapping" in configuration_error(tmp_path, tmp_path / "list.json")


def test_auth_on_without_any_trusted_client_refuses_to_start(tmp_path: Path) -> None:
    error = configuration_error(tmp_path, None)
    assert "no client is trusted" in error
    assert "CDS_TRUSTED_CLIENTS" in error


def test_auth_cannot_be_turned_off_in_production(tmp_path: Path) -> None:
    error = configuration_error(tmp_path, None, auth_enabled=False)
    assert "only with CDS_ENVIRONMENT=development" in error


def test_serve_refuses_to_start_with_auth_off_in_production(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CDS_AUTH_ENABLED", "false")
    monkeypatch.setenv("CDS_ENVIRONMENT", "production")
    monkeypatch.setenv("CDS_RECORD_DECISIONS", "false")
    monkeypatch.setattr("cds_service.logs.configure", lambda *args: None)  # keep pytest's logging
    assert main(["serve"]) == 2  # before uvicorn starts
    assert "only with CDS_ENVIRONMENT=development" in capsys.readouterr().err


def test_auth_off_in_development_warns_loudly_and_lets_anyone_in(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(tmp_path, None, environment="development", auth_enabled=False)
    with caplog.at_level(logging.WARNING):
        runtime = Runtime.build(settings)
    assert isinstance(runtime.authenticator, DevelopmentNoAuth)
    assert any(r.levelno == logging.WARNING and "AUTHENTICATION IS OFF" in r.getMessage()
               for r in caplog.records)
    with TestClient(create_app(settings, runtime)) as service:
        assert service.get("/cds-services").status_code == 200


def test_check_trust_runs_without_the_network(tmp_path: Path) -> None:
    entry = EHR().entry(jwks_url="https://ehr.example.org/jwks.json")
    del entry["jwks"]
    check_trust(settings_for(tmp_path, write_trust(tmp_path / "trust.json", entry)))


def test_a_plain_http_fhir_server_is_refused_in_production(tmp_path: Path) -> None:
    secure = "https://ehr.example.org/fhir"
    trust = write_trust(tmp_path / "trust.json", EHR().entry(),
                        EHR(iss="https://other.example").entry(
                            fhir_servers=[secure, "http://127.0.0.1:9999/fhir"]))
    error = configuration_error(tmp_path, trust)
    assert str(trust) in error
    assert "clients.1.fhir_servers.1: 'http://127.0.0.1:9999/fhir' must be https" in error
    assert "clients.0" not in error


def test_a_plain_http_fhir_server_loads_in_development(tmp_path: Path) -> None:
    trust = write_trust(tmp_path / "trust.json",
                        EHR().entry(fhir_servers=["http://127.0.0.1:9999/fhir"]))
    [client] = load_trust(settings_for(tmp_path, trust, environment="development"))
    assert client.fhir_servers == ("http://127.0.0.1:9999/fhir",)


# --- the CDS Hooks sandbox ------------------------------------------------------------------------

def test_the_bundled_sandbox_keys_are_the_sandbox_published_keys() -> None:
    require_shared(REFERENCE / "sandbox" / "jwks.json")
    published = json.loads((REFERENCE / "sandbox" / "jwks.json").read_text())
    client = sandbox_client()
    assert client.jwks == {"keys": published["keys"]}
    assert client.iss == SANDBOX_ISS
    assert client.allowed_jku == {SANDBOX_JKU}
    assert client.algorithms == ("ES384",)
    assert client.fhir_servers == ()


def test_the_sandbox_is_trusted_only_when_asked(tmp_path: Path) -> None:
    trust = write_trust(tmp_path / "trust.json", EHR().entry())
    assert [c.iss for c in load_trust(settings_for(tmp_path, trust))] == [EHR().iss]
    assert [c.iss for c in load_trust(settings_for(tmp_path, trust, trust_sandbox=True))] == [
        EHR().iss, SANDBOX_ISS]
    runtime = Runtime.build(settings_for(tmp_path, None, trust_sandbox=True))
    assert isinstance(runtime.authenticator, JwtAuthenticator)


def test_a_trust_file_entry_for_the_sandbox_wins_over_the_bundled_one(tmp_path: Path) -> None:
    own = EHR(iss=SANDBOX_ISS).entry(fhir_servers=["https://sandbox-fhir.example/r4"])
    trust = write_trust(tmp_path / "trust.json", own)
    clients = load_trust(settings_for(tmp_path, trust, trust_sandbox=True))
    assert [c.fhir_servers for c in clients] == [("https://sandbox-fhir.example/r4",)]


def test_a_token_claiming_to_be_the_sandbox_needs_the_sandbox_key(tmp_path: Path) -> None:
    sandbox_kid = sandbox_client().inline_keys()
    impostor = EHR(iss=SANDBOX_ISS, kid="44823f3d-0b01-4a6c-a80e-b9d3e8a7226f")
    assert impostor.jwk["kid"] in sandbox_kid
    with serve(settings_for(tmp_path, None, trust_sandbox=True)) as service:
        response = service.post("/cds-services/crd-order-sign", json=example(),
                                headers=impostor.auth(jku=SANDBOX_JKU))
        assert response.status_code == 401
