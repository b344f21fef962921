"""Every durable-write failure is an outage, whatever the table and the cause (issue 21: with the
decision-card table renamed, or INSERT on it revoked, every hook call answered 500 while
``/readyz`` said ready). Each table the service writes is broken in turn, on SQLite (renamed
away) and on PostgreSQL (INSERT revoked from the service's role): the call that writes it gets
503 with ``Retry-After``, ``/readyz`` says not ready (its heartbeat writes every table), and
once the table is repaired both recover without a restart."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cds_service.store.db import Database
from tests.api.test_outages import answered, assert_unavailable, call, ehr, readiness, start
from tests.auth.ehr import EHR, SIGN_URL
from tests.store.databases import postgres_url

__all__ = ["ehr", "postgres_url", "start"]  # the fixtures

TABLES = ["decision", "decision_order", "decision_card", "coverage_assertion", "jti_seen",
          "feedback"]


def feedback(service: TestClient, ehr: EHR) -> Any:
    item = {"card": str(uuid.uuid4()), "outcome": "overridden",
            "outcomeTimestamp": "2026-11-26T10:05:31Z"}
    url = "/cds-services/crd-order-sign/feedback"
    return answered(lambda: service.post(url, json={"feedback": [item]},
                                         headers=ehr.auth(f"{SIGN_URL}/feedback")))


def writes(table: str) -> Callable[[TestClient, EHR], Any]:
    return feedback if table == "feedback" else call


def broken_then_repaired(service: TestClient, ehr: EHR, table: str,
                         break_it: Callable[[], None], repair: Callable[[], None]) -> None:
    write = writes(table)
    assert write(service, ehr).status_code == 200
    break_it()
    try:
        assert_unavailable(write(service, ehr))
        response = readiness(service)
        assert response.status_code == 503, response.text
        assert response.json()["checks"]["database"] is False
    finally:
        repair()
    assert readiness(service).status_code == 200
    assert write(service, ehr).status_code == 200


@pytest.mark.parametrize("table", TABLES)
def test_a_sqlite_table_renamed_away_answers_503_and_not_ready(
        start: Callable[..., TestClient], tmp_path: Path, ehr: EHR, table: str) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    db = Database(url)
    db.upgrade()
    service = start(url)

    def rename(old: str, new: str) -> Callable[[], None]:
        def run() -> None:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f'ALTER TABLE "{old}" RENAME TO "{new}"')
        return run

    try:
        broken_then_repaired(service, ehr, table, rename(table, f"{table}_gone"),
                             rename(f"{table}_gone", table))
    finally:
        db.dispose()


@pytest.fixture
def service_role(postgres_url: str) -> Iterator[tuple[str, Callable[[str], None]]]:
    """The migrated database, the URL of a role of its own that may write every table (as a
    deployment's service role), and how to run SQL as the owner."""
    owner = Database(postgres_url)
    owner.upgrade()
    role, password = f"cds_app_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex

    def as_owner(sql: str) -> None:
        with owner.engine.begin() as conn:
            conn.exec_driver_sql(sql)

    as_owner(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")  # CI's server asks one
    as_owner(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
    as_owner(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    try:
        yield make_url(postgres_url).set(username=role, password=password).render_as_string(
            hide_password=False), as_owner
    finally:
        owner.dispose()
        # The role is cluster-wide: dropped here, after the service (set up after this fixture,
        # so stopped before it) has closed its sessions.
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
                conn.execute(text(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
        finally:
            admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("table", TABLES)
def test_a_postgres_table_whose_insert_is_revoked_answers_503_and_not_ready(
        service_role: tuple[str, Callable[[str], None]], start: Callable[..., TestClient],
        ehr: EHR, table: str) -> None:
    url, as_owner = service_role
    role = make_url(url).username
    service = start(url)
    broken_then_repaired(service, ehr, table,
                         lambda: as_owner(f'REVOKE INSERT ON "{table}" FROM "{role}"'),
                         lambda: as_owner(f'GRANT INSERT ON "{table}" TO "{role}"'))
