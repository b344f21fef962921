"""With decision records on, a hook call's jti is claimed by the call's own write (one database
round trip per call): a replayed token must still be refused, write nothing, and make the service
query nothing on its behalf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cds_service.store.tables import decision, jti_seen
from tests.auth.ehr import (
    EHR,
    FHIR,
    ROOT,
    SIGN_URL,
    example,
    serve,
    settings_for,
    with_fhir_access,
    write_trust,
)

SIGN = "/cds-services/crd-order-sign"
COVERAGE = json.loads((ROOT / "fhir_examples" / "resources"
                       / "Coverage-cov-commercial.json").read_text())


def rows(service: TestClient, table: Any) -> int:
    records = service.app.state.runtime.records  # type: ignore[attr-defined]
    with records.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def ehr() -> EHR:
    return EHR()


@pytest.fixture
def service(tmp_path: Path, ehr: EHR) -> Any:
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    with serve(settings_for(tmp_path, trust, record_decisions=True)) as service:
        yield service


def test_a_replayed_hook_call_is_refused_and_writes_no_second_record(
        service: TestClient, ehr: EHR) -> None:
    headers = ehr.auth()
    assert service.post(SIGN, json=example(), headers=headers).status_code == 200
    replay = service.post(SIGN, json=example(), headers=headers)
    assert replay.status_code == 401
    assert 'error_description="replay"' in replay.headers["www-authenticate"]
    assert (rows(service, decision), rows(service, jti_seen)) == (1, 1)


def test_a_replayed_token_with_a_bad_body_is_refused_as_a_replay(
        service: TestClient, ehr: EHR) -> None:
    headers = ehr.auth()
    assert service.post(SIGN, json=example(), headers=headers).status_code == 200
    replay = service.post(SIGN, json={"hook": "order-sign"}, headers=headers)
    assert replay.status_code == 401
    assert 'error_description="replay"' in replay.headers["www-authenticate"]


def test_a_refused_call_uses_up_its_jti(service: TestClient, ehr: EHR) -> None:
    headers = ehr.auth()
    assert service.post(SIGN, json={"hook": "order-sign"}, headers=headers).status_code == 400
    assert service.post(SIGN, json=example(), headers=headers).status_code == 401
    assert (rows(service, decision), rows(service, jti_seen)) == (1, 1)  # the refusal's


def test_a_replayed_call_makes_no_query_to_the_ehr(tmp_path: Path, ehr: EHR) -> None:
    queries: list[str] = []

    def fhir(request: httpx2.Request) -> httpx2.Response:
        queries.append(str(request.url))
        return httpx2.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                          "entry": [{"resource": COVERAGE}]})

    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    body = with_fhir_access(example())
    del body["prefetch"]["coverage"]
    headers = ehr.auth(SIGN_URL)
    with serve(settings_for(tmp_path, trust, record_decisions=True), fhir) as service:
        assert service.post(SIGN, json=body, headers=headers).status_code == 200
        assert len(queries) == 1 and queries[0].startswith(FHIR)
        assert service.post(SIGN, json=body, headers=headers).status_code == 401
        assert len(queries) == 1
        assert (rows(service, decision), rows(service, jti_seen)) == (1, 1)
