"""Integrators can tell 401s apart (RFC 6750 §3): the challenge names the refusal's bounded
category (the label of cds_jwt_rejections_total), never anything from the token, and the log line
names the category and, for a wrong audience, the aud expected and the aud received."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient

from cds_service.errors import Unauthorized
from cds_service.logs import JsonFormatter
from tests.auth.ehr import DISCOVERY_URL, EHR, SIGN_URL, b64, claims, example

SIGN = "/cds-services/crd-order-sign"
ELSEWHERE = "https://elsewhere.example/cds-services/crd-order-sign"


def challenge(category: str) -> str:
    return f'Bearer error="invalid_token", error_description="{category}"'


def unsigned_none(ehr: EHR) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': ehr.jwk['kid']})}.{b64(claims())}."


def without_jti(ehr: EHR) -> str:
    return jwt.encode(claims(jti=None), ehr.key, algorithm="ES384",
                      headers={"kid": ehr.jwk["kid"]})


#: One token per category, as an EHR (or a misconfigured one) would send it.
TOKENS: dict[str, Callable[[EHR], str]] = {
    "malformed": lambda ehr: "not-a-jwt",
    "algorithm": unsigned_none,
    "issuer": lambda ehr: EHR(iss="https://stranger.example").token(),
    "key": lambda ehr: EHR(slot=1).token(),  # a key (kid) the trust file does not list
    "signature": lambda ehr: EHR(slot=1, kid=ehr.jwk["kid"]).token(),  # right kid, other key
    "audience": lambda ehr: ehr.token(ELSEWHERE),
    "expired": lambda ehr: ehr.token(now=int(time.time()) - 400),
    "not-yet-valid": lambda ehr: ehr.token(now=int(time.time()) + 120),
    "lifetime": lambda ehr: ehr.token(lifetime=7200),
    "claims": without_jti,
}


@pytest.mark.parametrize("category", TOKENS)
def test_a_refused_token_gets_its_category_in_the_challenge(
        service: TestClient, ehr: EHR, category: str) -> None:
    token = TOKENS[category](ehr)
    response = service.post(SIGN, json=example(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge(category)
    assert response.json()["issue"][0]["diagnostics"] == "Authentication failed."
    assert not any(part in response.headers["www-authenticate"] for part in token.split(".")
                   if len(part) >= 8)


def test_a_replayed_token_gets_the_replay_category(service: TestClient, ehr: EHR) -> None:
    headers = ehr.auth()
    assert service.post(SIGN, json=example(), headers=headers).status_code == 200
    response = service.post(SIGN, json=example(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge("replay")


def test_a_request_without_credentials_gets_the_bare_challenge(service: TestClient) -> None:
    # RFC 6750 §3.1: no error information when the request carried no credentials at all.
    response = service.post(SIGN, json=example())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_ehr_token_on_the_operators_endpoint_gets_the_operator_category(
        service: TestClient, ehr: EHR) -> None:
    # /records/stats is for the payer's operators: a trusted EHR's valid JWT is not their token.
    response = service.get("/records/stats", headers=ehr.auth())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge("operator")


def test_every_category_is_covered_here() -> None:
    assert {*TOKENS, "replay", "missing", "other", "operator"} == Unauthorized.CATEGORIES


def test_the_log_of_an_audience_refusal_names_both_audiences(
        service: TestClient, ehr: EHR, caplog: pytest.LogCaptureFixture) -> None:
    token = ehr.token(DISCOVERY_URL)  # a token for discovery, sent to the order-sign hook
    with caplog.at_level("WARNING", logger="cds_service.api"):
        service.post(SIGN, json=example(), headers={"Authorization": f"Bearer {token}"})
    [line] = [r for r in caplog.records if r.getMessage().startswith("authentication failed")]
    logged = json.loads(JsonFormatter().format(line))  # what the service's log line holds
    assert logged["category"] == "audience"
    assert logged["expected_aud"] == [SIGN_URL]
    assert logged["received_aud"] == repr(DISCOVERY_URL)
    assert "audience" in logged["message"]
    assert token.split(".")[2] not in json.dumps(logged)


@pytest.mark.parametrize("category", ["issuer", "expired", "signature"])
def test_the_log_of_any_refusal_names_its_category(
        service: TestClient, ehr: EHR, caplog: pytest.LogCaptureFixture, category: str) -> None:
    token = TOKENS[category](ehr)
    with caplog.at_level("WARNING", logger="cds_service.api"):
        service.post(SIGN, json=example(), headers={"Authorization": f"Bearer {token}"})
    [line] = [r for r in caplog.records if r.getMessage().startswith("authentication failed")]
    assert line.__dict__["category"] == category
    assert "expected_aud" not in line.__dict__


def test_free_text_in_a_refused_token_reaches_the_log_only_as_a_digest(
        service: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    # Free text, which could be anything a caller typed, is not shown (issue 12: no caller text
    # in logs), and since issue 21 neither is an identifier-like iss no client is trusted for:
    # a URL can carry a patient's name as well. Both are named by their digest.
    stranger = EHR(iss="Maren Brightwater SSN 123-45-6789")
    with caplog.at_level("WARNING", logger="cds_service.api"):
        service.post(SIGN, json=example(), headers=stranger.auth())
        service.post(SIGN, json=example(), headers=EHR(iss="https://stranger.example").auth())
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "Brightwater" not in logged and "123-45-6789" not in logged
    assert "sha256:" in logged and "stranger" not in logged
