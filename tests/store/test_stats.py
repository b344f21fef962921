"""Reactions to our cards per policy: shown, accepted, overridden, and why."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from cds_service.store.db import Database
from cds_service.store.decisions import save_decision
from cds_service.store.feedback import feedback_records, save_feedback
from cds_service.store.records import DecisionRecord
from cds_service.store.stats import card_stats, reason_labels
from tests.store.helpers import EHR, KNOWLEDGE, WHEN, record_for
from tests.store.test_feedback_store import RECEIVED, items, overridden

SYSTEM = "https://cds.payer.example/CodeSystem/override-reason"


def recorded(db: Database, name: str, **changes: Any) -> DecisionRecord:
    record = dataclasses.replace(record_for(name), **changes)
    with db.write() as conn:
        save_decision(conn, record)
    return record


def react(db: Database, *entries: dict[str, Any]) -> None:
    with db.write() as conn:
        save_feedback(conn, feedback_records("crd-order-sign", EHR, items(*entries)), RECEIVED)


def accepted(card: str, suggestion: str, at: str = "2026-11-26T08:00:00Z") -> dict[str, Any]:
    return {"card": card, "outcome": "accepted", "outcomeTimestamp": at,
            "acceptedSuggestions": [{"id": suggestion}]}


def test_counts_per_policy_and_line_of_business(db: Database) -> None:
    commercial = [recorded(db, "order-sign-47371-commercial-hepatocellular-carcinoma")
                  for _ in range(3)]
    medicare = recorded(db, "order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
    recorded(db, "order-sign-unrelated-orders")  # no card: not counted
    c1, c2, c3 = (r.cards[0] for r in commercial)
    m1 = medicare.cards[0]
    react(db,
          accepted(c1.uuid, c1.suggestion_uuids[0]),
          overridden(c2.uuid, "not-applicable"),
          overridden(c2.uuid, "not-applicable"),  # duplicate: one card, counted once
          overridden(m1.uuid, None, comment="Patient in a clinical trial"),
          overridden("someone-elses-card", "x"))
    labels = reason_labels(SYSTEM, {"not-applicable": "Not applicable"})
    with db.read() as conn:
        stats = card_stats(conn, reason_labels=labels)
    [policy] = stats["policies"]
    assert policy["policy"] == {"id": c1.policy_id, "version": c1.policy_version}
    assert policy["cards"] == {"shown": 4, "accepted": 1, "overridden": 2, "noFeedback": 1}
    assert policy["byLineOfBusiness"] == [
        {"lineOfBusiness": "commercial", "shown": 3, "accepted": 1, "overridden": 1,
         "noFeedback": 1},
        {"lineOfBusiness": "medicare-advantage", "shown": 1, "accepted": 0, "overridden": 1,
         "noFeedback": 0}]
    assert policy["overrideReasons"] == [
        {"system": SYSTEM, "code": "not-applicable", "display": "Not applicable", "cards": 1}]
    assert policy["overriddenWithoutReason"] == 1
    assert policy["cardsWithComments"] == 1
    assert stats["feedbackForUnknownCards"] == 1
    assert c3.uuid  # shown, no feedback


def test_a_card_with_several_outcomes_counts_once_by_its_latest(db: Database) -> None:
    a, b, c, d = (recorded(db, "order-sign-47371-commercial-hepatocellular-carcinoma").cards[0]
                  for _ in range(4))
    react(db,
          # accepted, then overridden twice (the example): overridden, last reason
          accepted(a.uuid, a.suggestion_uuids[0], at="2026-11-26T08:00:00Z"),
          overridden(a.uuid, "not-applicable", at="2026-11-26T08:05:00Z"),
          overridden(a.uuid, "other", at="2026-11-26T08:10:00Z"),
          # overridden, then accepted (sent in that order, timestamps the other way round)
          accepted(b.uuid, b.suggestion_uuids[0], at="2026-11-26T09:00:00Z"),
          overridden(b.uuid, "not-applicable", at="2026-11-26T08:30:00Z"),
          overridden(c.uuid, None, comment="discussed with the patient"))
    with db.read() as conn:
        [policy] = card_stats(conn)["policies"]
    cards = policy["cards"]
    assert cards == {"shown": 4, "accepted": 1, "overridden": 2, "noFeedback": 1}
    assert cards["accepted"] + cards["overridden"] + cards["noFeedback"] == cards["shown"]
    assert [(r["code"], r["cards"]) for r in policy["overrideReasons"]] == [("other", 1)]
    assert policy["overriddenWithoutReason"] == 1
    assert sum(r["cards"] for r in policy["overrideReasons"]) \
        + policy["overriddenWithoutReason"] == cards["overridden"]
    [line] = policy["byLineOfBusiness"]
    assert line["accepted"] + line["overridden"] + line["noFeedback"] == line["shown"] == 4
    assert d.uuid  # shown, no feedback


def test_since_counts_the_cards_returned_from_then_on(db: Database) -> None:
    old = recorded(db, "order-sign-47371-commercial-hepatocellular-carcinoma",
                   recorded_at=WHEN - timedelta(days=40))
    new = recorded(db, "order-sign-47371-commercial-hepatocellular-carcinoma")
    react(db, overridden(old.cards[0].uuid), overridden(new.cards[0].uuid, "other"))
    with db.read() as conn:
        stats = card_stats(conn, since=WHEN - timedelta(days=30))
    [policy] = stats["policies"]
    assert policy["cards"] == {"shown": 1, "accepted": 0, "overridden": 1, "noFeedback": 0}
    assert [r["code"] for r in policy["overrideReasons"]] == ["other"]
    assert stats["since"] == "2026-10-26T14:30:00Z"


def test_no_records_no_policies(db: Database) -> None:
    with db.read() as conn:
        stats = card_stats(conn)
    assert stats["policies"] == [] and stats["feedbackForUnknownCards"] == 0


def test_reason_labels_come_from_the_policies() -> None:
    labels = reason_labels(SYSTEM, KNOWLEDGE.override_reasons())
    assert labels and all(system == SYSTEM for system, _ in labels)
