"""Each EHR sees only its own: the payer-wide ``/records/stats`` is for the payer's operators
(their own bearer token), never for a trusted EHR's JWT; feedback counts only for cards answered
to the same client (``iss``, and ``tenant``), and feedback on another client's card gets exactly
the answer an unknown card gets. Real signed JWTs, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.store.db import Database
from tests.auth.ehr import BASE, EHR, SIGN_URL, example, serve, settings_for, write_trust
from tests.store.helpers import assertion_ids
from tests.support import recorded_decision

STATS = "/records/stats"
STATS_URL = f"{BASE}{STATS}"
FEEDBACK = "/cds-services/crd-order-sign/feedback"
FEEDBACK_URL = f"{BASE}{FEEDBACK}"
OPERATOR_TOKEN = "operator-" + "7f3c9a1e5b2d4c6f8a0e1d3b5c7f9a2e"
ANSWERED = EHR()
OTHER = EHR(iss="https://other-ehr.example.net", slot=1)


@pytest.fixture
def service(tmp_path: Path, migrated_url: str) -> Iterator[TestClient]:
    trust = write_trust(tmp_path / "trusted-clients.json", ANSWERED.entry(), OTHER.entry())
    settings = settings_for(
        tmp_path, trust, record_decisions=True, database_url=migrated_url,
        operator_token_sha256=["sha256:" + hashlib.sha256(OPERATOR_TOKEN.encode()).hexdigest()])
    with serve(settings) as client:
        yield client


def answer_card(service: TestClient, tenant: str | None = None) -> dict[str, Any]:
    response = service.post("/cds-services/crd-order-sign", json=example(),
                            headers=ANSWERED.auth(SIGN_URL, tenant=tenant))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def overridden(card: str) -> dict[str, Any]:
    return {"feedback": [{"card": card, "outcome": "overridden",
                          "outcomeTimestamp": "2026-11-26T10:05:31Z"}]}


def feedback_on_record(url: str, answer: dict[str, Any]) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        record = recorded_decision(db, assertion_ids(answer)[0])
    finally:
        db.dispose()
    found: list[dict[str, Any]] = record["feedback"]
    return found


def test_a_trusted_ehrs_token_does_not_open_the_stats(service: TestClient) -> None:
    answer_card(service)
    response = service.get(STATS, headers=ANSWERED.auth(STATS_URL))
    assert response.status_code == 401, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "policies" not in response.text


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-operator-token-at-all-0000000",
                                          f"Basic {OPERATOR_TOKEN}"])
def test_stats_refuse_anything_but_the_operator_token(service: TestClient,
                                                      authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    assert service.get(STATS, headers=headers).status_code == 401


def test_the_operators_token_opens_the_stats(service: TestClient) -> None:
    answer_card(service)
    response = service.get(STATS, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.json()["policies"][0]["cards"]["shown"] == 1


def test_feedback_on_another_clients_card_is_answered_as_for_an_unknown_card(
        service: TestClient, migrated_url: str) -> None:
    answer = answer_card(service)
    card = answer["cards"][0]["uuid"]
    theirs = service.post(FEEDBACK, json=overridden(card), headers=OTHER.auth(FEEDBACK_URL))
    made_up = service.post(FEEDBACK, json=overridden("4e0a3a1e-3283-4575-ab82-028d55fe2719"),
                           headers=OTHER.auth(FEEDBACK_URL))
    assert theirs.status_code == made_up.status_code == 200
    assert theirs.json() == made_up.json() == {
        "received": 1, "stored": 1, "duplicates": 0, "unknownCards": 1}
    # Not counted against the card, nor shown on its record.
    stats = service.get(STATS, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).json()
    assert stats["policies"][0]["cards"]["overridden"] == 0
    assert feedback_on_record(migrated_url, answer) == []
    # The client it was answered to is heard.
    ours = service.post(FEEDBACK, json=overridden(card), headers=ANSWERED.auth(FEEDBACK_URL))
    assert ours.json()["unknownCards"] == 0
    assert [f["client"]["iss"] for f in feedback_on_record(migrated_url, answer)] == [
        ANSWERED.iss]


def test_feedback_counts_only_from_the_tenant_the_card_was_answered_to(
        service: TestClient, migrated_url: str) -> None:
    answer = answer_card(service, tenant="tenant-a")
    card = answer["cards"][0]["uuid"]
    for tenant in ("tenant-b", None):
        other = service.post(FEEDBACK, json=overridden(card),
                             headers=ANSWERED.auth(FEEDBACK_URL, tenant=tenant))
        assert other.json()["unknownCards"] == 1
    same = service.post(FEEDBACK, json=overridden(card),
                        headers=ANSWERED.auth(FEEDBACK_URL, tenant="tenant-a"))
    assert same.json()["unknownCards"] == 0
    assert [f["client"].get("tenant") for f in feedback_on_record(migrated_url, answer)] == [
        "tenant-a"]
