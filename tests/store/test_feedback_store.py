"""Feedback items in the database: stored once however often they arrive, unknown cards kept
and flagged (CDS Hooks 2.0 §Feedback)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from cds_service.auth.client import Client
from cds_service.hooks.feedback import FeedbackRequest
from cds_service.store.db import Database
from cds_service.store.decisions import load_decision, save_decision
from cds_service.store.feedback import (
    feedback_json,
    feedback_records,
    iter_feedback,
    save_feedback,
)
from cds_service.store.tables import feedback
from tests.store.helpers import EHR, record_for

RECEIVED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def items(*entries: dict[str, Any]) -> FeedbackRequest:
    return FeedbackRequest.model_validate({"feedback": list(entries)})


def overridden(card: str, code: str | None = "not-applicable", *, display: str | None = None,
               comment: str | None = None, at: str = "2026-11-26T08:59:00Z") -> dict[str, Any]:
    item: dict[str, Any] = {"card": card, "outcome": "overridden", "outcomeTimestamp": at}
    reason: dict[str, Any] = {}
    if code:
        reason["reason"] = {"system": "https://cds.payer.example/CodeSystem/override-reason",
                            "code": code, **({"display": display} if display else {})}
    if comment:
        reason["userComment"] = comment
    if reason:
        item["overrideReason"] = reason
    return item


def stored_rows(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(feedback)).scalar_one())


def save(db: Database, request: FeedbackRequest, *, service: str = "crd-order-sign",
         client: Client = EHR, at: datetime = RECEIVED) -> dict[str, int]:
    with db.write() as conn:
        return save_feedback(conn, feedback_records(service, client, request), at).to_json()


def test_a_batch_with_a_duplicate_stores_each_item_once(db: Database) -> None:
    record = record_for("order-sign-two-cryoablation-orders")
    with db.write() as conn:
        save_decision(conn, record)
    first, second = (c.uuid for c in record.cards)
    batch = items(overridden(first), overridden(second, comment="Patient enrolled in a trial"),
                  overridden(first))
    assert save(db, batch) == {"received": 3, "stored": 2, "duplicates": 1, "unknownCards": 0}
    # The EHR retries the whole batch: nothing new.
    assert save(db, batch) == {"received": 3, "stored": 0, "duplicates": 3, "unknownCards": 0}
    assert stored_rows(db) == 2


def test_the_same_item_without_display_is_the_same_item(db: Database) -> None:
    # The sandbox sends overrideReason.reason with code and system only.
    save(db, items(overridden("card-1", display="Not applicable to this patient")))
    assert save(db, items(overridden("card-1")))["duplicates"] == 1


def test_a_different_outcome_or_time_is_a_new_item(db: Database) -> None:
    save(db, items(overridden("card-1")))
    later = overridden("card-1", at="2026-11-26T09:30:00Z")
    accepted = {"card": "card-1", "outcome": "accepted", "outcomeTimestamp": "2026-11-26T08:59:00Z",
                "acceptedSuggestions": [{"id": "s-1"}]}
    assert save(db, items(later, accepted))["stored"] == 2


def test_feedback_for_a_card_we_never_returned_is_kept_and_flagged(db: Database) -> None:
    assert save(db, items(overridden("not-one-of-ours")))["unknownCards"] == 1
    with db.read() as conn:
        [row] = list(iter_feedback(conn))
    assert row["card_known"] is False
    assert feedback_json(row)["cardKnown"] is False


def test_a_card_of_another_service_is_not_this_services_card(db: Database) -> None:
    record = record_for("order-sign-47371-commercial-hepatocellular-carcinoma")
    with db.write() as conn:
        save_decision(conn, record)
    result = save(db, items(overridden(record.cards[0].uuid)), service="crd-order-select")
    assert result["unknownCards"] == 1


def test_feedback_reads_back_in_the_wire_shape_with_its_policy(db: Database) -> None:
    record = record_for("order-sign-47371-commercial-hepatocellular-carcinoma")
    with db.write() as conn:
        decision_id = save_decision(conn, record)
    card = record.cards[0]
    save(db, items(
        {"card": card.uuid, "outcome": "accepted", "outcomeTimestamp": "2026-11-26T08:00:00+01:00",
         "acceptedSuggestions": [{"id": card.suggestion_uuids[0]}]},
        overridden(card.uuid, code="d7ecf885", comment="Discussed with the member")))
    with db.read() as conn:
        lines = [feedback_json(r) for r in iter_feedback(conn)]
        loaded = load_decision(conn, decision_id)
    accepted, override = lines
    assert accepted == {
        "receivedAt": "2026-11-26T09:00:00Z", "service": "crd-order-sign", "card": card.uuid,
        "cardKnown": True, "outcome": "accepted", "outcomeTimestamp": "2026-11-26T07:00:00Z",
        "acceptedSuggestions": [{"id": card.suggestion_uuids[0]}],
        "policy": {"id": card.policy_id, "version": card.policy_version},
        "client": {"iss": EHR.iss, "tenant": EHR.tenant}}
    assert override["overrideReason"] == {
        "reason": {"system": "https://cds.payer.example/CodeSystem/override-reason",
                   "code": "d7ecf885"},
        "userComment": "Discussed with the member"}
    assert loaded is not None and loaded["feedback"] == lines


def test_since_selects_by_when_we_received_it(db: Database) -> None:
    save(db, items(overridden("card-1")), at=RECEIVED - timedelta(days=2))
    save(db, items(overridden("card-2")), at=RECEIVED)
    with db.read() as conn:
        assert [r["card_uuid"] for r in iter_feedback(conn, RECEIVED - timedelta(days=1))] == [
            "card-2"]
        assert len(list(iter_feedback(conn))) == 2
