"""Would a slimmer records schema make a call's record cheaper? SQLite's own work, measured.

    .venv/bin/python bench/record_schema.py [--calls N] [--rounds R]

A one-order hook call writes its jti, its decision row, and an order, a card and a
coverage-assertion row, each with its index (``cds_service/store/tables.py``): about a dozen
B-tree pages touched per commit. The alternative weighed in issue 22 keeps one row per call,
with the orders, cards and assertions as JSON in it, plus the one index a lookup needs (the
card uuids that feedback names and the assertion ids that claims quote, in one table without
rowids), and the jti table without rowids.

Both are written here with the driver alone (no SQLAlchemy, no service code), with the values
a one-order call stores, in WAL mode with ``synchronous=FULL`` as the service runs, into
databases that already hold 20,000 calls, checkpointing as often as the service's checkpoint
thread does under load. A third column writes today's schema through the service's own path
(``Database.write``, the jti claim and ``save_decision`` on the writer's kept connection), the
same record: what it costs beyond the first column is the service's Python, not SQLite.
Transactions hold 1, 3 or 8 calls: 1 is a serial caller, about 3 what the records writer
groups at 8 connections on this 2-core machine, 8 a busier worker. Rounds alternate the
writers so drift hits all alike. The figure is the process's CPU (user + system: the commit's
flush is system time) per call.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import orjson
import uuid_utils
from sqlalchemy import create_engine

from cds_service.store import tables
from cds_service.store.db import Database
from cds_service.store.decisions import save_decision
from cds_service.store.records import AssertionRecord, CardRecord, DecisionRecord, OrderRecord
from cds_service.store.replay import DatabaseReplayStore

CPT = "http://www.ama-assn.org/go/cpt"
POLICY, VERSION, LINE = "cryosurgical-ablation-liver-tumors", "2024-04-01", "medicare-advantage"
SUMMARY = "Not covered for this Medicare Advantage member: cryosurgical ablation of liver tumors"
OPTIONS = '{"crdVersion":"2.2","coverageInfo":true,"maxCards":null,"disabledCardTypes":[]}'
PREFILL = 20_000

ONE_ROW_SCHEMA = """
CREATE TABLE decision (id INTEGER PRIMARY KEY, recorded_at DATETIME NOT NULL,
    hook_instance VARCHAR(512) NOT NULL, service_id VARCHAR(128) NOT NULL,
    hook VARCHAR(128) NOT NULL, client_iss VARCHAR(1024) NOT NULL, client_tenant VARCHAR(512),
    client_jti VARCHAR(512), fhir_server VARCHAR(2048), options JSON NOT NULL,
    fetched JSON NOT NULL, status INTEGER NOT NULL, problem JSON, crd_version VARCHAR(16),
    orders JSON, cards JSON, assertions JSON);
