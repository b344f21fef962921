"""CDS Hooks 2.0 §Trusting CDS Clients, through the HTTP API: every bad token gets a bare 401
OperationOutcome, the reason is logged without the token, good ES384 and RS384 tokens pass."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from tests.auth.ehr import (
    BASE,
    DISCOVERY_URL,
    EHR,
    ISS,
    SIGN_URL,
    b64,
    claims,
    example,
    serve,
    settings_for,
    write_trust,
)

SIGN = "/cds-services/crd-order-sign"


def call(service: TestClient, token: str | None, path: str = SIGN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if path == "/cds-services":
        return service.get(path, headers=headers)
    return service.post(path, json=example(), headers=headers)


def assert_refused(response: Any) -> None:
    """401 with a generic body; the challenge names only the bounded reason category (RFC 6750
    §3, tests/auth/test_refusal_diagnostics.py checks each one)."""
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge == "Bearer" or re.fullmatch(
        r'Bearer error="invalid_token", error_description="([a-z-]+)"', challenge), challenge
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "login", "diagnostics": "Authentication failed."}]}


def refusal_reason(caplog: pytest.LogCaptureFixture) -> str:
    reasons = [str(getattr(r, "reason", "")) for r in caplog.records
               if r.getMessage().startswith("authentication failed")]
    assert len(reasons) == 1, reasons
    return reasons[0]


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(header)}.{b64(payload)}.{b64(signature) if signature else ''}"


# --- accepted ------------------------------------------------------------------------------------

def test_an_es384_token_for_the_hook_url_is_accepted(service: TestClient, ehr: EHR) -> None:
    response = service.post(SIGN, json=example(), headers=ehr.auth(SIGN_URL))
    assert response.status_code == 200, response.text
    assert response.json()["cards"]


def test_an_rs384_token_is_accepted(tmp_path: Path) -> None:
    rsa = EHR(alg="RS384")
    trust = write_trust(tmp_path / "trust.json", rsa.entry())
    with serve(settings_for(tmp_path, trust)) as service:
        assert call(service, rsa.token()).status_code == 200


def test_an_rsa_key_without_alg_serves_rs384(tmp_path: Path) -> None:
    # Published key sets often omit "alg" on RSA keys.
    rsa = EHR(alg="RS384")
    jwk = {k: v for k, v in rsa.jwk.items() if k != "alg"}
    trust = write_trust(tmp_path / "trust.json", rsa.entry(jwks={"keys": [jwk]}))
    with serve(settings_for(tmp_path, trust)) as service:
        assert call(service, rsa.token()).status_code == 200


def test_discovery_takes_a_token_for_the_discovery_url(service: TestClient, ehr: EHR) -> None:
    assert call(service, ehr.token(DISCOVERY_URL), "/cds-services").status_code == 200
    assert_refused(call(service, ehr.token(SIGN_URL), "/cds-services"))


def test_aud_may_be_an_array_naming_the_endpoint(service: TestClient, ehr: EHR) -> None:
    token = ehr.token(["https://other.example/cds-services/x", SIGN_URL])
    assert call(service, token).status_code == 200


def test_aud_with_a_trailing_slash_names_the_same_endpoint(service: TestClient,
                                                           ehr: EHR) -> None:
    assert call(service, ehr.token(SIGN_URL + "/")).status_code == 200


def test_a_token_expired_within_the_leeway_is_accepted(service: TestClient, ehr: EHR) -> None:
    now = int(time.time())
    assert call(service, ehr.token(now=now - 310)).status_code == 200  # exp = now - 10, leeway 30


def test_the_right_tenant_is_accepted_and_a_wrong_one_refused(tmp_path: Path) -> None:
    ehr = EHR(extra={"tenant": "hospital-a"})
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    with serve(settings_for(tmp_path, trust)) as service:
        assert call(service, ehr.token(tenant="hospital-a")).status_code == 200
        assert_refused(call(service, ehr.token(tenant="hospital-b")))
        assert_refused(call(service, ehr.token()))


def test_an_allowlisted_jku_is_accepted(tmp_path: Path) -> None:
    ehr = EHR(extra={"jku": ["https://ehr.example.org/.well-known/jwks.json"]})
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    with serve(settings_for(tmp_path, trust)) as service:
        token = ehr.token(jku="https://ehr.example.org/.well-known/jwks.json")
        assert call(service, token).status_code == 200


# --- refused -------------------------------------------------------------------------------------

def test_a_call_without_a_token_is_refused(service: TestClient,
                                           caplog: pytest.LogCaptureFixture) -> None:
    assert_refused(call(service, None))
    assert "no Authorization header" in refusal_reason(caplog)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "token"])
def test_an_authorization_header_that_is_not_a_bearer_jwt_is_refused(
        service: TestClient, header: str) -> None:
    assert_refused(service.get("/cds-services", headers={"Authorization": header}))


def test_a_garbage_token_is_refused(service: TestClient) -> None:
    assert_refused(call(service, "not.a.jwt"))
    assert_refused(call(service, "x" * 9000))


def test_alg_none_is_refused(service: TestClient, ehr: EHR,
                             caplog: pytest.LogCaptureFixture) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": ehr.jwk["kid"]}, claims())
    assert_refused(call(service, token))
    assert "alg 'none' not allowed" in refusal_reason(caplog)


def test_hs256_with_a_shared_secret_is_refused(service: TestClient, ehr: EHR,
                                               caplog: pytest.LogCaptureFixture) -> None:
    token = jwt.encode(claims(), "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256",
                       headers={"kid": ehr.jwk["kid"]})
    assert_refused(call(service, token))
    assert "alg 'HS256' not allowed" in refusal_reason(caplog)


def test_hs256_signed_with_the_public_key_is_refused(service: TestClient, ehr: EHR) -> None:
    # The classic key-confusion attack: HMAC keyed with the client's public key.
    public_pem = ehr.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": ehr.jwk["kid"]}
    signing_input = f"{b64(header)}.{b64(claims())}".encode()
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    assert_refused(call(service, f"{signing_input.decode()}.{b64(signature)}"))


@pytest.mark.parametrize("aud", [
    "https://cds.payer.example/cds-services/crd-order-select",  # another of our services
    DISCOVERY_URL,
    "http://testserver/cds-services/crd-order-sign",  # as seen by the request, not configured
    "https://cds.payer.example/cds-services/crd-order-sign/feedback",
])
def test_a_token_for_another_url_is_refused(service: TestClient, ehr: EHR, aud: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    assert_refused(call(service, ehr.token(aud)))
    assert f"aud {aud!r} is not the URL of the endpoint called" in refusal_reason(caplog)


def test_an_aud_array_without_the_endpoint_is_refused(service: TestClient, ehr: EHR) -> None:
    assert_refused(call(service, ehr.token([DISCOVERY_URL, "https://other.example/x"])))


def test_an_expired_token_is_refused(service: TestClient, ehr: EHR,
                                     caplog: pytest.LogCaptureFixture) -> None:
    assert_refused(call(service, ehr.token(now=int(time.time()) - 400)))  # exp 100 s ago
    assert "expired" in refusal_reason(caplog)


def test_a_token_issued_in_the_future_is_refused(service: TestClient, ehr: EHR,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    assert_refused(call(service, ehr.token(now=int(time.time()) + 120)))
    assert "in the future" in refusal_reason(caplog)


def test_a_token_living_longer_than_allowed_is_refused(service: TestClient, ehr: EHR,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    assert_refused(call(service, ehr.token(lifetime=7200)))  # CDS_JWT_MAX_LIFETIME_SECONDS 3600
    assert "over the 3600s limit" in refusal_reason(caplog)


@pytest.mark.parametrize("missing", ["iss", "aud", "exp", "iat", "jti"])
def test_a_token_without_a_required_claim_is_refused(service: TestClient, ehr: EHR,
                                                     missing: str) -> None:
    payload = claims()
    del payload[missing]
    token = jwt.encode(payload, ehr.key, algorithm="ES384",
                       headers={"kid": ehr.jwk["kid"], "typ": "JWT"})
    assert_refused(call(service, token))


def test_a_token_from_an_unknown_issuer_is_refused(service: TestClient, ehr: EHR,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    stranger = EHR(iss="https://stranger.example")
    assert_refused(call(service, stranger.token()))
    # Named by its digest only: an untrusted iss is text the caller chose (issue 21).
    digest = hashlib.sha256(b"https://stranger.example").hexdigest()[:12]
    assert f"sha256:{digest}> is not a trusted client" in refusal_reason(caplog)
    assert "stranger" not in caplog.text


def test_a_token_with_an_unknown_kid_is_refused(service: TestClient, ehr: EHR,
                                                caplog: pytest.LogCaptureFixture) -> None:
    token = jwt.encode(claims(), ehr.key, algorithm="ES384",
                       headers={"kid": "rotated-away", "typ": "JWT"})
    assert_refused(call(service, token))
    digest = hashlib.sha256(b"rotated-away").hexdigest()[:12]
    assert f"unknown kid <12 characters, sha256:{digest}>" in refusal_reason(caplog)
    assert "rotated-away" not in caplog.text


def test_a_token_without_kid_is_refused(service: TestClient, ehr: EHR) -> None:
    assert_refused(call(service, jwt.encode(claims(), ehr.key, algorithm="ES384")))


def test_a_token_signed_by_another_key_is_refused(service: TestClient, ehr: EHR,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    impostor = EHR(slot=1, kid=ehr.jwk["kid"])  # same iss and kid, different private key
    assert_refused(call(service, impostor.token()))
    assert "InvalidSignatureError" in refusal_reason(caplog)


def test_a_token_with_an_altered_payload_is_refused(service: TestClient, ehr: EHR) -> None:
    header, _, signature = ehr.token().split(".")
    forged = claims(exp=int(time.time()) + 3000)
    assert_refused(call(service, f"{header}.{b64(forged)}.{signature}"))


def test_an_rs384_token_naming_an_ec_key_is_refused(service: TestClient, ehr: EHR) -> None:
    rsa = EHR(alg="RS384", kid=ehr.jwk["kid"])
    assert_refused(call(service, rsa.token()))


def test_an_algorithm_not_allowed_for_the_client_is_refused(tmp_path: Path) -> None:
    es256 = EHR(alg="ES256")
    trust = write_trust(tmp_path / "trust.json", es256.entry(algorithms=["ES384"]))
    with serve(settings_for(tmp_path, trust)) as service:
        assert_refused(call(service, es256.token()))


def test_a_replayed_token_is_refused(service: TestClient, ehr: EHR,
                                     caplog: pytest.LogCaptureFixture) -> None:
    token = ehr.token()
    assert call(service, token).status_code == 200
    assert_refused(call(service, token))
    assert "replayed" in refusal_reason(caplog)


def test_a_jti_is_scoped_to_its_issuer(tmp_path: Path) -> None:
    one, two = EHR(), EHR(iss="https://second-ehr.example", slot=1)
    trust = write_trust(tmp_path / "trust.json", one.entry(), two.entry())
    with serve(settings_for(tmp_path, trust)) as service:
        assert call(service, one.token(jti="shared-nonce")).status_code == 200
        assert call(service, two.token(jti="shared-nonce")).status_code == 200


def test_a_failed_token_does_not_use_up_its_jti(service: TestClient, ehr: EHR) -> None:
    assert_refused(call(service, ehr.token(DISCOVERY_URL, jti="nonce-1")))
    assert call(service, ehr.token(jti="nonce-1")).status_code == 200


def test_a_jku_that_is_not_allowlisted_is_refused_and_never_fetched(
        service: TestClient, ehr: EHR, caplog: pytest.LogCaptureFixture) -> None:
    # The service's transport raises on any outbound request (tests.auth.ehr.serve).
    assert_refused(call(service, ehr.token(jku="https://attacker.example/jwks.json")))
    # The verdict and a digest: the jku is the attacker's choice of text (issue 21).
    assert "jku not allowlisted for iss 'https://ehr.example.org'" in refusal_reason(caplog)
    assert "attacker" not in caplog.text


def test_a_typ_other_than_jwt_is_refused(service: TestClient, ehr: EHR) -> None:
    token = jwt.encode(claims(), ehr.key, algorithm="ES384",
                       headers={"kid": ehr.jwk["kid"], "typ": "at+jwt"})
    assert_refused(call(service, token))


def test_the_token_never_reaches_the_log(service: TestClient, ehr: EHR,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = [ehr.token(), ehr.token(DISCOVERY_URL), ehr.token(now=int(time.time()) - 4000),
              "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz"]
    for token in tokens:
        call(service, token)
    call(service, tokens[0])  # replay
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "authentication failed" in caplog.text
    for token in tokens:
        for part in token.split("."):
            assert part not in logged


def test_logs_name_the_issuer_and_jti_of_an_accepted_call(service: TestClient, ehr: EHR,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    caplog.set_level(logging.INFO)
    call(service, ehr.token(jti="jti-for-the-log"))
    answered = [r for r in caplog.records if r.getMessage() == "hook answered"]
    assert [(r.__dict__["iss"], r.__dict__["jti"]) for r in answered] == [
        (ISS, "jti-for-the-log")]


def test_every_endpoint_but_the_public_pages_needs_a_token(service: TestClient) -> None:
    assert_refused(service.get("/cds-services"))
    assert_refused(service.post(SIGN, json=example()))
    assert_refused(service.post("/cds-services/crd-order-select", json=example()))
    assert service.get("/healthz").status_code == 200


def test_discovery_may_be_made_public(tmp_path: Path, trust_file: Path) -> None:
    with serve(settings_for(tmp_path, trust_file, discovery_public=True)) as service:
        assert service.get("/cds-services").status_code == 200
        assert_refused(service.post(SIGN, json=example()))


def test_the_public_base_url_not_the_request_decides_the_audience(tmp_path: Path,
                                                                  trust_file: Path,
                                                                  ehr: EHR) -> None:
    # Behind a TLS-terminating proxy the request arrives as http://internal:8080.
    settings = settings_for(tmp_path, trust_file)
    with serve(settings) as service:
        response = service.post("http://internal:8080" + SIGN, json=example(),
                                headers=ehr.auth(SIGN_URL))
        assert response.status_code == 200
        response = service.post("http://internal:8080" + SIGN, json=example(),
                                headers=ehr.auth("http://internal:8080" + SIGN))
        assert_refused(response)
    assert settings.public_base_url == BASE


def test_feedback_takes_a_token_for_its_own_url(tmp_path: Path, trust_file: Path,
                                                ehr: EHR) -> None:
    feedback = {"feedback": [{"card": "9c6b7a4e-2d3f-4a57-9e1c-0d1f2a3b4c5d",
                              "outcome": "overridden",
                              "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}
    path = f"{SIGN}/feedback"
    with serve(settings_for(tmp_path, trust_file, record_decisions=True)) as service:
        ok = service.post(path, json=feedback, headers=ehr.auth(f"{SIGN_URL}/feedback"))
        assert ok.status_code == 200, ok.text
        assert_refused(service.post(path, json=feedback))
        assert_refused(service.post(path, json=feedback, headers=ehr.auth(DISCOVERY_URL)))
