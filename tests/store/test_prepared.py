"""The hook path's prepared statements (store/prepared.py) store exactly what SQLAlchemy's
``insert(table)`` stores, and fail the way ``Connection.execute`` fails (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import exc as sa
from sqlalchemy import insert, select, text

from cds_service.store.db import Database
from cds_service.store.prepared import (
    execute,
    execute_many,
    execute_returning,
    insert_statement,
    text_statement,
)
from cds_service.store.tables import decision, decision_card, jti_seen


def head(hook_instance: str) -> dict[str, Any]:
    return {
        "recorded_at": datetime(2026, 11, 30, 9, 15, 1, 250_000, tzinfo=UTC),
        "hook_instance": hook_instance, "service_id": "crd-order-sign", "hook": "order-sign",
        "client_iss": "https://ehr.example", "client_tenant": None, "client_jti": "j-1",
        "fhir_server": None, "options": {"crdVersion": "2.2", "nested": [1, "é", None]},
        "fetched": [], "unmatched_orders": None, "status": 200, "problem": None,
    }


def test_a_prepared_insert_stores_what_sqlalchemy_stores(db: Database) -> None:
    with db.write() as conn:
        by_core = conn.execute(insert(decision).returning(decision.c.id),
                               head("core")).scalar_one()
        row = head("prepared")
        by_prepared = execute_returning(
            conn, insert_statement(conn, decision, tuple(row), returning="id"), row)
        cards = [{"decision_id": by_prepared, "position": i, "card_uuid": f"c-{i}",
                  "order_position": 0, "policy_id": "p", "policy_version": "1",
                  "line_of_business": None, "topic": None, "indicator": "warning",
                  "summary": "s", "suggestion_uuids": [f"u-{i}"]} for i in range(2)]
        execute_many(conn, insert_statement(conn, decision_card, tuple(cards[0])), cards)
    with db.read() as conn:
        rows = {r["hook_instance"]: dict(r) for r in conn.execute(select(decision)).mappings()}
        stored = conn.execute(select(decision_card.c.suggestion_uuids)
                              .order_by(decision_card.c.position)).scalars().all()
    assert by_prepared != by_core
    core, prepared = rows["core"], rows["prepared"]
    for row in (core, prepared):
        del row["id"], row["hook_instance"]
    assert prepared == core
    assert prepared["recorded_at"] == datetime(2026, 11, 30, 9, 15, 1, 250_000, tzinfo=UTC)
    assert stored == [["u-0"], ["u-1"]]


def test_a_prepared_insert_stores_none_in_a_json_column_as_sqlalchemy_does(db: Database) -> None:
    """None is converted once per statement (prepared.py): the stored form must stay the one
    SQLAlchemy's own JSON processing gives (JSON ``null``, not SQL NULL), row after row."""
    with db.write() as conn:
        conn.execute(insert(decision), head("core"))
        rows = [head(f"prepared-{i}") for i in range(3)]
        execute_many(conn, insert_statement(conn, decision, tuple(rows[0])), rows)
    with db.read() as conn:
        stored = dict(conn.execute(text(
            "SELECT hook_instance, CAST(problem AS TEXT) FROM decision")).all())
    assert stored == {name: stored["core"] for name in
                      ("core", "prepared-0", "prepared-1", "prepared-2")}
    assert stored["core"] == "null"


def test_a_prepared_statement_counts_rows_and_fails_as_sqlalchemy_does(db: Database) -> None:
    claim = "INSERT INTO jti_seen (digest, expires_at) VALUES (:digest, :expires_at) " \
            "ON CONFLICT (digest) DO NOTHING"
    with db.write() as conn:
        first = execute(conn, text_statement(conn, claim), {"digest": "d", "expires_at": 1})
        again = execute(conn, text_statement(conn, claim), {"digest": "d", "expires_at": 2})
    assert (first, again) == (1, 0)
    with db.read() as conn:
        assert conn.execute(select(jti_seen.c.expires_at)).scalars().all() == [1]
    with pytest.raises(sa.IntegrityError), db.write() as conn:
        row = {"digest": "d", "expires_at": 3}
        execute(conn, insert_statement(conn, jti_seen, tuple(row)), row)
