"""Operators see why tokens are rejected: a bounded reason label per failure, never the token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.auth.ehr import EHR, SIGN_URL, example

SIGN = "/cds-services/crd-order-sign"


def rejected(service: TestClient, reason: str) -> float:
    for line in service.get("/metrics").text.splitlines():
        if line.startswith(f'cds_jwt_rejections_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_each_rejection_is_counted_under_its_reason(service: TestClient, ehr: EHR) -> None:
    cases = {
        "missing": {},
        "malformed": {"Authorization": "Bearer not-a-jwt"},
        "audience": ehr.auth(aud="https://elsewhere.example/cds-services/crd-order-sign"),
        "issuer": EHR(iss="https://stranger.example").auth(),
    }
    token = ehr.token(SIGN_URL)
    before = {reason: rejected(service, reason) for reason in [*cases, "replay"]}
    for headers in cases.values():
        assert service.post(SIGN, json=example(), headers=headers).status_code == 401
    for _ in range(2):
        service.post(SIGN, json=example(), headers={"Authorization": f"Bearer {token}"})
    for reason in cases:
        assert rejected(service, reason) - before[reason] == 1, reason
    assert rejected(service, "replay") - before["replay"] == 1
    assert token not in service.get("/metrics").text
