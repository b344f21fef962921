"""Retention: records older than CDS_RETENTION_DAYS go, younger ones stay whole."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import Table, func, select

from cds_service.store.db import Database
from cds_service.store.decisions import decisions_with_assertion, save_decision
from cds_service.store.feedback import feedback_records, save_feedback
from cds_service.store.replay import DatabaseReplayStore
from cds_service.store.retention import cutoff, purge
from cds_service.store.tables import (
    coverage_assertion,
    decision,
    decision_card,
    decision_order,
    feedback,
)
from tests.store.helpers import EHR, WHEN, record_for
from tests.store.test_feedback_store import items, overridden


def count(db: Database, table: Table) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_purge_removes_old_records_in_batches_and_keeps_the_rest(db: Database) -> None:
    now = WHEN
    old = [dataclasses.replace(record_for("order-sign-two-cryoablation-orders"),
                               recorded_at=now - timedelta(days=400)) for _ in range(5)]
    young = dataclasses.replace(record_for("order-sign-47371-commercial-hepatocellular-carcinoma"),
                                recorded_at=now - timedelta(days=10))
    with db.write() as conn:
        for record in (*old, young):
            save_decision(conn, record)
        save_feedback(conn, feedback_records("crd-order-sign", EHR, items(overridden("a"))),
                      now - timedelta(days=400))
        save_feedback(conn, feedback_records("crd-order-sign", EHR, items(overridden("b"))),
                      now - timedelta(days=1))
    replay = DatabaseReplayStore(db, clock=lambda: 1_000)
    replay.first_use_sync("iss", "expired", 500)
    replay.first_use_sync("iss", "valid", 5_000)

    result = purge(db, before=cutoff(now, 365), now_epoch=1_000, batch=2)

    assert (result.decisions, result.feedback, result.jti) == (5, 1, 1)
    assert result.to_json()["before"] == "2025-11-25T14:30:00Z"
    assert count(db, decision) == 1
    assert count(db, decision_order) == len([o for o in young.orders if o.policy_id])
    assert count(db, decision_card) == len(young.cards)
    assert count(db, coverage_assertion) == len(young.assertions)
    assert count(db, feedback) == 1
    with db.read() as conn:
        assert decisions_with_assertion(conn, young.assertions[0].assertion_id)
        assert not decisions_with_assertion(conn, old[0].assertions[0].assertion_id)


def test_purge_of_nothing_is_harmless(db: Database) -> None:
    result = purge(db, before=WHEN, now_epoch=0)
    assert (result.decisions, result.feedback, result.jti) == (0, 0, 0)