CREATE INDEX ix_decision_recorded_at ON decision (recorded_at);
CREATE INDEX ix_decision_hook_instance ON decision (hook_instance);
CREATE TABLE decision_key (key VARCHAR(128) PRIMARY KEY, decision_id INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE jti_seen (digest VARCHAR(64) PRIMARY KEY, expires_at BIGINT NOT NULL)
    WITHOUT ROWID;
CREATE INDEX ix_jti_seen_expires_at ON jti_seen (expires_at);
"""

Write = Callable[[sqlite3.Connection, int], None]


def _head() -> tuple[object, ...]:
    return (time.strftime("%Y-%m-%d %H:%M:%S.000000"), str(uuid.uuid4()), "crd-order-sign",
            "order-sign", "https://ehr.example/iss", None, str(uuid.uuid4()),
            "https://ehr.example/fhir", OPTIONS, "[]")


def _jti(db: sqlite3.Connection, now: int) -> None:
    db.execute("INSERT INTO jti_seen (digest, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
               (hashlib.sha256(uuid.uuid4().bytes).hexdigest(), now + 300))


def write_today(db: sqlite3.Connection, now: int) -> None:
    """The rows ``store/decisions.save_decision`` writes for a one-order call."""
    _jti(db, now)
    decision_id = db.execute(
        "INSERT INTO decision (recorded_at, hook_instance, service_id, hook, client_iss, "
        "client_tenant, client_jti, fhir_server, options, fetched, unmatched_orders, status, "
        "problem, crd_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 200, NULL, '2.2') "
        "RETURNING id", _head()).fetchone()[0]
    db.execute(
        "INSERT INTO decision_order (decision_id, position, resource_type, resource_id, codes, "
        "policy_id, policy_version, matched_system, matched_code, coverage_found, "
        "coverage_reference, line_of_business, line_basis, indications, covered, "
        "ignored_elements) VALUES (?, 0, 'ServiceRequest', 'order-1', ?, ?, ?, ?, '47383', 1, "
        "'Coverage/coverage-1', ?, 'prefetch coverage: 1 active Coverage; Coverage.type', "
        "'[\"hepatocellular-carcinoma\"]', 'not-covered', NULL)",
        (decision_id, f'[["{CPT}","47383"]]', POLICY, VERSION, CPT, LINE))
    db.execute(
        "INSERT INTO decision_card (decision_id, position, card_uuid, order_position, policy_id, "
        "policy_version, line_of_business, topic, indicator, summary, suggestion_uuids) "
        "VALUES (?, 0, ?, 0, ?, ?, ?, 'coverage', 'warning', ?, ?)",
        (decision_id, str(uuid_utils.uuid7()), POLICY, VERSION, LINE, SUMMARY,
         f'["{uuid_utils.uuid7()}"]'))
    db.execute(
        "INSERT INTO coverage_assertion (decision_id, position, assertion_id, order_position, "
        "coverage_reference, covered, policy_id, policy_version) "
        "VALUES (?, 0, ?, 0, 'Coverage/coverage-1', 'not-covered', ?, ?)",
        (decision_id, str(uuid_utils.uuid7()), POLICY, VERSION))


def write_one_row(db: sqlite3.Connection, now: int) -> None:
    """The same facts as one decision row, and the two ids a lookup needs."""
    _jti(db, now)
    card, assertion = str(uuid_utils.uuid7()), str(uuid_utils.uuid7())
    orders = orjson.dumps([{
        "position": 0, "resourceType": "ServiceRequest", "id": "order-1",
        "codes": [[CPT, "47383"]], "policy": [POLICY, VERSION], "matchedCode": [CPT, "47383"],
        "coverageFound": True, "coverage": "Coverage/coverage-1", "lineOfBusiness": LINE,
        "lineOfBusinessBasis": "prefetch coverage: 1 active Coverage; Coverage.type",
        "indications": ["hepatocellular-carcinoma"], "covered": "not-covered"}]).decode()
    cards = orjson.dumps([{
        "uuid": card, "orderPosition": 0, "policy": [POLICY, VERSION], "lineOfBusiness": LINE,
        "topic": "coverage", "indicator": "warning", "summary": SUMMARY,
        "suggestions": [str(uuid_utils.uuid7())]}]).decode()
    assertions = orjson.dumps([{
        "coverageAssertionId": assertion, "orderPosition": 0, "coverage": "Coverage/coverage-1",
        "covered": "not-covered", "policy": [POLICY, VERSION]}]).decode()
    decision_id = db.execute(
        "INSERT INTO decision (recorded_at, hook_instance, service_id, hook, client_iss, "
        "client_tenant, client_jti, fhir_server, options, fetched, status, problem, "
        "crd_version, orders, cards, assertions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 200, "
        "NULL, '2.2', ?, ?, ?) RETURNING id", (*_head(), orders, cards, assertions)).fetchone()[0]
    db.executemany("INSERT INTO decision_key (key, decision_id) VALUES (?, ?)",
                   [(card, decision_id), (assertion, decision_id)])


class ServicePath:
    """Today's schema written the way the records writer writes it (``store/writer.py``)."""

    def __init__(self, directory: Path) -> None:
        self.db = Database(f"sqlite:///{directory / 'service.db'}")
        self.db.check(auto_upgrade=True)
        self.replay = DatabaseReplayStore(self.db)
        self.conn = self.db.engine.connect()

    def write(self, calls: int, batch: int) -> None:
        for n in range(calls // batch):
            with self.db.write(self.conn) as conn:
                for _ in range(batch):
                    claim = self.replay.claim_in("https://ehr.example/iss", str(uuid.uuid4()),
                                                 int(time.time()) + 300)
                    if claim(conn):
                        save_decision(conn, _record())
            if n % 50 == 49:  # as driver_only does (the service's own thread, checkpoint.py)
                self.checkpoint("PASSIVE")

    def checkpoint(self, mode: str = "TRUNCATE") -> None:
        driver = self.conn.connection.dbapi_connection
        assert driver is not None
        driver.execute(f"PRAGMA wal_checkpoint({mode})")


def _record() -> DecisionRecord:
    return DecisionRecord(
        recorded_at=datetime.now(UTC), hook_instance=str(uuid.uuid4()),
        service_id="crd-order-sign", hook="order-sign", client_iss="https://ehr.example/iss",
        client_tenant=None, client_jti=str(uuid.uuid4()), fhir_server="https://ehr.example/fhir",
        options={"crdVersion": "2.2", "coverageInfo": True, "maxCards": None,
                 "disabledCardTypes": []},
        fetched=(),
        orders=(OrderRecord(0, "ServiceRequest", "order-1", ((CPT, "47383"),), POLICY, VERSION,
                            (CPT, "47383"), True, "Coverage/coverage-1", LINE,
                            "prefetch coverage: 1 active Coverage; Coverage.type",
                            ("hepatocellular-carcinoma",), "not-covered"),),
        cards=(CardRecord(0, str(uuid_utils.uuid7()), 0, POLICY, VERSION, LINE, "coverage",
                          "warning", SUMMARY, (str(uuid_utils.uuid7()),)),),
        assertions=(AssertionRecord(0, str(uuid_utils.uuid7()), 0, "Coverage/coverage-1",
                                    "not-covered", POLICY, VERSION),),
        crd_version="2.2")


def open_database(directory: Path, schema: str) -> sqlite3.Connection:
    path = directory / f"{schema}.db"
    if schema == "today":
        engine = create_engine(f"sqlite:///{path}")
        tables.metadata.create_all(engine)
        engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    if schema == "one row":
        db.executescript(ONE_ROW_SCHEMA)
    return db


def driver_only(db: sqlite3.Connection, write: Write, calls: int, batch: int) -> None:
    now = int(time.time())
    for n in range(calls // batch):
        db.execute("BEGIN IMMEDIATE")
        for _ in range(batch):
            write(db, now)
        db.execute("COMMIT")
        if n % 50 == 49:  # the checkpoint thread's pace at a few hundred calls a second
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")


def cpu_per_call(run: Callable[[], None], calls: int) -> float:
    """Microseconds of process CPU per call."""
    before = os.times()
    run()
    after = os.times()
    return ((after.user - before.user) + (after.system - before.system)) * 1e6 / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2400, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    calls = args.calls // 24 * 24  # whole transactions at every batch size
    writes: dict[str, Write] = {"today": write_today, "one row": write_one_row}
    with tempfile.TemporaryDirectory(prefix="cds-schema-") as work:
        dbs = {name: open_database(Path(work), name) for name in writes}
        for name, db in dbs.items():
            db.execute("BEGIN")
            for _ in range(PREFILL):
                writes[name](db, int(time.time()))
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        service = ServicePath(Path(work))
        service.write(PREFILL, 100)
        service.checkpoint()
        figures: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.rounds):
            for batch in (1, 3, 8):
                for name, db in dbs.items():
                    figures.setdefault((name, batch), []).append(cpu_per_call(
                        partial(driver_only, db, writes[name], calls, batch), calls))
                figures.setdefault(("service", batch), []).append(cpu_per_call(
                    partial(service.write, calls, batch), calls))
                service.checkpoint()
        service.conn.close()
        service.db.dispose()
    print("| calls a commit | today's schema | one row a call | one row / today "
          "| today's, the service's path |\n|---:|---:|---:|---:|---:|")
    for batch in (1, 3, 8):
        today, one, path = (statistics.median(figures[name, batch])
                            for name in ("today", "one row", "service"))
        print(f"| {batch} | {today:.0f} us | {one:.0f} us | {one / today:.2f} | {path:.0f} us |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
