"""The development client of the quick start: `cds-service dev-client init` (idempotent) and
`cds-service token`, whose tokens the service accepts with authentication on."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cds_service.auth.devclient import DEV_ISS, KEY_FILE, TRUST_FILE, thumbprint
from cds_service.cli import main
from tests.auth.ehr import BASE, ROOT, decode_unverified, example, serve, settings_for


@pytest.fixture(autouse=True)
def _public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", BASE)


def init(directory: Path, *extra: str) -> None:
    assert main(["dev-client", "init", "--dir", str(directory), *extra]) == 0


def token(directory: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["token", "--dir", str(directory), *args]) == 0
    return capsys.readouterr().out.strip()


def test_init_writes_a_private_key_and_a_trust_file(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "dev-client"
    init(directory)
    key = directory / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    trust = json.loads((directory / TRUST_FILE).read_text())
    [entry] = trust["clients"]
    assert entry["iss"] == DEV_ISS
    [jwk] = entry["jwks"]["keys"]
    assert "d" not in jwk  # public half only
    assert jwk["kid"] == thumbprint(jwk)
    assert jwk["alg"] == "ES384"


def test_init_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    capsys.readouterr()
    init(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert "up to date" in capsys.readouterr().err


def test_init_keeps_other_clients_and_sets_fhir_servers(tmp_path: Path) -> None:
    init(tmp_path)
    trust_path = tmp_path / TRUST_FILE
    trust = json.loads(trust_path.read_text())
    other = {"iss": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/jwks"}
    trust["clients"].append(other)
    trust_path.write_text(json.dumps(trust))
    init(tmp_path, "--fhir-server", "http://127.0.0.1:8081/fhir")
    clients = json.loads(trust_path.read_text())["clients"]
    assert other in clients
    [dev] = [c for c in clients if c["iss"] == DEV_ISS]
    assert dev["fhir_servers"] == ["http://127.0.0.1:8081/fhir"]
    init(tmp_path)  # without --fhir-server the list stays
    [dev] = [c for c in json.loads(trust_path.read_text())["clients"] if c["iss"] == DEV_ISS]
    assert dev["fhir_servers"] == ["http://127.0.0.1:8081/fhir"]


def test_token_names_the_service_url_from_the_public_base_url(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path)
    claims = decode_unverified(token(tmp_path, capsys, "--service", "crd-order-sign"))
    assert claims["aud"] == f"{BASE}/cds-services/crd-order-sign"
    assert claims["iss"] == DEV_ISS
    assert claims["exp"] - claims["iat"] == 300
    assert decode_unverified(token(tmp_path, capsys))["aud"] == f"{BASE}/cds-services"
    feedback = token(tmp_path, capsys, "--service", "crd-order-sign", "--feedback")
    assert decode_unverified(feedback)["aud"] == f"{BASE}/cds-services/crd-order-sign/feedback"
    assert token(tmp_path, capsys) != token(tmp_path, capsys)  # a new jti every time


def test_tokens_from_the_cli_are_accepted_by_the_service(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path)
    settings = settings_for(tmp_path, tmp_path / TRUST_FILE)
    with serve(settings) as service:
        sign = token(tmp_path, capsys, "--service", "crd-order-sign")
        response = service.post("/cds-services/crd-order-sign", json=example(),
                                headers={"Authorization": f"Bearer {sign}"})
        assert response.status_code == 200
        discovery = token(tmp_path, capsys)
        response = service.get("/cds-services", headers={"Authorization": f"Bearer {discovery}"})
        assert response.status_code == 200


def test_token_refuses_what_the_service_would_refuse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path)
    assert main(["token", "--dir", str(tmp_path), "--service", "no-such-service"]) == 2
    known = "known: crd-appointment-book, crd-order-dispatch, crd-order-select, crd-order-sign"
    assert known in capsys.readouterr().err
    assert main(["token", "--dir", str(tmp_path), "--lifetime", "7200"]) == 2
    assert main(["token", "--dir", str(tmp_path), "--feedback"]) == 2


def test_token_without_init_says_what_to_run(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--dir", str(tmp_path / "nothing")]) == 2
    assert "cds-service dev-client init" in capsys.readouterr().err


def test_make_run_serves_with_the_dev_client_and_auth_on() -> None:
    makefile = (ROOT / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:"):].split("\n\n")[0]
    assert "dev-client init" in run
    assert "CDS_TRUSTED_CLIENTS=" in run
    assert "CDS_AUTH_ENABLED" not in run
