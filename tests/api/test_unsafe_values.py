"""Never a 500 for what a caller sent, on SQLite and PostgreSQL alike: U+0000, lone surrogates
and over-long values in anything that reaches the records (JWT ``jti`` and ``tenant``, ``hook``,
data the EHR's FHIR server returned, feedback items) are answered as any other value would be,
and the record is kept with the value made safe (cds_service/store/safe.py). A record that still
cannot be written is logged and counted, never lost silently."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from cds_service.store.db import Database
from cds_service.store.tables import decision, decision_order, feedback
from tests.auth.ehr import BASE, EHR, example, serve, settings_for, with_fhir_access, write_trust
from tests.fhir.test_missing_prefetch import resource, searchset

SIGN = "/cds-services/crd-order-sign"
FEEDBACK_URL = f"{BASE}/cds-services/crd-order-sign/feedback"
NUL = "a\x00b"
SURROGATE = "a\ud800b"
SAFE = "a\ufffdb"


def rows(url: str, table: Any) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        with db.read() as conn:
            return [dict(r) for r in conn.execute(select(table)).mappings()]
    finally:
        db.dispose()


def fhir_server(coverage_code: str) -> Any:
    def answer(request: httpx2.Request) -> httpx2.Response:
        coverage = resource("Coverage-cov-commercial")
        coverage["type"]["coding"][0]["code"] = coverage_code
        return httpx2.Response(200, json=searchset(coverage),
                               headers={"Content-Type": "application/fhir+json"})
    return answer


@pytest.fixture
def ehr() -> EHR:
    return EHR()


@pytest.fixture
def service(tmp_path: Path, migrated_url: str, ehr: EHR) -> Iterator[TestClient]:
    trust = write_trust(tmp_path / "trusted-clients.json", ehr.entry())
    settings = settings_for(tmp_path, trust, record_decisions=True, database_url=migrated_url)
    with serve(settings, fhir_server("9\x00" + "z" * 300)) as client:
        yield TestClient(client.app, base_url=BASE, raise_server_exceptions=False)


@pytest.mark.parametrize("claim", ["jti", "tenant"])
@pytest.mark.parametrize("value", [NUL, SURROGATE])
def test_nul_or_surrogate_in_jti_or_tenant_is_answered_and_recorded(
        service: TestClient, ehr: EHR, migrated_url: str, claim: str, value: str) -> None:
    response = service.post(SIGN, json=example(), headers=ehr.auth(**{claim: value}))
    assert response.status_code == 200, response.text
    [row] = rows(migrated_url, decision)
    assert row[f"client_{claim}"] == SAFE


def test_a_refused_call_with_an_overlong_hook_and_a_nul_jti_keeps_its_record(
        service: TestClient, ehr: EHR, migrated_url: str) -> None:
    body = example()
    body["hook"] = "h" * 300  # the request model allows 512, the record's column 128
    response = service.post(SIGN, json=body, headers=ehr.auth(jti=NUL))
    assert response.status_code == 400, response.text
    [row] = rows(migrated_url, decision)
    assert row["status"] == 400
    assert row["hook"] == "h" * 127 + "\u2026"
    assert row["client_jti"] == SAFE


def test_data_from_the_ehrs_fhir_server_is_recorded_made_safe(
        service: TestClient, ehr: EHR, migrated_url: str) -> None:
    # The member's Coverage comes from the EHR's FHIR server with a type code the payer file
    # does not map, holding U+0000; the record says which codes were seen.
    body = with_fhir_access(example())
    del body["prefetch"]["coverage"]
    response = service.post(SIGN, json=body, headers=ehr.auth())
    assert response.status_code == 200, response.text
    [order] = rows(migrated_url, decision_order)
    assert "9\ufffdzzz" in order["line_basis"] and "\x00" not in order["line_basis"]


@pytest.mark.parametrize("tenant", [NUL, SURROGATE])
def test_feedback_from_a_tenant_with_nul_or_a_surrogate_is_stored(
        service: TestClient, ehr: EHR, migrated_url: str, tenant: str) -> None:
    # (The body itself cannot carry U+0000: the JSON reader refuses it with 400.)
    item = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-26T10:05:31Z"}
    response = service.post(f"{SIGN}/feedback", json={"feedback": [item]},
                            headers=ehr.auth(aud=FEEDBACK_URL, tenant=tenant))
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1
    [row] = rows(migrated_url, feedback)
    assert row["client_tenant"] == SAFE


def test_a_refusal_record_that_cannot_be_written_is_logged_and_counted(
        service: TestClient, ehr: EHR, migrated_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    labels = {"record": "refusal", "reason": "error"}
    before = REGISTRY.get_sample_value("cds_records_not_written_total", labels) or 0.0
    db = Database(migrated_url)
    try:
        with db.write() as conn:  # a broken schema: no record can be written
            conn.execute(text("DROP TABLE decision_order"))
            conn.execute(text("DROP TABLE decision_card"))
            conn.execute(text("DROP TABLE coverage_assertion"))
            conn.execute(text("DROP TABLE decision"))
    finally:
        db.dispose()
    body = example()
    body["hook"] = "order-select"
    response = service.post(SIGN, json=body, headers=ehr.auth())
    assert response.status_code == 400, response.text  # the caller still gets its answer
    assert "refused call not recorded" in caplog.text
    assert REGISTRY.get_sample_value("cds_records_not_written_total", labels) == before + 1
