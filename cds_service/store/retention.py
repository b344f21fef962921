"""Retention: records older than ``CDS_RETENTION_DAYS`` are deleted (``cds-service records
purge``, run daily from cron or a scheduled job).

Deletes go in batches, each its own short transaction, so a purge of years of records never
holds the SQLite write lock (or long PostgreSQL row locks) long enough to delay a hook call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, delete, select

from cds_service.store.clock import iso
from cds_service.store.db import Database
from cds_service.store.tables import (
    coverage_assertion,
    decision,
    decision_card,
    decision_order,
    feedback,
    jti_seen,
)

BATCH = 1000


@dataclass(frozen=True)
class Purged:
    before: datetime
    decisions: int
    feedback: int
    jti: int

    def to_json(self) -> dict[str, object]:
        return {"before": iso(self.before), "decisions": self.decisions,
                "feedback": self.feedback, "expiredJti": self.jti}


def cutoff(now: datetime, retention_days: int) -> datetime:
    return now - timedelta(days=retention_days)


def purge(db: Database, *, before: datetime, now_epoch: int, batch: int = BATCH) -> Purged:
    decisions = _purge_decisions(db, before, batch)
    items = _purge_by_id(db, feedback, feedback.c.received_at < before, batch)
    with db.write() as conn:
        jti = conn.execute(delete(jti_seen).where(jti_seen.c.expires_at < now_epoch)).rowcount
    return Purged(before, decisions, items, jti)


def _purge_decisions(db: Database, before: datetime, batch: int) -> int:
    total = 0
    while True:
        with db.write() as conn:
            ids = list(conn.execute(select(decision.c.id).where(decision.c.recorded_at < before)
                                    .order_by(decision.c.id).limit(batch)).scalars())
            if not ids:
                return total
            # Children first: explicit, so a SQLite connection opened without foreign_keys=ON
            # (e.g. the sqlite3 shell) still leaves no orphans behind.
            for child in (decision_order, decision_card, coverage_assertion):
                conn.execute(delete(child).where(child.c.decision_id.in_(ids)))
            conn.execute(delete(decision).where(decision.c.id.in_(ids)))
        total += len(ids)


def _purge_by_id(db: Database, table: Table, condition: ColumnElement[bool], batch: int) -> int:
    total = 0
    while True:
        with db.write() as conn:
            ids = list(conn.execute(select(table.c.id).where(condition)
                                    .order_by(table.c.id).limit(batch)).scalars())
            if not ids:
                return total
            conn.execute(delete(table).where(table.c.id.in_(ids)))
        total += len(ids)
