"""Decision records in the database: written whole in one transaction, read back by the
coverage-assertion-id a claim quotes."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cds_service.store.db import Database
from cds_service.store.decisions import decisions_with_assertion, load_decision, save_decision
from cds_service.store.tables import decision, decision_card, decision_order
from tests.store.helpers import EHR, WHEN, record_for


def test_a_decision_reads_back_by_its_coverage_assertion_id(db: Database) -> None:
    record = record_for("order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
    with db.write() as conn:
        decision_id = save_decision(conn, record)
    [assertion] = record.assertions
    with db.read() as conn:
        assert decisions_with_assertion(conn, assertion.assertion_id) == [decision_id]
        loaded = load_decision(conn, decision_id)
    assert loaded is not None
    assert loaded["recordedAt"] == "2026-11-25T14:30:00Z"
    assert loaded["hookInstance"] == record.hook_instance
    assert loaded["service"] == "crd-order-sign" and loaded["hook"] == "order-sign"
    assert loaded["client"] == {"iss": EHR.iss, "tenant": EHR.tenant, "jti": EHR.jti}
    [order] = loaded["orders"]
    assert order["id"] == "sr-47383"
    assert order["policy"] == {"id": "cryosurgical-ablation-liver-tumors",
                               "version": record.orders[0].policy_version}
    assert order["lineOfBusiness"] == "medicare-advantage"
    assert order["lineOfBusinessBasis"] == record.orders[0].line_basis
    assert order["indications"] == ["hepatocellular-carcinoma"]
    assert order["covered"] == "not-covered"
    assert {"system": "http://www.ama-assn.org/go/cpt", "code": "47383"} in order["codes"]
    [card] = loaded["cards"]
    assert card["uuid"] == record.cards[0].uuid
    assert card["suggestions"] == list(record.cards[0].suggestion_uuids)
    assert card["summary"] == record.cards[0].summary
    assert loaded["coverageAssertions"] == [{
        "coverageAssertionId": assertion.assertion_id, "position": 0, "orderPosition": 0,
        "coverage": "Coverage/cov-medicare-advantage", "covered": "not-covered",
        "policy": order["policy"]}]
    assert loaded["feedback"] == []
    assert loaded["options"]["crdVersion"] == "2.2"
    assert loaded["crdVersion"] == "2.2"  # the release the answer was shaped for, as a column


def test_an_unknown_assertion_id_finds_nothing(db: Database) -> None:
    with db.read() as conn:
        assert decisions_with_assertion(conn, "no-such-id") == []
        assert load_decision(conn, 12345) is None


def test_unmatched_orders_and_several_cards_round_trip(db: Database) -> None:
    for name in ("order-sign-mixed-orders", "order-sign-two-cryoablation-orders"):
        record = record_for(name)
        with db.write() as conn:
            decision_id = save_decision(conn, record)
        with db.read() as conn:
            loaded = load_decision(conn, decision_id)
        assert loaded is not None
        assert len(loaded["orders"]) == len(record.orders)
        assert [c["uuid"] for c in loaded["cards"]] == [c.uuid for c in record.cards]
        for order, kept in zip(record.orders, loaded["orders"], strict=True):
            assert kept["position"] == order.position
            assert (kept["policy"] is None) == (order.policy_id is None)


def test_the_newest_decision_comes_first_when_an_id_repeats(db: Database) -> None:
    record = record_for("order-sign-47371-commercial-hepatocellular-carcinoma")
    with db.write() as conn:
        first = save_decision(conn, record)
        second = save_decision(conn, dataclasses.replace(
            record, recorded_at=WHEN + timedelta(minutes=1)))
    with db.read() as conn:
        assert decisions_with_assertion(conn, record.assertions[0].assertion_id) == [
            second, first]


def test_a_failed_write_leaves_nothing_behind(db: Database) -> None:
    record = record_for("order-sign-47371-commercial-hepatocellular-carcinoma")
    broken = dataclasses.replace(record, cards=(
        record.cards[0]._replace(summary=None),))  # type: ignore[arg-type]
    with pytest.raises(IntegrityError), db.write() as conn:
        save_decision(conn, broken)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(decision)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(decision_order)).scalar_one() == 0


def test_concurrent_hook_calls_all_get_their_record(db: Database) -> None:
    # Writers queue (SQLite: BEGIN IMMEDIATE + busy timeout; PostgreSQL: row-level) instead of
    # failing with "database is locked".
    records = [record_for("order-sign-two-cryoablation-orders") for _ in range(40)]

    def write(index: int) -> int:
        with db.write() as conn:
            return save_decision(conn, records[index])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(write, range(len(records))))
    assert len(set(ids)) == len(records)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(decision_card)).scalar_one() == 80
