"""Outages are fast and visible: while the records database cannot take a write, hook calls get
503 with ``Retry-After`` and an OperationOutcome (never 500, never a hang), ``/readyz`` says
"not ready" (its check is a real write), and once the database is back both recover without a
restart. Calls carry real signed JWTs, so the jti claim's write is bounded too.

How each outage is made:
- read-only database, SQLite and PostgreSQL: every transaction of the service is made read-only
  (SQLite ``PRAGMA query_only``, as a read-only file answers; PostgreSQL ``SET TRANSACTION READ
  ONLY``, as a standby after failover answers);
- full disk, SQLite: each transaction first writes 1 MiB into a database capped at its current
  size (``PRAGMA max_page_count``), which SQLite refuses with SQLITE_FULL as on a full disk;
- locked database, SQLite and PostgreSQL: another session holds the write lock (``BEGIN
  IMMEDIATE``; ``LOCK TABLE``) and keeps it;
- frozen server, PostgreSQL: the service reaches it through a relay that stops moving bytes while
  keeping connections open (tests/ops/test_health.py ``Relay.freeze``), as a SIGSTOPped or hung
  server looks to its clients.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import make_url

from cds_service.runtime import Runtime
from cds_service.store.db import Database
from tests.auth.ehr import EHR, example, serve, settings_for, write_trust
from tests.ops.test_health import Relay, relay
from tests.store.databases import postgres_url

__all__ = ["postgres_url", "relay"]  # the fixtures, for the frozen-server case

SIGN = "/cds-services/crd-order-sign"
BOUNDS = {"database_commit_timeout_seconds": 1.0, "readiness_timeout_seconds": 0.5,
          "database_statement_timeout_seconds": 1.0, "database_connect_timeout_seconds": 2}
HANG_GUARD_SECONDS = 60  # far beyond every bound: reaching it means the call hung


def answered(fn: Callable[[], Any]) -> Any:
    """``fn()``'s result (or its exception); fails the test, instead of hanging it, if no
    answer comes."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert outcome, "no answer: the call hung"
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


class Outage:
    """Switches a failure on and off in every transaction the service's engine begins."""

    def __init__(self, runtime: Runtime, kind: str) -> None:
        assert runtime.records is not None
        self.on = False
        self.kind = kind
        engine = runtime.records.db.engine
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "begin", self._begin)

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # Connection-wide SQLite settings, set before the service's BEGIN IMMEDIATE (which
        # query_only already refuses, as a read-only file does).
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        if self.kind == "read-only":
            dbapi_connection.execute(f"PRAGMA query_only = {int(self.on)}")
            return
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages if self.on else 1073741823}")

    def _begin(self, conn: Connection) -> None:
        if not self.on:
            return
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, sqlite3.Connection):
            # The records writer keeps its connection between transactions (no checkout): it
            # gets the outage here, and drops the connection when its transaction fails.
            self._checkout(dbapi_connection, None, None)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        elif self.kind == "disk full":
            conn.exec_driver_sql("INSERT INTO jti_seen VALUES ('disk-full', zeroblob(1048576))")


def call(service: TestClient, ehr: EHR) -> Any:
    return answered(lambda: service.post(SIGN, json=example(), headers=ehr.auth()))


def readiness(service: TestClient) -> Any:
    return answered(lambda: service.get("/readyz"))


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["code"] for i in outcome["issue"]] == ["no-store"]


def assert_not_ready(service: TestClient) -> None:
    response = readiness(service)
    assert response.status_code == 503
    assert response.json() == {"status": "not ready",
                               "checks": {"policies": True, "database": False}}


@pytest.fixture
def ehr() -> EHR:
    return EHR()


@pytest.fixture
def start(tmp_path: Path, ehr: EHR) -> Iterator[Callable[..., TestClient]]:
    trust = write_trust(tmp_path / "trusted-clients.json", ehr.entry())
    with_stack: list[Any] = []

    def run(url: str, **bounds: Any) -> TestClient:
        settings = settings_for(tmp_path, trust, record_decisions=True, database_url=url,
                                **{**BOUNDS, **bounds})
        context = serve(settings)
        with_stack.append(context)
        return context.__enter__()

    yield run
    for context in reversed(with_stack):
        context.__exit__(None, None, None)


def outage_then_recovery(service: TestClient, ehr: EHR, kind: str) -> None:
    """Answered, then 503 and not ready during the outage, then ready and answered again with no
    restart."""
    outage = Outage(service.app.state.runtime, kind)  # type: ignore[attr-defined]
    assert call(service, ehr).status_code == 200

    outage.on = True
    assert_unavailable(call(service, ehr))
    assert_not_ready(service)

    outage.on = False
    assert readiness(service).status_code == 200
    assert call(service, ehr).status_code == 200


def test_a_read_only_database_answers_503_and_not_ready_until_it_is_writable_again(
        start: Callable[..., TestClient], migrated_url: str, ehr: EHR) -> None:
    service = start(migrated_url)
    outage_then_recovery(service, ehr, "read-only")


def test_a_full_disk_answers_503_and_not_ready_until_there_is_room_again(
        start: Callable[..., TestClient], tmp_path: Path, ehr: EHR) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    Database(url).upgrade()
    service = start(url)
    outage_then_recovery(service, ehr, "disk full")


@contextmanager
def locked(url: str) -> Iterator[None]:
    """Another session holds the lock every record write needs, and keeps it."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("LOCK TABLE jti_seen, decision IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        engine.dispose()


def test_a_database_locked_by_another_session_answers_503_after_the_statement_timeout(
        start: Callable[..., TestClient], migrated_url: str, ehr: EHR) -> None:
    # The commit bound is far away: the 503 comes from the statement bound (PostgreSQL's
    # statement_timeout, SQLite's busy wait), and nothing waits on the lock for ever.
    service = start(migrated_url, database_commit_timeout_seconds=30.0)
    assert call(service, ehr).status_code == 200
    with locked(migrated_url):
        assert_unavailable(call(service, ehr))
    assert call(service, ehr).status_code == 200


@pytest.mark.postgres
def test_a_frozen_postgres_server_answers_503_within_the_bound_and_recovers_without_restart(
        start: Callable[..., TestClient], postgres_url: str, relay: Relay, ehr: EHR) -> None:
    database = Database(postgres_url)
    try:
        database.upgrade()
    finally:
        database.dispose()
    through_relay = make_url(postgres_url).set(host="127.0.0.1", port=relay.port)
    service = start(through_relay.render_as_string(hide_password=False))
    assert call(service, ehr).status_code == 200
    assert readiness(service).status_code == 200

    relay.freeze()
    try:
        assert_unavailable(call(service, ehr))
        assert_not_ready(service)
        assert_unavailable(call(service, ehr))  # and the next one, while the writer is stuck
    finally:
        relay.thaw()

    # Back: the statement that was waiting completes, and calls go through again.
    for _ in range(200):
        if readiness(service).status_code == 200:
            break
    assert readiness(service).status_code == 200
    assert call(service, ehr).status_code == 200
